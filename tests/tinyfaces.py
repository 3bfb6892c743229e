"""Generated stand-ins for dataset faces: flat-coloured unmasked "faces" and five landmarks to draw masks on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from maskxai.data import Sample

LM = [[70, 80], [130, 80], [100, 115], [78, 140], [122, 140]]  # eyes, nose, mouth corners of a 200 x 220 face


def faces(tmp: Path, n: int) -> list[Sample]:
    """``n`` unmasked 200 x 220 faces of random flat colours, written to ``tmp``."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        p = tmp / f"face{i}.png"
        Image.new("RGB", (200, 220), tuple(int(c) for c in rng.integers(120, 230, 3))).save(p)
        out.append(Sample(p, "not_masked"))
    return out
