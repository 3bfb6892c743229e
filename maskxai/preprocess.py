"""The one preprocessing path from a face crop to a model input.

The app, evaluation and the benchmark call :func:`to_input`; training applies
its augmentations to the PIL crop first and then calls :func:`to_input` too.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .registry import ModelSpec, normalize


def resize_face(face: Image.Image, spec: ModelSpec) -> Image.Image:
    """The face crop at the model's square input size (RGB)."""
    s = spec.input_size
    face = face.convert("RGB")
    if face.size != (s, s):
        face = face.resize((s, s), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return face


def pixels(face: Image.Image, spec: ModelSpec) -> torch.Tensor:
    """``(1, 3, S, S)`` float tensor in [0, 1] (pixel space: baselines are built here)."""
    a = np.asarray(resize_face(face, spec), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_input(face: Image.Image, spec: ModelSpec) -> torch.Tensor:
    """``(1, 3, S, S)`` normalised model input for a face crop."""
    return normalize(pixels(face, spec), spec)
