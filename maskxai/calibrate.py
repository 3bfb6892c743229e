"""Class offsets chosen on validation: decision thresholds folded into the bias of the model's last layer.

A model trained on one mixture of faces can lean towards one class on another: the shipped models call many
real masks pulled under the nose "worn correctly". Adding an offset to a class's logit moves the decision
boundary and nothing else: the model computes the same features, and since a constant added to a logit has
no gradient, the gradient maps of a class stay as they were. ``python -m maskxai.calibrate`` picks the
offsets (the first class's fixed at 0) that maximise the selection score on the **validation** sets (the
score training uses to keep an epoch: the mean macro recall, or the metrics ``--select`` names), over a
grid, and writes the weights with the offsets added to the bias of the model's head (``ModelSpec.head``).
The app, ``maskxai.evaluate`` and the API then use them with no code of their own; the weights' metadata
records the offsets and the validation scores before and after, and the model card lists the step.

    python -m maskxai.calibrate --model inception_resnet_v1 \\
        --weights checkpoints/inception_resnet_v1.safetensors --out runs/calibrated/inception_resnet_v1.safetensors
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .metrics import summarize
from .preprocess import to_input
from .registry import ModelSpec, get_spec, list_models
from .train import TrainConfig, runs_of, selection_score
from .weights import save_weights


@torch.no_grad()
def val_logits(
    model: nn.Module, spec: ModelSpec, val: dict[str, list], batch: int = 64
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each validation set's logits ``(n, classes)`` and targets ``(n,)``, through the app's preprocessing."""
    model.eval()
    out = {}
    for name, items in val.items():
        logits, targets = [], []
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            logits.append(model(torch.cat([to_input(img, spec) for img, _ in chunk])).float().numpy())
            targets += [t for _, t in chunk]
        out[name] = (np.concatenate(logits), np.asarray(targets, dtype=np.int64))
    return out


def save_cache(path: Path, digest: str, logits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Keep validation logits in ``path`` (.npz) with the sha256 of the weights they came from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"weights_sha256": np.array(digest)}
    arrays |= {f"{n}:{part}": v for n, (lg, y) in logits.items() for part, v in (("logits", lg), ("y", y))}
    np.savez(path, **arrays)


def val_key(views: str, size: str) -> str:
    """What a cache of validation logits must match besides the weights: the views, the size and what that size
    draws (:data:`maskxai.trainset.VAL_SIZES`), so that a cache made before a size gained a set is not served."""
    from .trainset import VAL_SIZES

    return f"{views}:{size}:{VAL_SIZES.get(size)!r}"


