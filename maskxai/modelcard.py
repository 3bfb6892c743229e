"""Evaluate weights on every dataset and write their model card.

    python -m maskxai.modelcard --model resnet50 --weights runs/resnet50/best.safetensors

Writes ``checkpoints/<model>.md`` (and ``<model>_eval.json``) from the same
evaluation code as ``python -m maskxai.evaluate``; the card lists the exact
commands, so every number can be rerun. Each recall is shown with its count
and 95 % Wilson interval, and ``<model>_errors.png`` (embedded in the card) is
the contact sheet of the model's mistakes on the real held-out photos.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import load_dataset
from .evaluate import contact_sheet, metrics_of, predict, sorted_mistakes
from .kfold import fold_config
from .metrics import format_interval
from .registry import DISPLAY_NAMES, LABELS, get_spec, list_models
from .train import command_of, parse_mix, runs_of, with_recipe
from .trainset import SOURCE_WEIGHTS
from .weights import REPO_ROOT, checkpoints_dir, load_model, read_metadata

DATA = REPO_ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class EvalRow:
    """One row of a card's results table: a dataset split scored by ``python -m maskxai.evaluate``."""

    title: str
    folder: str  # under the data folder
    split: str | None
    min_size: float = 0  # skip boxes smaller than this (VOC)
    crop: str = "box"  # "box" (+30 % margin, like the app), "detect" (the app's detector) or "tight" (the box alone)
    sheet: bool = False  # the card shows this row's mistakes
    view: str = ""  # see each face as another camera shows it (maskxai.augment.VIEWS), e.g. "video"


FMD16 = "Face Mask Detection, held-out images, boxes >= 16 px"
EVALS = [
    EvalRow("MaskedFace-Net test (by identity)", "maskedface-net", "test"),
    EvalRow(FMD16, "face-mask-detection", "test", 16, sheet=True),
    EvalRow("same, faces found by the app's detector", "face-mask-detection", "test", 16, "detect"),
    EvalRow(
        "same, each box cut alone and taken whole (face crops from other tools)",
        "face-mask-detection",
        "test",
        16,
        "tight",
    ),
    EvalRow("Face Mask Detection, held-out images, boxes >= 40 px", "face-mask-detection", "test", 40),
    EvalRow("Face Mask 12K val (real masked / CelebA unmasked)", "face-mask-12k", "val"),
    EvalRow("MaskedFace-Net test, seen as video frames (grayscale, 64 px)", "maskedface-net", "test", view="video"),
    EvalRow(f"{FMD16}, seen as video frames (grayscale, 64 px)", "face-mask-detection", "test", 16, view="video"),
]
SHEET_FACES = 48  # mistakes shown on the card's contact sheet, most confident first


