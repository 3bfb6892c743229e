"""Explanation methods; each returns an :class:`Explanation` at the input's resolution."""

from .base import Explanation, PixelModel
from .baselines import BASELINES, make_baseline
from .gradcam import grad_cam, grad_cam_and_gradients
from .gradients import input_gradients
from .integrated_gradients import MAX_STEPS, MIN_STEPS, integrated_gradients

__all__ = [
    "BASELINES",
    "MAX_STEPS",
    "MIN_STEPS",
    "Explanation",
    "PixelModel",
    "grad_cam",
    "grad_cam_and_gradients",
    "input_gradients",
    "integrated_gradients",
    "make_baseline",
]