def load_cache(path: Path, digest: str) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The logits :func:`save_cache` kept, or ``None`` if there are none for these weights."""
    if not path.is_file():
        return None
    arrays = np.load(path)
    if str(arrays["weights_sha256"]) != digest:
        return None
    names = [k.removesuffix(":logits") for k in arrays.files if k.endswith(":logits")]
    return {n: (arrays[f"{n}:logits"], arrays[f"{n}:y"]) for n in names}


def fast_metrics(logits: np.ndarray, y: np.ndarray, offsets: np.ndarray) -> dict[str, float]:
    """Accuracy and macro recall (over the classes present), as :func:`~maskxai.metrics.summarize` has them."""
    pred = (logits + offsets).argmax(1)
    k = logits.shape[1]
    support = np.bincount(y, minlength=k)
    hits = np.bincount(y[pred == y], minlength=k)
    present = support > 0
    return {"accuracy": float((pred == y).mean()), "macro_recall": float((hits[present] / support[present]).mean())}


def results_with(offsets: np.ndarray, logits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, Any]]:
    """:func:`~maskxai.metrics.summarize` of each validation set with ``offsets`` added to the logits."""
    return {name: summarize(y.tolist(), (lg + offsets).argmax(1).tolist()) for name, (lg, y) in logits.items()}


def parse_floor(text: str) -> tuple[str, float]:
    """``"RULE=VALUE"`` (``--floor``) to ``(rule, value)``: offsets must keep the score by RULE at VALUE or more.

    Raises:
        ValueError: If ``text`` has no ``=`` or VALUE is not a number.
    """
    rule, sep, value = text.rpartition("=")
    try:
        if not sep or not rule.strip():
            raise ValueError
        return rule.strip(), float(value)
    except ValueError:
        raise ValueError(f"--floor {text!r}: give RULE=VALUE, e.g. --floor 'face-mask-detection=0.9'") from None


def search_offsets(
    logits: dict[str, tuple[np.ndarray, np.ndarray]],
    select: str = "",
    span: float = 3.0,
    step: float = 0.1,
    floors: list[tuple[str, float]] | None = None,
) -> tuple[np.ndarray, float]:
    """The offsets in ``[-span, span]`` (grid of ``step``; the first class's is 0) with the best selection score,
    among those that keep each ``(rule, value)`` of ``floors`` at ``value`` or more.

    Among offsets that score the same, the smallest (sum of squares) wins: no move without a gain.

    Returns:
        The offsets, one per class, and their score.

    Raises:
        ValueError: If ``span`` or ``step`` is not positive, ``select`` or a floor names no validation metric,
            or no offsets on the grid reach every floor.
    """
    if span <= 0 or step <= 0:
        raise ValueError(f"span and step must be positive (got span={span}, step={step}); e.g. span 3, step 0.1")
    floors = floors or []
    k = next(iter(logits.values()))[0].shape[1]
    grid = np.round(np.arange(-span, span + step / 2, step), 6)
    best: tuple[float, float, np.ndarray] | None = None
    for combo in itertools.product(grid, repeat=k - 1):
        offsets = np.array([0.0, *combo])
        metrics = {n: fast_metrics(lg, y, offsets) for n, (lg, y) in logits.items()}
        if any(selection_score(metrics, rule) < value - 1e-9 for rule, value in floors):
            continue
        score = selection_score(metrics, select)
        key = (round(score, 9), -float((offsets**2).sum()))
        if best is None or key > (round(best[0], 9), best[1]):
            best = (score, -float((offsets**2).sum()), offsets)
    if best is None:
        wanted = "; ".join(f"{rule} >= {value:g}" for rule, value in floors)
        raise ValueError(f"no offsets in [-{span:g}, {span:g}] keep every --floor ({wanted}): lower a floor")
    return best[2], best[0]


def apply_offsets(model: nn.Module, spec: ModelSpec, offsets: np.ndarray) -> None:
    """Add ``offsets`` to the bias of ``spec.head`` in ``model`` (in place).

    Raises:
        ValueError: If the head is not a ``Linear`` with a bias and one output per class.
    """
    head = model.get_submodule(spec.head)
    if not isinstance(head, nn.Linear) or head.bias is None or head.bias.shape[0] != len(offsets):
        raise ValueError(f"{spec.name}: ModelSpec.head {spec.head!r} must name the last Linear layer, with a bias")
    with torch.no_grad():
        head.bias.add_(torch.as_tensor(offsets, dtype=head.bias.dtype))


def calibrated_metadata(meta: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """The ``extra`` metadata of the calibrated weights: the input's, with ``step`` appended to its runs."""
    extra = dict(meta.get("extra", {}))
    extra["runs"] = [*runs_of(meta), step]
    extra["calibration"] = step["calibration"]
    return extra


def command_of(cal: dict[str, Any]) -> str:
    """The command line that reproduces a calibration step (its ``calibration`` record)."""
    parts = [f"python -m maskxai.calibrate --model {cal['model']} --weights {cal['weights']}"]
    if cal.get("select"):
        parts.append(f'--select "{cal["select"]}"')
    parts.append(f"--span {cal['span']} --step {cal['step']}")
    parts += [f'--floor "{rule}={value:g}"' for rule, value in cal.get("floors", [])]
    parts += [f"--val-views {cal['val_views']}"] if cal.get("val_views") else []
    parts += [f"--val-size {cal['val_size']}"] if cal.get("val_size", "standard") != "standard" else []
    return " ".join(parts)


def main(argv: list[str] | None = None) -> None:
    from .trainset import VAL_SIZES, fixed_eval_set
    from .weights import load_state

    defaults = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list_models(), required=True)
    p.add_argument("--weights", type=Path, required=True, help="the trained weights (.safetensors)")
    p.add_argument("--out", type=Path, help="write the calibrated weights here (default: only report)")
    p.add_argument("--select", default="", help="val metrics to maximise, as in train --select (default: all)")
    p.add_argument("--span", type=float, default=3.0, help="offsets tried in [-span, span] (default 3)")
    p.add_argument("--step", type=float, default=0.1, help="grid step (default 0.1)")
    p.add_argument(
        "--floor",
        action="append",
        default=[],
        metavar="RULE=VALUE",
        help="keep only offsets whose score by RULE (as --select) is at least VALUE (repeatable)",
    )
    p.add_argument("--val-views", default="", help="also score every val set seen so, as in train --val-views")
    p.add_argument("--val-size", choices=list(VAL_SIZES), default="standard", help="as in train --val-size")
    p.add_argument("--data", default=defaults.data)
    p.add_argument("--landmarks", default=defaults.landmarks)
    p.add_argument("--json", action="store_true", help="end with the report as one JSON object")
    p.add_argument("--cache", type=Path, help="keep the validation logits in this .npz (reused if it exists)")
    a = p.parse_args(argv)
    try:
        floors = [parse_floor(f) for f in a.floor]
    except ValueError as exc:
        p.error(str(exc))
    spec = get_spec(a.model)
    model = spec.build()
    meta = load_state(model, a.weights, spec)
    if meta.get("extra", {}).get("calibration"):
        p.error(f"{a.weights} is already calibrated; pass the weights it was made from")
    digest = hashlib.sha256(a.weights.read_bytes()).hexdigest()
    digest += ":" + val_key(a.val_views, a.val_size)  # a cache of other val sets does not serve
    logits = load_cache(a.cache, digest) if a.cache else None
    if logits is None:
        try:
            val = fixed_eval_set(Path(a.data), Path(a.landmarks), "val", views=a.val_views, size=a.val_size)
        except ValueError as exc:
            p.error(str(exc))
        logits = val_logits(model, spec, val)
        if a.cache:
            save_cache(a.cache, digest, logits)
    zero = np.zeros(len(spec.labels))
    try:
        offsets, score = search_offsets(logits, a.select, a.span, a.step, floors)
    except ValueError as exc:
        p.error(str(exc))
    before, after = results_with(zero, logits), results_with(offsets, logits)
    cal = {
        "model": a.model,
        "weights": str(a.weights),
        "select": a.select,
        "span": a.span,
        "step": a.step,
        **({"floors": [[rule, value] for rule, value in floors]} if floors else {}),
        **({"val_views": a.val_views} if a.val_views else {}),
        **({"val_size": a.val_size} if a.val_size != "standard" else {}),
        "offsets": {lab: round(float(v), 3) for lab, v in zip(spec.labels, offsets)},
        "score_before": selection_score(before, a.select),
        "score_after": score,
        "val": {
            name: {
                "n": after[name]["n"],
                "before": {k: before[name][k] for k in ("accuracy", "macro_recall", "per_class")},
                "after": {k: after[name][k] for k in ("accuracy", "macro_recall", "per_class")},
            }
            for name in logits
        },
    }
    print(f"offsets {cal['offsets']}: selection score {cal['score_before']:.4f} -> {score:.4f} on validation")
    for name, r in cal["val"].items():
        b, f = r["before"], r["after"]
        inc = (
            ""
            if f["per_class"].get("incorrectly_masked") is None
            else (
                f", incorrectly_masked recall {100 * b['per_class']['incorrectly_masked']:.1f} -> "
                f"{100 * f['per_class']['incorrectly_masked']:.1f} %"
            )
        )
        print(
            f"  {name} ({r['n']}): accuracy {100 * b['accuracy']:.1f} -> {100 * f['accuracy']:.1f} %, macro recall "
            f"{100 * b['macro_recall']:.1f} -> {100 * f['macro_recall']:.1f} %{inc}"
        )
    if a.out:
        apply_offsets(model, spec, offsets)
        extra = calibrated_metadata(meta, {"calibration": cal})
        save_weights(model, spec, a.out, extra=extra)
        print(f"wrote {a.out}")
    if a.json:
        print(json.dumps(cal))


if __name__ == "__main__":
    main()