def run_evals(model: str, weights: Path, data: Path = DATA, errors_png: Path | None = None) -> list[dict[str, Any]]:
    """Evaluate ``weights`` on every row of :data:`EVALS`.

    Args:
        model: Registered model name.
        weights: The weights file.
        data: Folder holding the datasets named in :data:`EVALS`.
        errors_png: Where to write the contact sheet of the mistakes on the row :data:`EVALS` marks (up to
            :data:`SHEET_FACES`, most confident first); that row gets ``error_sheet``
            (``{"file", "shown", "mistakes", "command"}``). A stale file there is removed when there are none.
    """
    lm = load_model(model, weights)
    rows = []
    for ev in EVALS:
        samples = load_dataset(data / ev.folder, split=ev.split, min_size=ev.min_size)
        detect, tight, sheet = ev.crop == "detect", ev.crop == "tight", ev.sheet and errors_png is not None
        preds = predict(lm, samples, detect=detect, keep_mistakes=sheet, tight=tight, view=ev.view)
        res = metrics_of(samples, preds)
        args = (
            f"--model {model} --data ../shared/data/{ev.folder} --split {ev.split}"
            + (f" --min-size {ev.min_size:g}" if ev.min_size else "")
            + (" --detect-faces" if detect else "")
            + (" --tight" if tight else "")
            + (f" --view {ev.view}" if ev.view else "")
        )
        row = {"title": ev.title, "command": f"python -m maskxai.evaluate {args} --json", **res}
        if sheet and errors_png is not None:
            shown = sorted_mistakes(preds.mistakes)[:SHEET_FACES]
            errors_png.unlink(missing_ok=True)
            if shown:
                contact_sheet(shown, lm.spec.labels, total=len(preds.mistakes)).save(errors_png)
            row["error_sheet"] = {
                "file": errors_png.name,
                "shown": len(shown),
                "mistakes": len(preds.mistakes),
                "command": f"python -m maskxai.evaluate {args} --errors errors/{model}",
                "faces": [
                    {
                        "file": m.sample.path.name,
                        "box": [round(v) for v in m.sample.box] if m.sample.box else None,
                        "true": m.sample.label,
                        "predicted": lm.spec.labels[m.pred],
                        "probability": round(m.confidence, 3),
                    }
                    for m in shown
                ],
            }
        rows.append(row)
    return rows


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def results_table(rows: list[dict[str, Any]]) -> str:
    """The card's results: per row, accuracy and each recall as ``value % (k/n, low-high)``, and macro recall."""
    head = "| data | n | accuracy | " + " | ".join(f"{DISPLAY_NAMES[k]} recall" for k in LABELS) + " | macro recall |"
    out = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        ivs = r["intervals"]
        rec = " | ".join(format_interval(ivs["per_class"][k]) for k in LABELS)
        acc = format_interval(ivs["accuracy"])
        out.append(f"| {r['title']} | {r['n']} | {acc} | {rec} | {_pct(r['macro_recall'])} % |")
    kinds = [
        f"- {r['title']}, recall within each `incorrect_kind`: "
        + ", ".join(f"{k} {format_interval(v['interval'])}" for k, v in r["per_kind"].items())
        for r in rows
        if r.get("per_kind")
    ]
    note = "Each value is followed by (recognised/faces, 95 % Wilson interval in %)."
    return "\n".join(out + ["", note] + ([""] + kinds if kinds else []))


def error_section(rows: list[dict[str, Any]]) -> str:
    """The card's contact sheet of mistakes (from the row that has ``error_sheet``), or ``""``."""
    row = next((r for r in rows if r.get("error_sheet")), None)
    if row is None:
        return ""
    es = row["error_sheet"]
    if not es["mistakes"]:
        return f"### Mistakes\n\nNone on {row['title']} ({row['n']} faces).\n"
    which = "All" if es["shown"] == es["mistakes"] else f"The {es['shown']} most confident"
    lines = ["| # | file | box | true | predicted | probability |", "|---|---|---|---|---|---|"]
    for i, f in enumerate(es.get("faces", []), 1):
        box = " ".join(str(v) for v in f["box"]) if f.get("box") else "whole image"
        lines.append(
            f"| {i} | {f['file']} | {box} | {DISPLAY_NAMES.get(f['true'], f['true'])} | "
            f"{DISPLAY_NAMES.get(f['predicted'], f['predicted'])} | {100 * f['probability']:.0f} % |"
        )
    return f"""### Mistakes

{which} of the {es["mistakes"]} mistakes on {row["title"]} ({row["n"]} faces), most confident first.
The contact sheet of these faces (each with its true label, the predicted one and its probability) is
`{es["file"]}`, written beside this card by `python -m maskxai.modelcard`, and `{es["command"]}` writes
all of them with `errors.csv`. The sheet is not committed: it shows the dataset's faces, and this repository
holds none of the datasets' images.

{chr(10).join(lines)}
"""


def _shares(mix: str) -> dict[str, float]:
    """Each source's share of the draws under ``--mix`` (sources it does not name keep their default weight)."""
    w = {**SOURCE_WEIGHTS, **parse_mix(mix)}
    return {name: v / sum(w.values()) for name, v in w.items()}


def _mixture(config: dict[str, Any]) -> str:
    return ", ".join(f"{name} {100 * v:.0f} %" for name, v in _shares(config.get("mix", "")).items())


