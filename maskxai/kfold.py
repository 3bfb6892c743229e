"""k-fold evaluation on real photos: each fold scored by a model trained without that fold's photos.

Face Mask Detection is the only real set here with masks worn incorrectly (123 boxes in 853 photos), and its
held-out split holds 19 of them: too few to show a recall (the 95 % interval spans 25 points). Over k folds by
photo, every face is scored once by a model that never saw its photo, so the pooled row rests on all of them.

    python -m maskxai.kfold --model inception_resnet_v1 --folds 5 --out runs/kfold_irv1 -- --no-bf16 --threads 2

Everything after ``--`` goes to ``maskxai.train`` for every fold, which gets ``--holdout FOLD/K`` (the photos of
fold FOLD left out of training, fold FOLD+1 as its validation set, see :func:`maskxai.trainset.voc_split`) and
``--out OUT/foldFOLD``. A fold may not start from our shipped weights (``--init``) or learn from a teacher
(``--teacher``): every shipped weight file has seen 70 % of these photos. It may start from a **base** that never
saw them (``--base WEIGHTS``: every run behind it, read from its metadata, drew no Face Mask Detection face, had
no teacher and chose its kept epoch without Face Mask Detection's val split), which makes each fold a fine-tune
of the same base, the way final weights can be made from it:

    python -m maskxai.train --model inception_resnet_v1 --out runs/base --mix "face-mask-detection=0" \
        --select "maskedface-net,face-mask-12k,synthetic,synthetic-real"
    python -m maskxai.kfold --model inception_resnet_v1 --base runs/base/best.safetensors --out runs/kfold -- ...

Each fold's kept weights are then scored on its test photos' boxes (``--min-size``, default 10 px: smaller
boxes are only a few pixels of face). Written to ``OUT``: ``kfold.json`` (each fold's and the pooled accuracy and
recalls with their 95 % Wilson intervals, how each fold was trained and, with ``--base``, the base's commands and
epoch log) and ``errors/`` (contact sheets of the pooled mistakes). A fold with results is not redone and training
resumes where it stopped, so the command can be rerun after an interruption. ``scripts/cpu_kfold.sh`` runs a base
and its folds on a 2-core CPU in about two hours; ``scripts/device_kfold.sh`` the same recipe, larger, on a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .data import Sample, fold_of, load_voc
from .evaluate import Predictions, metrics_of, predict, sorted_mistakes, write_errors
from .metrics import format_interval
from .registry import LABELS, list_models
from .train import TrainConfig, command_of, parse_args, parse_mix, runs_of, train
from .trainset import SOURCE_WEIGHTS
from .weights import load_model, read_metadata

REFUSED = ("--init", "--teacher", "--holdout", "--out", "--model")


def fold_samples(data: Path, fold: int, k: int, min_size: float = 10.0) -> list[Sample]:
    """Face Mask Detection boxes of at least ``min_size`` px whose photo is in ``fold`` of ``k``."""
    return [s for s in load_voc(data / "face-mask-detection", min_size=min_size) if fold_of(s.group or "", k) == fold]


def fold_config(model: str, fold: int, k: int, out: Path, train_args: list[str], base: str = "") -> TrainConfig:
    """The training config of one fold: ``train_args`` plus its ``--holdout`` and ``--out`` (and ``--init base``).

    Raises:
        ValueError: If ``train_args`` set what the fold sets, or start from weights.
    """
    bad = [a for a in train_args if a.split("=")[0] in REFUSED]
    if bad:
        raise ValueError(
            f"train options {bad} cannot be given to a k-fold run: each fold sets --model, --holdout and --out, "
            "and starts from scratch (or --pretrained, or --base), never from our weights (they saw these photos)"
        )
    init = ["--init", base] if base else []
    args = [*train_args, *init, "--model", model, "--holdout", f"{fold}/{k}", "--out", str(out / f"fold{fold}")]
    cfg, _ = parse_args(args)
    return cfg


def base_problems(metadata: dict[str, Any]) -> list[str]:
    """Why weights with this metadata cannot be a k-fold base (empty: they can): each run behind them must have
    drawn no Face Mask Detection face, had no teacher, and chosen its kept epoch without that set's val split."""
    runs = runs_of(metadata)
    if not runs:
        return ["the weights carry no training runs in their metadata, so what they saw is unknown"]
    problems = []
    for i, run in enumerate(runs, 1):
        step = run.get("average") or run.get("calibration")
        if step is not None:  # a step on validation after training: it chose on the sets --select names
            if _chose_on_fmd(step.get("select", "")):
                problems.append(f"step {i} chose on Face Mask Detection's val split (--select)")
            continue
        cfg = run["config"]
        w = parse_mix(cfg.get("mix", "")).get("face-mask-detection", SOURCE_WEIGHTS["face-mask-detection"])
        if w > 0:
            problems.append(f"run {i} drew Face Mask Detection faces (--mix face-mask-detection={w:g})")
        if cfg.get("teacher"):
            problems.append(f"run {i} learned from a teacher ({cfg['teacher']}), which may have seen them")
        if _chose_on_fmd(cfg.get("select", "")):
            problems.append(f"run {i} chose its kept epoch on Face Mask Detection's val split (--select)")
    return problems


