"""maskxai: face-mask classifiers with Grad-CAM, input gradients and Integrated Gradients."""

from .registry import LABELS, ModelSpec, get_spec, list_models, register
from .weights import LoadedModel, load_model

__all__ = ["LABELS", "LoadedModel", "ModelSpec", "get_spec", "list_models", "load_model", "register"]