def training_runs(meta: dict[str, Any]) -> str:
    """One bullet per training run behind the weights, with the command that reproduces it."""
    lines = []
    runs = runs_of(meta)
    # what the list calls entry k (names[k]): a step when it made weights without training (an average, offsets)
    names = [""] + [f"{'step' if 'calibration' in r or 'average' in r else 'run'} {k}" for k, r in enumerate(runs, 1)]
    for k, run in enumerate(runs, 1):
        if "calibration" in run:
            lines.append(f"- Step {k}, {_calibrated(run['calibration'])}")
            continue
        if "average" in run:
            lines.append(f"- Step {k}, {_averaged(run['average'], k, names)}")
            continue
        if "viewdistill" in run:
            lines.append(f"- Run {k}, {_view_distilled(run['viewdistill'], names[k - 1])}")
            continue
        cfg = run["config"]
        minutes = run.get("minutes")
        start = "from scratch" if not cfg.get("init") else f"from {names[k - 1]}'s kept weights (`--init`)"
        if cfg.get("pretrained"):
            start = f"from public pretrained weights ({get_spec(cfg['model']).recipe.pretrained_name or 'its recipe'})"
        lines.append(
            f"- Run {k}, {start}: `{command_of(cfg)}`. {cfg.get('epochs')} epochs of {cfg.get('samples_per_epoch')} "
            f"draws, batch {cfg.get('batch_size')}, AdamW (lr {cfg.get('lr')}, "
            f"weight decay {cfg.get('weight_decay')}), "
            f"{cfg.get('warmup_steps')} warm-up steps then cosine, label smoothing {cfg.get('label_smoothing')}, "
            f"{'bf16 autocast' if cfg.get('bf16') else 'fp32'}, {cfg.get('threads') or 'all'} thread(s). "
            f"Mixture: {_mixture(cfg)}.{_distilled(cfg)}{_tuned(cfg)}{_drawn(cfg)} {_kept(run)} "
            f"({f'{minutes:.0f} min' if minutes else '? min'} of training up to it, on {_where(run)})."
        )
    if any(run.get("config", {}).get("teacher") for run in runs):
        lines.append(
            "- A `--teacher` path holds the weights shipped in `checkpoints/` when that run was made (see this "
            "repository's history); the teacher is frozen and sees the student's augmented batch."
        )
    if len(runs) > 1:
        lines.append(
            "- Each `--init` path holds the previous run's kept weights: its `best.safetensors`, or the file "
            "shipped in `checkpoints/` before these weights replaced it (see this repository's history)."
        )
    return "\n".join(lines) if lines else "- (no training metadata in the weights file)"


def _where(run: dict[str, Any]) -> str:
    """Where a run trained: its recorded device; before runs recorded it, a lent GPU when its data came from a
    ``scripts/device_*.sh`` call's pack (``.gpupack``; see the script's header for how data and weights
    travelled), else this project's 2-core CPU."""
    if run.get("device"):
        return str(run["device"])
    if ".gpupack" in str(run["config"].get("data", "")):
        return "a lent GPU, by `scripts/device_finetune.sh` (data re-encoded by `scripts/pack_data.py`; see its header)"
    return "2 CPU cores"


def _calibrated(cal: dict[str, Any]) -> str:
    """A calibration step (:mod:`maskxai.calibrate`) in words, with its command and validation scores."""
    from .calibrate import command_of as calibrate_command

    offsets = ", ".join(f"{DISPLAY_NAMES.get(k, k)} {v:+.1f}" for k, v in cal["offsets"].items())
    per_set = "; ".join(
        f"{name} macro recall {100 * r['before']['macro_recall']:.1f} -> {100 * r['after']['macro_recall']:.1f} %"
        for name, r in cal["val"].items()
    )
    return (
        f"class offsets chosen on the validation sets (`{calibrate_command(cal)}`, `--weights` being the previous "
        f"step's weights): the offsets ({offsets}) are added to the logits, folded into the bias of the last "
        f"layer, so that the mean validation score rose from {cal['score_before']:.3f} to {cal['score_after']:.3f} "
        f"({per_set}). No test set was used."
    )


