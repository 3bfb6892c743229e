"""Class offsets held to a ship rule's floors, for each mix of a soup (measured 2026-12-07, not shipped: see
docs/experiments.md, "Round 11 on a larger validation, and class offsets held to the floors").

For each alpha, the mix ``(1 - alpha) x BEFORE + alpha x AFTER`` (alpha 0: BEFORE alone; no AFTER: BEFORE only) is
scored on the val sets, and :func:`maskxai.calibrate.search_offsets` picks the offsets with the best ``--select``
score among those that keep each ``--also`` rule within 0.005 of BEFORE's own score (no offsets). Validation logits
are kept in ``--cache DIR`` per alpha.

    PYTHONPATH=. python scripts/soup_offsets.py --model inception_resnet_v1 \\
        --before checkpoints/inception_resnet_v1.safetensors --after runs/irv1_r11/mean.safetensors \\
        --alphas 0,0.6,0.7,0.8,0.9 --select "$R9" --also "$SELV" --also "$COLOUR"
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from maskxai.calibrate import fast_metrics, load_cache, save_cache, search_offsets, val_key, val_logits
from maskxai.registry import get_spec, list_models
from maskxai.soup import average_states
from maskxai.train import TrainConfig, selection_score
from maskxai.trainset import fixed_eval_set


def main() -> None:
    d = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list_models(), required=True)
    p.add_argument("--before", type=Path, required=True)
    p.add_argument("--after", type=Path)
    p.add_argument("--alphas", default="0")
    p.add_argument("--select", required=True)
    p.add_argument("--also", action="append", default=[], help="a floor's rule: BEFORE's score less 0.005")
    p.add_argument("--val-views", default="video")
    p.add_argument("--val-size", default="large")
    p.add_argument("--cache", type=Path, default=Path("runs/soup_offsets"))
    p.add_argument("--data", default=d.data)
    p.add_argument("--landmarks", default=d.landmarks)
    a = p.parse_args()
    spec = get_spec(a.model)
    before = load_file(str(a.before))
    after = load_file(str(a.after)) if a.after else before
    key = hashlib.sha256(a.before.read_bytes() + (a.after.read_bytes() if a.after else b"")).hexdigest()[:16]
    model, val, floors = spec.build().eval(), None, None
    for alpha in [float(x) for x in a.alphas.split(",")]:
        digest = f"{key}:{alpha:g}:{val_key(a.val_views, a.val_size)}"
        cache = a.cache / f"{a.model}_{key}_{alpha:g}.npz"
        logits = load_cache(cache, digest)
        if logits is None:
            if val is None:
                val = fixed_eval_set(Path(a.data), Path(a.landmarks), "val", views=a.val_views, size=a.val_size)
            model.load_state_dict(average_states(before, after, alpha))
            logits = val_logits(model, spec, val)
            save_cache(cache, digest, logits)
        plain = {n: fast_metrics(lg, y, np.zeros(len(spec.labels))) for n, (lg, y) in logits.items()}
        if floors is None:  # the first alpha is BEFORE's own (give 0 first)
            floors = [(rule, selection_score(plain, rule) - 0.005) for rule in a.also]
            print("floors: " + ", ".join(f"{v:.4f}" for _, v in floors))
        offsets, score = search_offsets(logits, a.select, 3.0, 0.1, floors)
        held = {n: fast_metrics(lg, y, offsets) for n, (lg, y) in logits.items()}
        beside = " ".join(f"{selection_score(held, rule):.4f}" for rule in a.also)
        hanging = ""
        if "synthetic-hanging" in logits:
            y = logits["synthetic-hanging"][1]
            hanging = f", synthetic-hanging {round(held['synthetic-hanging']['accuracy'] * len(y))}/{len(y)}"
        print(
            f"alpha {alpha:g}: offsets {offsets.round(2).tolist()}, --select {score:.4f} "
            f"(no offsets {selection_score(plain, a.select):.4f}), --also {beside}{hanging}"
        )


if __name__ == "__main__":
    main()
