"""Classification metrics shared by training and evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .registry import LABELS


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n: int = len(LABELS)) -> np.ndarray:
    """``n x n`` counts; rows are true labels, columns predictions."""
    m = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        m[t, p] += 1
    return m


def summarize(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """Accuracy, per-class recall, macro recall (over classes present) and the confusion matrix."""
    m = confusion(y_true, y_pred, len(labels))
    support = m.sum(axis=1)
    recall = {lab: (float(m[i, i] / support[i]) if support[i] else None) for i, lab in enumerate(labels)}
    present = [r for r in recall.values() if r is not None]
    n = int(m.sum())
    return {
        "accuracy": float(np.trace(m) / n) if n else 0.0,
        "macro_recall": float(np.mean(present)) if present else 0.0,
        "per_class": recall,
        "support": {lab: int(support[i]) for i, lab in enumerate(labels)},
        "confusion": m.tolist(),
        "n": n,
    }