def _averaged(step: dict[str, Any], k: int, names: list[str]) -> str:
    """An averaging step (:mod:`maskxai.soup`) in words, with its command and validation scores; ``names[j]`` is
    what the list calls entry ``j``."""
    from .soup import command_of as soup_command

    b, a = step.get("before_runs", k - 2), k - 1
    before, after = names[b], names[a]
    path = (
        f"{after} continued from {before}"
        if a == b + 1
        else f"runs {b + 1} to {a} each continued the one before, from {before}"
    )
    scores = ", ".join(f"{x}: {v:.3f}" for x, v in step["scores"].items())
    return (
        f"the weights of {before} and {after} averaged (`{soup_command(step)}`, `--before` being {before}'s "
        f"weights, `--after` {after}'s): {1 - step['alpha']:g} x {before} + {step['alpha']:g} x {after}, every "
        f"tensor (WiSE-FT: {path}, so the two lie in one basin). The mix was chosen on "
        f"the validation sets by the rule that keeps an epoch (selection score of each mix: {scores}). No test "
        f"set was used. `--after` is {after}'s `{Path(step['after']).name}` (in its `--out`); only the average is "
        "shipped."
    )


def _view_distilled(step: dict[str, Any], previous: str) -> str:
    """A cross-view distillation run (:mod:`maskxai.viewdistill`) in words, with its command; ``previous`` is
    what the list calls the entry before it (``"step 5"``)."""
    from .viewdistill import command_of as viewdistill_command

    cfg = step["config"]
    done = step.get("steps_done", cfg["steps"])
    steps = f"{done} steps" if done == cfg["steps"] else f"{done} of {cfg['steps']} steps (its time budget ended it)"
    source = (
        f"`--init` being {previous}'s weights and `--teacher` the teacher of {previous}"
        if cfg.get("init")
        else f"`--teacher` being {previous}'s weights"
    )
    return (
        f"{previous}'s weights taught to read {cfg['view']} draws by themselves (`{viewdistill_command(cfg)}`, "
        f"{source}): the frozen teacher sees each augmented draw as it is, the "
        f"student the same draw as a {cfg['view']} frame, and matches the teacher's probabilities (temperature "
        f"{cfg['temperature']}) and pooled features, plus {cfg['label_weight']} x cross-entropy on the labels; "
        f"{cfg['plain']} draws a batch are also shown unchanged and matched ({cfg['plain_weight']} x). "
        f"{steps} of {cfg['batch_size']} draws, AdamW (lr {cfg['lr']}, weight decay "
        f"{cfg['weight_decay']}), {cfg['warmup_steps']} warm-up steps then cosine, BatchNorm statistics frozen, "
        f"fp32. Mixture: {_mixture(cfg)} ({step['minutes']:.0f} min, on {step.get('device', '2 CPU cores')})."
    )


def _distilled(cfg: dict[str, Any]) -> str:
    if not cfg.get("teacher"):
        return ""
    return (
        f" Distilled from `{cfg['teacher']}` (`maskxai.distill`: {cfg.get('distill_weight')} of the loss on matching "
        f"the teacher's probabilities at temperature {cfg.get('distill_temp')}, the rest on the labels"
        + (
            "; only on the images the teacher labels right, the labels alone elsewhere"
            if cfg.get("distill_agree")
            else ""
        )
        + ")."
    )


def _tuned(cfg: dict[str, Any]) -> str:
    if not cfg.get("tune_from"):
        return ""
    return (
        f" Only the layers from `{cfg['tune_from']}` on were trained (`maskxai.tunetop`): the layers before it"
        " stayed as the `--init` weights had them and ran once over the run's draws, whose features every epoch"
        " reused (each epoch is a pass over the same augmented draws)."
    )


def _lookalikes(cfg: dict[str, Any]) -> bool:
    return "lookalike_" in str(cfg.get("placements") or "")


