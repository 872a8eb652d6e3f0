"""Resampling of imbalanced classes before a fit: a searchable option of every classifier.

``resample: smote`` synthesises minority-class rows (SMOTE; SMOTE-NC when the encoded inputs
hold ordinal-coded categories, so that categories are never interpolated) on the training rows of
a fold, and on the whole training split when the winner is refit. Validation rows and the fitted
pipeline are never resampled: predictions see the data as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["IMBALANCED_RATIO", "RESAMPLERS", "is_imbalanced", "resample", "split_resample"]

RESAMPLERS = ("none", "smote")
IMBALANCED_RATIO = 0.25  # the rarest class below this share of the commonest: resampling is searched
NEIGHBOURS = 5


def is_imbalanced(y: np.ndarray) -> bool:
    """Whether the rarest class has fewer than ``IMBALANCED_RATIO`` times the rows of the commonest."""
    import numpy as np

    _, counts = np.unique(y, return_counts=True)
    return len(counts) > 1 and counts.min() < IMBALANCED_RATIO * counts.max()


def split_resample(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The resampling method of a configuration, and the rest of it (the estimator's parameters)."""
    rest = dict(params)
    method = rest.pop("resample", "none")
    if method not in RESAMPLERS:
        raise ValueError(f"unknown resample method {method!r}: expected one of {', '.join(RESAMPLERS)}")
    return method, rest


def resample(method: str, X: np.ndarray, y: np.ndarray, categorical: list[int], seed: int) -> tuple[Any, Any]:
    """``X``, ``y`` with the minority classes oversampled to the majority's count (``method: smote``).

    Classes with too few rows to have neighbours are left as they are.
    """
    if method == "none":
        return X, y
    import numpy as np

    classes, counts = np.unique(y, return_counts=True)
    majority = counts.max()
    small = counts[counts < majority]
    if len(small) == 0 or small.min() < 2:
        return X, y  # nothing to oversample, or a class of one row: no neighbour to interpolate with
    neighbours = int(min(NEIGHBOURS, small.min() - 1))
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    if categorical and len(categorical) == X.shape[1]:
        sampler: Any = SMOTEN(k_neighbors=neighbours, random_state=seed)
    elif categorical:
        sampler = SMOTENC(categorical_features=categorical, k_neighbors=neighbours, random_state=seed)
    else:
        sampler = SMOTE(k_neighbors=neighbours, random_state=seed)
    return sampler.fit_resample(X, y)