def _chose_on_fmd(select: str) -> bool:
    """True if a ``--select`` rule reads Face Mask Detection's val split, as the app's crops or tight
    (``face-mask-detection-tight``); an empty rule reads every val set."""
    names = [t.split(":")[0].strip() for t in select.split(",") if t.strip()]
    return not names or any(n.startswith("face-mask-detection") for n in names)


def base_run(weights: Path) -> dict[str, Any]:
    """What made a base, for the record: the command of each run behind it (from its metadata) and, where its run
    folder has one, the last run's epoch log (``log.jsonl`` beside the weights)."""
    rec: dict[str, Any] = {"commands": [command_of(r["config"]) for r in runs_of(read_metadata(weights))]}
    log = weights.parent / "log.jsonl"
    if log.is_file():
        rec["log"] = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rec


def run_fold(cfg: TrainConfig, samples: list[Sample], out: Path) -> tuple[dict[str, Any], Predictions]:
    """Train (or resume) the fold's model, score it on ``samples``; its record is kept in ``out/foldF.json``."""
    weights = train(cfg) if not (Path(cfg.out) / "done").is_file() else Path(cfg.out) / "best.safetensors"
    (Path(cfg.out) / "done").write_text("trained\n")
    lm = load_model(cfg.model, weights)
    preds = predict(lm, samples, keep_mistakes=True)
    rec = {"holdout": cfg.holdout, "weights": str(weights), "metrics": metrics_of(samples, preds)}
    # each face's probabilities, in fold_samples order: enough to pool folds run on other machines
    rec["probs"] = np.round(preds.probs, 4).tolist()
    return rec, preds


def pooled(samples: list[Sample], probs: list[np.ndarray]) -> dict[str, Any]:
    """Metrics over every fold's faces together (each face scored by its own fold's model)."""
    return metrics_of(samples, Predictions(np.concatenate(probs), [True] * len(samples)))


def summary(res: dict[str, Any]) -> str:
    """One line per fold and the pooled row: accuracy and each recall with its interval."""
    lines = []
    for name, m in [*((f"fold {r['holdout']}", r["metrics"]) for r in res["folds"]), ("pooled", res["pooled"])]:
        ivs = m["intervals"]
        recalls = ", ".join(f"{lab} {format_interval(ivs['per_class'][lab])}" for lab in LABELS)
        lines.append(f"{name}: accuracy {format_interval(ivs['accuracy'])}; recall {recalls}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list_models(), required=True)
    p.add_argument("--folds", type=int, default=5, help="k (at least 3; default 5)")
    p.add_argument("--out", type=Path, required=True, help="folder for the folds' runs and the results")
    p.add_argument("--min-size", type=float, default=10.0, help="smallest box scored, in pixels (default 10)")
    p.add_argument("--only", type=int, nargs="*", help="run only these folds now (the pooled row needs them all)")
    p.add_argument("--base", default="", help="fine-tune every fold from these weights (they must never have "
                   "seen Face Mask Detection: checked from their metadata)")  # fmt: skip
    a = p.parse_args(own)
    if a.folds < 3:
        p.error("--folds must be at least 3 (one fold to test, one to validate, the rest to train)")
    if a.base:
        if not Path(a.base).is_file():
            p.error(f"--base {a.base}: no such file (give the best.safetensors of a training run)")
        problems = base_problems(read_metadata(a.base))
        if problems:
            p.error(f"--base {a.base} cannot start a fold: " + "; ".join(problems))
    try:
        configs = [fold_config(a.model, f, a.folds, a.out, train_args, a.base) for f in range(a.folds)]
    except ValueError as exc:
        p.error(str(exc))
    data = Path(configs[0].data)
    a.out.mkdir(parents=True, exist_ok=True)
    folds, all_samples, all_probs, mistakes = [], [], [], []
    for f, cfg in enumerate(configs):
        if a.only is not None and f not in a.only:
            continue
        samples = fold_samples(data, f, a.folds, a.min_size)
        print(f"fold {f + 1} of {a.folds}: {len(samples)} faces held out", flush=True)
        rec, preds = run_fold(cfg, samples, a.out)
        (a.out / f"fold{f}.json").write_text(json.dumps(rec, indent=1))
        folds.append(rec)
        all_samples += samples
        all_probs.append(preds.probs)
        mistakes += preds.mistakes
    res: dict[str, Any] = {"model": a.model, "k": a.folds, "min_size": a.min_size, "train_args": train_args}
    res["base"] = a.base
    if a.base:
        res["base_run"] = base_run(Path(a.base))
    res["folds"] = folds
    if len(folds) == a.folds:
        res["pooled"] = pooled(all_samples, all_probs)
        write_errors(sorted_mistakes(mistakes), LABELS, a.out / "errors")
    (a.out / "kfold.json").write_text(json.dumps(res, indent=1, default=str))
    if "pooled" in res:
        print(summary(res))


if __name__ == "__main__":
    main()