def _drawn(cfg: dict[str, Any]) -> str:
    """What a run drew beyond the sources' paragraph: masks cut out of real photos, lookalikes."""
    out = ""
    if float(cfg.get("photo_masks") or 0) > 0:
        out += (
            f" A share {cfg['photo_masks']} of the photographed masks were masks cut out of Face Mask 12K training"
            " photos of masks worn correctly (`--photo-masks`, `maskxai.photomasks`: GrabCut seeded by MTCNN's"
            " landmarks), placed like the templates."
        )
    if _lookalikes(cfg):
        out += (
            " The `lookalike_*` placements are bare faces with a drawn beard or a hand over the mouth, labelled"
            " no mask (`maskxai.lookalikes`)."
        )
    return out


def _hands_limit(meta: dict[str, Any]) -> str:
    if any(_lookalikes(r.get("config", {})) for r in runs_of(meta)):
        return (
            "Hands over the mouth were only drawn (`maskxai.lookalikes`, flat and cartoon-like); real hands and"
            " scarves were not in the training data."
        )
    return "A hand or a scarf over the mouth was not in the training data."


def _kept(run: dict[str, Any]) -> str:
    folder = Path(run["config"].get("out") or f"runs/{run['config']['model']}").name
    if run.get("kept") == "last":
        return (
            f"Kept its last epoch, {run.get('epoch', '?')}, written by "
            f"`python -m maskxai.train --export-last runs/{folder}`"
        )
    if run.get("kept") == "mean":
        epochs = run.get("mean_of") or [run.get("epoch", "?")]
        return (
            f"Kept the mean of the weights of its epochs {epochs[0]}-{epochs[-1]} (`--average-last "
            f"{run['config'].get('average_last')}`: `runs/{folder}/mean.safetensors`)"
        )
    return f"Kept epoch {run.get('epoch', '?')}"


def xai_section(model: str, folder: Path | None = None) -> str:
    """The card's "where this model looks" section: ``<folder>/<model>_xaieval.md`` (tables written by
    ``python -m maskxai.xaieval`` on validation faces), or a line saying how to make it."""
    path = (folder or Path(__file__).resolve().parent.parent / "checkpoints") / f"{model}_xaieval.md"
    head = "## Where this model looks, measured\n\n"
    if not path.exists():
        return head + f"Not measured yet: `python -m maskxai.xaieval --model {model} --data ... --split val`.\n"
    body = path.read_text(encoding="utf-8").replace("\n### ", "\n#### ").replace("\n## ", "\n### ")
    return (
        head
        + "Faithfulness (deletion/insertion against random patch orders) and the share of each map on nose, mouth "
        + "and chin, on **validation** faces; the page's default layers were chosen from these tables "
        + "(docs/xai_measured.md).\n\n"
        + body.strip()
        + "\n"
    )


def kfold_section(model: str, folder: Path | None = None) -> str:
    """The card's k-fold section: the pooled row of ``<folder>/kfold_<model>.json`` (written by
    ``python -m maskxai.kfold``, folder default ``docs/``), per-fold recalls of worn incorrectly, and what the row
    measures (the recipe's folds, not these weights); where there is none, a section that says so and how to
    make it."""
    path = (folder or Path(__file__).resolve().parent.parent / "docs") / f"kfold_{model}.json"
    if not path.exists():
        return not_measured_kfold(model, path.name)
    res = json.loads(path.read_text(encoding="utf-8"))
    if "pooled" not in res:
        return ""
    title = f"Face Mask Detection, all photos, {res['k']}-fold, boxes >= {res['min_size']:g} px"
    row = {"title": title, **res["pooled"]}
    recalls = [f["metrics"]["intervals"]["per_class"]["incorrectly_masked"] for f in res["folds"]]
    folds = ", ".join(format_interval(r) for r in recalls)
    recipe = kfold_recipe(res)
    return f"""## Real photos, {res["k"]}-fold

Every face of Face Mask Detection scored once by a model of this card's **k-fold recipe** that never saw its photo
(`python -m maskxai.kfold`, each fold fine-tuned from a base that never saw the set; record, commands and logs in
`docs/{path.name}`). It measures that recipe, which may differ from the runs behind these weights (see the
README, "Real photos, 5-fold"): these weights saw 70 % of the photos and cannot be scored on them.

{results_table([row])}

Worn incorrectly, by fold: {folds}.{recipe}
"""


