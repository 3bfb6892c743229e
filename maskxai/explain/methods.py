"""The method table: registry name -> :class:`Method`. The pipeline, the page, the API
and ``maskxai.xaieval`` loop over it.

Adding a method is one file (a function ``Context -> Explanation`` and its
``METHOD`` row) plus one ``register_method`` line below.
"""

from __future__ import annotations

import importlib

import torch

from .base import Context, ExplainSettings, Explanation, Method, PixelModel, Progress, resolve_target

METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to the table (its name must be new) and return it."""
    if method.name in METHODS:
        raise ValueError(f"explanation method {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def _row(module: str) -> Method:
    """The ``METHOD`` row of ``maskxai.explain.<module>``."""
    return importlib.import_module(f"{__package__}.{module}").METHOD  # type: ignore[no-any-return]


register_method(_row("layercam"))  # first: the most faithful CAM measured (docs/xai_measured.md)
register_method(_row("gradcam"))
register_method(_row("gradients"))
register_method(_row("integrated_gradients"))
register_method(_row("gradcampp"))
register_method(_row("smoothgrad"))
register_method(_row("smoothgrad_ig"))
register_method(_row("occlusion"))


def list_methods() -> list[str]:
    """Names of all registered methods, in registration order."""
    return list(METHODS)


def default_methods() -> list[str]:
    """The methods shown unless the user picks others (LayerCAM, Grad-CAM, gradients, IG)."""
    return [m.name for m in METHODS.values() if m.default]


def get_method(name: str) -> Method:
    """The method registered as ``name``.

    Raises:
        ValueError: Unknown name; the message lists the valid ones.
    """
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown explanation method {name!r}; choose from {list_methods()}") from None


def fast_first(names: list[str]) -> list[str]:
    """``names`` with the one-pass methods first (each group keeps its order)."""
    return sorted(names, key=lambda n: get_method(n).slow)


def run_method(
    name: str,
    pm: PixelModel,
    pixels: torch.Tensor,
    target: int | None = None,
    settings: ExplainSettings | None = None,
    progress: Progress | None = None,
) -> Explanation:
    """One method on one image (for many methods on the same face use :func:`maskxai.pipeline.explain`,
    which shares passes between them).

    Raises:
        ValueError: Unknown method, bad input, class or settings.
    """
    method = get_method(name)
    ctx = Context(pm, pixels, resolve_target(pm, pixels, target), settings or ExplainSettings(), progress)
    return method.fn(ctx)
