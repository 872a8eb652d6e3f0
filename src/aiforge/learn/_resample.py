"""Resampling of imbalanced classes before a fit: a searchable option of every classifier.

Each method brings every smaller class up to the majority's count, on the training rows of a fold, and on
the whole training split when the winner is refit. Validation rows and the fitted pipeline are never
resampled: predictions see the data as it is.

- ``smote`` interpolates between a minority row and one of its minority neighbours (SMOTE; SMOTE-NC when the
  encoded inputs hold ordinal-coded categories, SMOTE-N when they are all categorical, so that categories are
  never interpolated).
- ``adasyn`` interpolates likewise, but gives more new rows to minority rows whose neighbourhood is mostly
  other classes, the hard-to-learn ones (ADASYN, He et al., 2008); the categories of each new row are those of
  the nearest real row of its class. When no minority row has a neighbour of another class, ADASYN has
  nothing to weigh and the rows are left as they are.
- ``synthetic`` draws new rows from a Gaussian copula fitted on each class's rows (``aiforge.learn._synthetic``).

``none``, ``smote`` and ``adasyn`` are searched on imbalanced classes by default; ``model.resample`` in the
project file names the methods to search instead (``synthetic`` among them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiforge.spec import Resampler
from aiforge.spec._augment import RESAMPLERS

if TYPE_CHECKING:
    import numpy as np

__all__ = ["IMBALANCED_RATIO", "RESAMPLERS", "SEARCHED_RESAMPLERS", "Resampler", "is_imbalanced", "resample",
           "split_resample"]

SEARCHED_RESAMPLERS: tuple[Resampler, ...] = ("none", "smote", "adasyn")  # unless model.resample says otherwise
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
    """``X``, ``y`` with the minority classes oversampled to the majority's count by ``method``; the original
    rows come first, unchanged.

    Classes with too few rows to have neighbours (or, for ``synthetic``, to fit a copula) are left as they are.
    """
    if method == "none":
        return X, y
    if method not in RESAMPLERS:
        raise ValueError(f"unknown resample method {method!r}: expected one of {', '.join(RESAMPLERS)}")
    if method == "synthetic":
        from aiforge.learn._synthetic import synthesise_minority

        return synthesise_minority(X, y, categorical, seed)
    import numpy as np

    _, counts = np.unique(y, return_counts=True)
    small = counts[counts < counts.max()]
    if len(small) == 0 or small.min() < 2:
        return X, y  # nothing to oversample, or a class of one row: no neighbour to interpolate with
    neighbours = int(min(NEIGHBOURS, small.min() - 1))
    if method == "adasyn":
        return _adasyn(X, y, categorical, neighbours, seed)
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    if categorical and len(categorical) == X.shape[1]:
        sampler: Any = SMOTEN(k_neighbors=neighbours, random_state=seed)
    elif categorical:
        sampler = SMOTENC(categorical_features=categorical, k_neighbors=neighbours, random_state=seed)
    else:
        sampler = SMOTE(k_neighbors=neighbours, random_state=seed)
    return sampler.fit_resample(X, y)


def _adasyn(X: np.ndarray, y: np.ndarray, categorical: list[int], neighbours: int, seed: int) -> tuple[Any, Any]:
    """ADASYN over every column; then each new row's categorical columns are copied from the nearest real row of
    its class (by the numeric columns, standardised), so that no category is interpolated."""
    import numpy as np
    from imblearn.over_sampling import ADASYN
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X)
    numeric = [j for j in range(X.shape[1]) if j not in set(categorical)]
    if not numeric:
        raise ValueError("resample: adasyn interpolates numeric columns, and these inputs are all categorical: "
                         "use smote (SMOTE-N) or synthetic")
    try:
        X_new, y_new = ADASYN(n_neighbors=neighbours, random_state=seed).fit_resample(X, y)
    except RuntimeError as exc:  # imbalanced-learn: no minority row has a neighbour of another class
        if "neighbours belong to the majority" not in str(exc) and "neigbours belong" not in str(exc):
            raise
        return X, y
    except ValueError as exc:  # imbalanced-learn: the classes are too close in size for any new row
        if "No samples will be generated" not in str(exc):
            raise
        return X, y
    if not categorical or len(y_new) == len(y):
        return X_new, y_new
    new = np.arange(len(y), len(y_new))
    scale = X[:, numeric].std(axis=0)
    scale[scale == 0] = 1.0
    for label in np.unique(y_new[new]):
        real = np.flatnonzero(y == label)
        made = new[y_new[new] == label]
        finder = NearestNeighbors(n_neighbors=1).fit(X[real][:, numeric] / scale)
        nearest = real[finder.kneighbors(X_new[made][:, numeric] / scale, return_distance=False)[:, 0]]
        X_new[np.ix_(made, categorical)] = X[np.ix_(nearest, categorical)]
    return X_new, y_new