def kfold_recipe(res: dict[str, Any]) -> str:
    """The recipe behind a k-fold record, read from it: each fold's fine-tune (from its training options) and
    the base's kept epoch (from the base's log, where the record has it); empty without training options."""
    if not res.get("train_args"):
        return ""
    cfg = with_recipe(fold_config(res["model"], 0, res["k"], Path("runs"), list(res["train_args"])))
    fmd = _shares(cfg.mix)["face-mask-detection"]
    epochs = f"{cfg.epochs} epoch{'s' * (cfg.epochs != 1)}"
    text = (
        f"\n\nThe recipe, from the record: each fold {epochs} of {cfg.samples_per_epoch:,} draws (batch "
        f"{cfg.batch_size}, lr {cfg.lr:g}, Face Mask Detection {fmd * 100:.0f} % of the draws)"
    )
    log = res.get("base_run", {}).get("log", [])
    if log:
        kept = max(log, key=lambda e: e["val_score"])
        text += f" from a base that kept epoch {kept['epoch']} of {len(log)} ({kept['minutes']:.0f} min of training"
        text += " up to it)"
    base = res.get("base", "").split(" (")[0]  # a record may note after the path where its base came from
    folds = f"python -m maskxai.kfold --model {res['model']} --folds {res['k']} --min-size {res['min_size']:g}"
    folds += (f" --base {base}" if base else "") + f" --out OUT -- {shlex.join(res['train_args'])}"
    made = [f"the base: `{c}`" for c in res.get("base_run", {}).get("commands", [])] + [f"the folds: `{folds}`"]
    return text + ". Made by:\n\n" + "\n".join(f"- {m}" for m in made)


def not_measured_kfold(model: str, record: str) -> str:
    """The k-fold section of a model without a k-fold record: what is missing, why, and the command."""
    return f"""## Real photos, k-fold: not measured yet

This model has no row scored on all of Face Mask Detection: these weights saw 70 % of its photos, and the recipe
that scores every photo once with a model that never saw it (a base that never saw the set, then one fine-tune per
fold: `python -m maskxai.kfold --base`) writes the record this section is made from (`docs/{record}`):
`MODEL={model} bash scripts/device_kfold.sh` in one call on a lent GPU, or `MODEL={model} bash scripts/cpu_kfold.sh`,
the same recipe with fewer draws, in about two hours on 2 CPU cores (README, "Real photos, 5-fold"). Until then its
real photos with a mask worn incorrectly are the 19 of the test split above: read that recall with its interval.
"""


