"""Do bare val faces get called "worn incorrectly" because of the margin ``pad_face`` adds, or in spite of it?

``PYTHONPATH=. python scripts/margin_false_alarms.py inception_resnet_v1 inception_resnet_v1=runs/x/best.safetensors``
(``model`` alone: the shipped weights; ``model=weights``: those): the unmasked faces of the ``synthetic-real`` val
set (the same faces and seeds as training's validation) are padded three ways: edges stretched (as in training and
validation), mirrored, or a flat colour (the face's mean), each blurred the same way; each model's calls are counted.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numpy as np
import torch

import maskxai.trainset as ts
from maskxai.preprocess import to_input
from maskxai.realmasks import PAD_FILLS, pad_face
from maskxai.registry import LABELS
from maskxai.train import TrainConfig
from maskxai.weights import load_model


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="MODEL or MODEL=WEIGHTS")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    cfg = TrainConfig()
    src = next(s for s in ts.standard_sources(Path(cfg.data), Path(cfg.landmarks), "val") if s.synthetic is not None)
    shares = {f"real_{k}": v for k, v in ts.PLACEMENT_P.items() if k in ts.PLACEMENT_LABEL}
    loaded = {m: load_model(*(m.split("=", 1) if "=" in m else (m, None))) for m in args.models}
    try:
        for mode in PAD_FILLS:
            ts.pad_face = partial(pad_face, fill=mode)  # what synth_sample pads with
            faces = []
            for i, s in enumerate(src.items[:300]):  # fixed_eval_set's synthetic-real draws
                rng = np.random.default_rng([98, i])
                img, lab = ts.synth_sample(ts.load_face(s), src.synthetic[str(s.path)], rng, shares)
                if lab == "not_masked":
                    faces.append(img)
            cells = []
            for name, m in loaded.items():
                with torch.no_grad():
                    x = torch.cat([to_input(im, m.spec) for im in faces])
                    pred = torch.cat([m.model(x[k : k + 32]) for k in range(0, len(x), 32)]).argmax(1).numpy()
                right = int((pred == LABELS.index("not_masked")).sum())
                wrong = int((pred == LABELS.index("incorrectly_masked")).sum())
                cells.append(f"{name}: no mask {right}/{len(faces)}, 'worn incorrectly' {wrong}")
            print(f"{mode:9s} | " + " | ".join(cells), flush=True)
    finally:
        ts.pad_face = pad_face


if __name__ == "__main__":
    main()
