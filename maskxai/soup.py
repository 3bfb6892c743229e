"""A model and its fine-tuned continuation averaged in weight space, the mix chosen on validation (WiSE-FT).

A fine-tune that teaches a model new faces (photographed masks, tight framing) can also unlearn some of what it
knew. Averaging the weights before and after the fine-tune, ``(1 - alpha) * before + alpha * after``, keeps much
of both (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022): the two lie in one basin, since
one started from the other. ``python -m maskxai.soup`` scores each ``alpha`` of a grid on the **validation**
sets with the rule training uses to keep an epoch (``--select``) and writes the best; the weights' metadata
records the step (both inputs, each alpha's score) and the model card lists it. No test set is read.

    python -m maskxai.soup --model inception_resnet_v1 --before checkpoints/inception_resnet_v1.safetensors \\
        --after runs/device/ft/best.safetensors --alphas 0.3,0.5,0.7 --out runs/soup/inception_resnet_v1.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from tqdm import tqdm

from .device import device
from .registry import get_spec, list_models
from .train import TrainConfig, runs_of, selection_score, val_table, validate
from .weights import read_metadata, save_weights

VAL_KEYS = ("n", "accuracy", "macro_recall", "per_class", "confusion")  # kept of each val set for the chosen mix


def average_states(
    before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * before + alpha * after`` for every floating-point tensor (fp32); integer tensors (batch
    norm's step counters) are taken from the nearer side.

    Raises:
        ValueError: If ``alpha`` is outside [0, 1] or the two hold different tensors.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] (0 keeps --before, 1 keeps --after); got {alpha}")
    if before.keys() != after.keys():
        odd = sorted(set(before) ^ set(after))[:5]
        raise ValueError(f"the two weights hold different tensors (e.g. {odd}): average two files of one model")
    out = {}
    for k, a in before.items():
        b = after[k]
        if a.shape != b.shape:
            raise ValueError(f"tensor {k} has shape {tuple(a.shape)} in --before, {tuple(b.shape)} in --after")
        out[k] = torch.lerp(a.float(), b.float(), alpha) if a.is_floating_point() else (b if alpha >= 0.5 else a)
    return out


def lineage_problem(before_meta: dict[str, Any], after_meta: dict[str, Any]) -> str:
    """Why ``after`` is not a fine-tune of ``before`` (empty: it is): ``before``'s runs must begin ``after``'s,
    and ``after`` must have at least one more. Averaging weights trained apart gives noise, not a mix."""
    rb, ra = runs_of(before_meta), runs_of(after_meta)
    if not rb or len(ra) <= len(rb) or ra[: len(rb)] != rb:
        return (
            f"--after ({len(ra)} run(s) in its metadata) does not continue --before ({len(rb)} run(s)): pass "
            "weights fine-tuned from --before (train --init), and --before itself"
        )
    return ""


def choose(scores: dict[float, float]) -> float:
    """The alpha with the best score; on a tie the smallest (the least move away from --before)."""
    return max(scores, key=lambda a: (round(scores[a], 9), -a))


def command_of(step: dict[str, Any]) -> str:
    """The command line that reproduces an averaging step (its ``average`` record)."""
    alphas = ",".join(f"{a:g}" for a in step["alphas"])
    cmd = f"python -m maskxai.soup --model {step['model']} --before {step['before']} --after {step['after']}"
    # steps before the record kept --val-views: a rule naming `set@view` can only have been scored with that view
    named = sorted({t.split(":")[0].partition("@")[2] for t in step.get("select", "").split(",")} - {""})
    views = step.get("val_views") or ",".join(named)
    cmd += f" --alphas {alphas}" + (f" --val-views {views}" if views else "")
    cmd += f" --val-size {step['val_size']}" if step.get("val_size") else ""
    cmd += f' --select "{step["select"]}"' if step.get("select") else ""
    return cmd + "".join(f' --also "{rule}"' for rule in step.get("also", {}))


def soup_metadata(after_meta: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """The ``extra`` metadata of the average: the runs behind ``--after`` (which include ``--before``'s), then the
    step; the epoch record of ``--after`` is dropped (it describes other weights)."""
    extra = {k: v for k, v in after_meta.get("extra", {}).items() if k not in ("epoch", "val", "calibration")}
    extra["runs"] = [*runs_of(after_meta), {"average": step}]
    extra["average"] = step
    return extra


def main(argv: list[str] | None = None) -> None:
    from .trainset import VAL_SIZES, fixed_eval_set

    defaults = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list_models(), required=True)
    p.add_argument("--before", type=Path, required=True, help="the weights the fine-tune started from")
    p.add_argument("--after", type=Path, required=True, help="the fine-tuned weights (train --init BEFORE)")
    p.add_argument("--alphas", default="0.3,0.5,0.7", help="mixes tried, share of --after (default 0.3,0.5,0.7)")
    p.add_argument("--select", default="", help="val metrics to maximise, as in train --select (default: all)")
    p.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="RULE",
        help="also print each mix's score by this rule (as --select; repeatable): conditions checked beside --select",
    )
    p.add_argument("--out", type=Path, help="write the chosen average here (default: only report)")
    p.add_argument("--val-views", default="", help="also score every val set seen so, as in train --val-views")
    p.add_argument("--val-size", choices=list(VAL_SIZES), default="standard", help="as in train --val-size")
    p.add_argument("--data", default=defaults.data)
    p.add_argument("--landmarks", default=defaults.landmarks)
    p.add_argument("--json", action="store_true", help="end with the step's record as one JSON object")
    a = p.parse_args(argv)
    try:
        alphas = sorted({float(x) for x in a.alphas.split(",") if x.strip()})
    except ValueError:
        alphas = []
    if not alphas or not all(0.0 <= x <= 1.0 for x in alphas):
        p.error(f"--alphas {a.alphas!r}: give numbers in [0, 1] separated by commas, e.g. 0.3,0.5,0.7")
    for path in (a.before, a.after):
        if not path.is_file():
            p.error(f"no weights file {path}")
    spec = get_spec(a.model)
    metas = [read_metadata(a.before), read_metadata(a.after)]
    for path, meta in zip((a.before, a.after), metas):
        if meta.get("architecture") not in (None, spec.name):
            p.error(f"{path} holds weights for {meta['architecture']!r}, not {spec.name!r}")
    if problem := lineage_problem(*metas):
        p.error(problem)
    before, after = load_file(str(a.before)), load_file(str(a.after))
    try:
        average_states(before, after, alphas[0])
    except ValueError as exc:
        p.error(str(exc))
    try:
        val = fixed_eval_set(Path(a.data), Path(a.landmarks), "val", views=a.val_views, size=a.val_size)
    except ValueError as exc:
        p.error(str(exc))
    try:  # a --select (or --also) naming no val set fails now, not after the first mix's validation
        for rule in (a.select, *a.also):
            selection_score({n: {"accuracy": 0.0, "macro_recall": 0.0} for n in val}, rule)
    except ValueError as exc:
        p.error(str(exc))
    model = spec.build().eval().to(device())  # MASKXAI_DEVICE, else a GPU if there is one, else the CPU
    scores: dict[float, float] = {}
    also: dict[str, dict[str, float]] = {rule: {} for rule in a.also}  # rule -> alpha -> score
    results: dict[float, dict[str, Any]] = {}
    for alpha in tqdm(alphas, desc="alphas on validation"):
        model.load_state_dict(average_states(before, after, alpha))
        results[alpha] = validate(model, spec, val)
        scores[alpha] = selection_score(results[alpha], a.select)
        for rule in a.also:
            also[rule][f"{alpha:g}"] = selection_score(results[alpha], rule)
        beside = "".join(f"; --also {rule}: {also[rule][f'{alpha:g}']:.4f}" for rule in a.also)
        print(f"alpha {alpha:g}: selection score {scores[alpha]:.4f}{beside}")
    print(val_table([(f"alpha {x:g}", results[x], scores[x]) for x in alphas], a.select))
    best = choose(scores)
    step = {
        "model": a.model,
        "before": str(a.before),
        "after": str(a.after),
        "before_runs": len(runs_of(metas[0])),  # --before is the weights of this many runs; --after adds to them
        "alphas": alphas,
        "alpha": best,
        "select": a.select,
        **({"val_views": a.val_views} if a.val_views else {}),
        **({"val_size": a.val_size} if a.val_size != "standard" else {}),
        "scores": {f"{k:g}": round(v, 4) for k, v in scores.items()},
        **({"also": {r: {k: round(v, 4) for k, v in by.items()} for r, by in also.items()}} if a.also else {}),
        "val": {n: {k: r[k] for k in VAL_KEYS} for n, r in results[best].items()},
    }
    print(f"chosen alpha {best:g} (score {scores[best]:.4f} on validation)")
    if a.out:
        model.load_state_dict(average_states(before, after, best))
        save_weights(model, spec, a.out, extra=soup_metadata(metas[1], step))
        print(f"wrote {a.out}")
    if a.json:
        print(json.dumps(step))


if __name__ == "__main__":
    main()