def card(model: str, weights: Path, rows: list[dict[str, Any]]) -> str:
    spec = get_spec(model)
    meta = read_metadata(weights)
    cm = "\n".join(f"- {r['title']}: `{r['command']}`" for r in rows)
    return f"""---
license: cc-by-nc-sa-4.0
library_name: pytorch
tags: [image-classification, face-mask, explainability, grad-cam, integrated-gradients]
---

# maskxai {spec.title} face-mask classifier

Three classes: {", ".join(f"`{k}` ({DISPLAY_NAMES[k]})" for k in LABELS)}. Input: a square face crop
(MTCNN box + 30 % margin, as `maskxai.faces.crop_face` makes it) resized to {spec.input_size} px,
normalised with mean {tuple(round(v, 4) for v in spec.mean)} and std {tuple(round(v, 4) for v in spec.std)}.
Weights: `{spec.weights_file}` (safetensors, fp16; metadata carries architecture, labels, input size,
normalisation, the training runs and the validation scores of the last one).

## Results

Measured with `python -m maskxai.modelcard --model {model} --weights {weights.name}` (the same code as
`maskxai.evaluate`, the app's preprocessing):

{results_table(rows)}

Each row is rerun by:
{cm}

{error_section(rows)}
{kfold_section(model)}
Face Mask Detection has no official split: its images are split by a hash of the file name
(`maskxai.data.split_of`: 20 % test, 10 % val), so no photo has faces in two splits.

{xai_section(model)}
## Training

Runs in order (read from the weights' metadata). Unless a run says otherwise, its kept epoch is the one with
the best mean macro recall on the validation sets (or the val metrics its `--select` names):

{training_runs(meta)}
- Sources: `synthetic` = masks on Face Mask 12K's unmasked (CelebA) training faces, drawn by
  `maskxai.masks` or, for the `real_*` placements, photographed MaskTheFace templates (MIT) warped onto the face
  by `maskxai.realmasks` (worn correctly, under the nose, on the chin, chin out, hanging from one ear) on
  faces padded to the app's crop margin (a third each: worn correctly / worn incorrectly / none, unless a
  run's `--placements` says otherwise);
  `face-mask-12k` = its real masked faces; `maskedface-net` = MaskedFace-Net train (class-balanced;
  a run's `--boost` draws one kind of incorrect wearing more often);
  `face-mask-detection` = Face Mask Detection training boxes >= 16 px, cropped like the app (class-balanced).
  No ImageNet or VGGFace2 start can be downloaded here; `--pretrained` uses them where the internet is
  available. Augmentation: flips, rotations up to 12 degrees, scale and position jitter, colour, blur and
  motion blur, low light with noise, JPEG artefacts; since the runs with `real_*` placements also harsh light
  (over-exposure, hard side light), faces of 24-96 px scaled up, and grayscale on a fifth of the draws.
- The mask renderer changed twice after the first runs of the shipped weights had started (an FFP2 mask
  pulled below the nose no longer covers the nose tip; on 2026-11-27 the chin, which five landmarks do not
  give, was fitted to a face mesh, `scripts/chin_fit.py`: before, a smile lifted it and a fifth of the masks
  drawn "worn correctly" left the chin out), so a rerun of an earlier run draws slightly different faces.
- Input size: {spec.input_size} px. It keeps a training step affordable on a CPU, matches the
  datasets' resolution (Face Mask 12K is 160 px; most real faces are smaller), and keeps Integrated
  Gradients at about half the cost of 224 px; the price is a coarser Grad-CAM grid (see the app's layer choice).

## Data and licenses

- MaskedFace-Net (Cabani et al., 2020), built on FFHQ: CC BY-NC-SA 4.0.
- Face Mask 12K (Kaggle, ashishjangra27): unmasked faces are CelebA crops (non-commercial research only).
- Face Mask Detection (Kaggle, andrewmvd): CC0.

Because of MaskedFace-Net and CelebA these weights are for **non-commercial** use, under CC BY-NC-SA 4.0.

## Limits

Synthetic masks are placed from five landmarks: the templates are real mask photos, but they do not fold
around a chin or nose the way fabric does. Real
photos with incorrectly worn masks are few (Face Mask Detection has 123 such boxes in all), so the
`incorrectly_masked` recall on real photos rests on a small test set. {_hands_limit(meta)}

{examples_note(model)}
"""


def examples_note(model: str) -> str:
    """What the model says on the app's example photos (``tests/test_examples.py`` holds it to this)."""
    from .examples import KNOWN_WRONG

    known = KNOWN_WRONG.get(model, {})
    if not known:
        return (
            f"On the app's example photos it gives every face its class (`python -m maskxai.examples --check {model}`)."
        )
    listed = "; ".join(f"`{name}`: {why}" for name, why in known.items())
    return (
        f"On the app's example photos it gets {len(known)} face(s) wrong, shown on the page as they are "
        f"(`python -m maskxai.examples --check {model}`): {listed}."
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list_models(), required=True)
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--out", type=Path, default=None, help="default: checkpoints/")
    p.add_argument("--data", type=Path, default=DATA, help="folder with the datasets (default: ../shared/data)")
    a = p.parse_args(argv)
    out = a.out or checkpoints_dir()
    out.mkdir(parents=True, exist_ok=True)
    rows = run_evals(a.model, a.weights, a.data, errors_png=out / f"{a.model}_errors.png")
    (out / f"{a.model}.md").write_text(card(a.model, a.weights, rows))
    (out / f"{a.model}_eval.json").write_text(json.dumps(rows, indent=1))
    print(results_table(rows))


if __name__ == "__main__":
    main()
