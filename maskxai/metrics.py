"""Classification metrics shared by training and evaluation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .registry import LABELS


class Interval(NamedTuple):
    """A proportion ``k / n`` with its Wilson score interval ``[low, high]`` (JSON: ``[k, n, low, high]``)."""

    k: int
    n: int
    low: float
    high: float


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k / n`` (Wilson, 1927).

    Unlike the normal approximation ``p +- z sqrt(p(1-p)/n)`` it stays inside
    [0, 1] and does not collapse to a point at ``k = 0`` or ``k = n``: 18 of 19
    is about 75-99 %, not 95 +- 10 %.

    Args:
        k: Successes (e.g. faces of a class recognised), ``0 <= k <= n``.
        n: Trials (faces of that class), at least 1.
        z: Standard normal quantile; 1.96 gives the 95 % interval.

    Returns:
        ``(low, high)`` as fractions in [0, 1]; ``low`` is 0 at ``k = 0`` and ``high`` is 1 at ``k = n``.

    Raises:
        ValueError: If ``n < 1`` (no trials say nothing: callers report such a recall as missing, not as
            0-100 %), or ``k`` is not in ``[0, n]``.
    """
    if n < 1:
        raise ValueError(f"a Wilson interval needs at least one trial, got n={n}")
    if not 0 <= k <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got k={k}")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Exact ends where the formula meets them only up to rounding.
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def interval(k: int, n: int, z: float = 1.96) -> Interval | None:
    """``k / n`` with its Wilson interval, or ``None`` when ``n`` is 0."""
    return Interval(int(k), int(n), *wilson(int(k), int(n), z)) if n else None


def format_interval(iv: Sequence[float] | None, ci: str = "") -> str:
    """``"89.5 % (17/19, 68.6-97.1)"`` for an :class:`Interval` (or its JSON list); ``"-"`` for ``None``.

    ``ci`` goes before the range, e.g. ``"95 % CI "``.
    """
    if iv is None:
        return "-"
    k, n, low, high = iv
    return f"{100 * k / n:.1f} % ({k:.0f}/{n:.0f}, {ci}{100 * low:.1f}-{100 * high:.1f})"


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n: int = len(LABELS)) -> np.ndarray:
    """``n x n`` counts; rows are true labels, columns predictions."""
    m = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        m[t, p] += 1
    return m


def summarize(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """Accuracy, per-class recall, macro recall (over classes present) and the confusion matrix.

    Returns:
        A dict with ``accuracy``, ``macro_recall``, ``per_class`` (recall per label, ``None`` for a label
        with no faces), ``support``, ``confusion`` (rows: true labels), ``n`` and ``intervals``:
        ``{"per_class": {label: Interval | None}, "accuracy": Interval | None}``, each an
        :class:`Interval` ``(k, n, low, high)`` with the 95 % Wilson interval.
    """
    m = confusion(y_true, y_pred, len(labels))
    support = m.sum(axis=1)
    recall = {lab: (float(m[i, i] / support[i]) if support[i] else None) for i, lab in enumerate(labels)}
    present = [r for r in recall.values() if r is not None]
    n = int(m.sum())
    hits = int(np.trace(m))
    return {
        "accuracy": float(hits / n) if n else 0.0,
        "macro_recall": float(np.mean(present)) if present else 0.0,
        "per_class": recall,
        "support": {lab: int(support[i]) for i, lab in enumerate(labels)},
        "confusion": m.tolist(),
        "n": n,
        "intervals": {
            "per_class": {lab: interval(m[i, i], support[i]) for i, lab in enumerate(labels)},
            "accuracy": interval(hits, n),
        },
    }
