"""Synthetic rows for rare classes: a Gaussian copula fitted per class on the training rows it is given.

Why a copula: it keeps each column's own distribution exactly (new values are drawn from the class's empirical
quantiles, so they stay inside the observed range, and discrete columns only take values seen in the class)
and the rank correlations between columns, with nothing to train and no tuning; unlike SMOTE it does not only
fill the segments between neighbours, so it spreads a small class over the region its marginals span. Its
limits: dependence beyond pairwise rank correlation (e.g. a class made of two clusters) is lost, and one-hot
columns are drawn one by one (a row may hold two or no levels of one category); ordinal-coded categories, as the
tree learners and the mlp get them, are whole values.

The copula is fitted on the rows ``resample`` gives it: a training fold's, or the training split's for the refit.
Validation and test rows never reach it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DISCRETE_LEVELS", "GaussianCopula", "synthesise_minority"]

DISCRETE_LEVELS = 20  # a column with at most this many distinct values in a class is drawn from those values


@dataclass
class GaussianCopula:
    """A Gaussian copula over the columns of ``X``: empirical marginals, a shrunk correlation of normal scores.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.normal(size=50), rng.integers(0, 3, size=50)])
    >>> GaussianCopula(categorical=[1]).fit(X).sample(4, seed=0).shape
    (4, 2)
    """

    categorical: list[int] = field(default_factory=list)  # columns drawn only from their observed values
    columns_: list[Any] = field(default_factory=list, init=False, repr=False)  # sorted values per column
    discrete_: list[bool] = field(default_factory=list, init=False, repr=False)
    correlation_: Any = field(default=None, init=False, repr=False)

    def fit(self, X: np.ndarray) -> GaussianCopula:
        """Fit the marginals and the correlation of ``X`` (rows of one class; at least 2, all finite)."""
        import numpy as np
        from scipy.special import ndtri
        from scipy.stats import rankdata

        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 2:
            raise ValueError(f"a copula needs a table of at least 2 rows, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("a copula is fitted on finite values: impute missing values first")
        rows, width = X.shape
        categorical = set(self.categorical)
        self.columns_ = [np.sort(X[:, j]) for j in range(width)]
        self.discrete_ = [j in categorical or len(np.unique(X[:, j])) <= DISCRETE_LEVELS for j in range(width)]
        scores = ndtri(rankdata(X, axis=0) / (rows + 1))  # normal scores of the ranks (ties: mean rank)
        spread = scores.std(axis=0)
        varying = spread > 0
        correlation = np.eye(width)
        if varying.sum() > 1:
            correlation[np.ix_(varying, varying)] = np.corrcoef(scores[:, varying], rowvar=False)
        # shrink towards independence: a correlation of d columns estimated from few rows is noisy
        shrink = width / (rows + width)
        correlation = (1 - shrink) * correlation + shrink * np.eye(width)
        values, vectors = np.linalg.eigh(correlation)
        correlation = (vectors * np.clip(values, 1e-6, None)) @ vectors.T
        scale = np.sqrt(np.diag(correlation))
        self.correlation_ = correlation / np.outer(scale, scale)
        return self

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` new rows: correlated normal scores mapped through each column's empirical quantiles."""
        import numpy as np
        from scipy.special import ndtr

        if self.correlation_ is None:
            raise ValueError("this GaussianCopula is not fitted yet: call fit first")
        rng = np.random.default_rng(seed)
        width = len(self.columns_)
        normal = rng.multivariate_normal(np.zeros(width), self.correlation_, size=n, method="eigh")
        shares = ndtr(normal)
        out = np.empty((n, width))
        for j, values in enumerate(self.columns_):
            if self.discrete_[j]:
                out[:, j] = np.quantile(values, shares[:, j], method="inverted_cdf")
            else:
                out[:, j] = np.quantile(values, shares[:, j], method="linear")
        return out


def synthesise_minority(X: np.ndarray, y: np.ndarray, categorical: list[int], seed: int) -> tuple[Any, Any]:
    """``X``, ``y`` and, after them, synthetic rows of every class smaller than the largest, up to its count:
    one Gaussian copula per class, fitted on that class's rows of ``X`` only. Classes of one row are left as
    they are (a copula needs two)."""
    import numpy as np

    X = np.asarray(X)
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    majority = counts.max()
    new_X, new_y = [X], [y]
    for i, (label, count) in enumerate(zip(classes, counts, strict=True)):
        if count == majority or count < 2:
            continue
        copula = GaussianCopula(categorical=list(categorical)).fit(X[y == label])
        new_X.append(copula.sample(int(majority - count), seed=seed + i).astype(X.dtype, copy=False))
        new_y.append(np.full(int(majority - count), label, dtype=y.dtype))
    if len(new_X) == 1:
        return X, y
    return np.concatenate(new_X), np.concatenate(new_y)
