"""Explanation methods; each returns an :class:`Explanation` at the input's resolution.

:data:`METHODS` is the table of methods (see :mod:`maskxai.explain.methods`).
"""

from .base import MAX_STEPS, MIN_STEPS, Context, ExplainSettings, Explanation, Method, PixelModel
from .baselines import BASELINES, make_baseline
from .gradcam import grad_cam, grad_cam_and_gradients
from .gradients import input_gradients
from .integrated_gradients import integrated_gradients
from .methods import METHODS, default_methods, get_method, list_methods, register_method, run_method

__all__ = [
    "BASELINES",
    "MAX_STEPS",
    "METHODS",
    "MIN_STEPS",
    "Context",
    "ExplainSettings",
    "Explanation",
    "Method",
    "PixelModel",
    "default_methods",
    "get_method",
    "grad_cam",
    "grad_cam_and_gradients",
    "input_gradients",
    "integrated_gradients",
    "list_methods",
    "make_baseline",
    "register_method",
    "run_method",
]
