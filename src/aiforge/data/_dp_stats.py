"""Differentially private aggregate statistics for data profiles: counts, bounded means, histograms, quantiles.

Every release adds noise calibrated to its sensitivity and its share of a privacy budget epsilon
(Dwork, McSherry, Nissim & Smith 2006). Two tables are *neighbours* when they differ in one row
replaced by another (bounded differential privacy: the row count is public), the convention of the
DP learners in ``aiforge.learn``. Sensitivities under it:

- a count of rows meeting a condition changes by at most 1: Laplace noise of scale ``1/epsilon``;
- a mean of values clipped to ``[lower, upper]`` over ``n`` rows by at most ``(upper - lower)/n``;
- a histogram (each row in one bin) by at most 2 in L1 (one bin loses a row, another gains it);
- a quantile chosen among a fixed grid by the exponential mechanism (McSherry & Talwar 2007)
  with utility ``-|rank - q n|``, of sensitivity 1.

Bounds and bins must come from knowledge about the domain, never from the data itself: bounds
read off the data leak its extremes. Pure numpy; ``rng`` is a ``numpy.random.Generator`` (fresh OS
entropy when omitted: noise an attacker can regenerate from a known seed protects nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "PrivacyLedger",
    "dp_column_profile",
    "dp_count",
    "dp_histogram",
    "dp_mean",
    "dp_quantile",
    "log_grid",
]


@dataclass
class PrivacyLedger:
    """The privacy spent by each release and in total (basic composition: epsilons and deltas add up)."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def spend(self, statistic: str, epsilon: float, delta: float = 0.0) -> None:
        self.entries.append({"statistic": statistic, "epsilon": float(epsilon), "delta": float(delta)})

    @property
    def epsilon(self) -> float:
        return float(sum(e["epsilon"] for e in self.entries))

    @property
    def delta(self) -> float:
        return float(sum(e["delta"] for e in self.entries))

    def to_json(self) -> dict[str, Any]:
        return {"statistics": list(self.entries), "epsilon": self.epsilon, "delta": self.delta}


def _generator(rng: np.random.Generator | None) -> np.random.Generator:
    import numpy as np

    return rng if rng is not None else np.random.default_rng()


def _check_epsilon(epsilon: float, where: str) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(f"The 'epsilon' parameter of {where} must be a finite number > 0. Got {epsilon!r} instead: "
                         "pass the share of the privacy budget this statistic may spend, e.g. 0.1.")
    return float(epsilon)


def _check_bounds(lower: float, upper: float, where: str) -> tuple[float, float]:
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lower, upper))
    if not ok or not lower < upper:
        raise ValueError(f"The bounds of {where} must be finite numbers with lower < upper. Got lower={lower!r}, "
                         f"upper={upper!r} instead: give the range the values can take from knowledge of the "
                         "domain (e.g. age 0..120), not from the data.")
    return float(lower), float(upper)


def _numbers(values: Any, where: str) -> np.ndarray:
    import numpy as np

    try:
        array = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} needs numeric values; got values of type {np.asarray(values).dtype}: "
                         "pass a numeric column (missing values as NaN).") from exc
    return array


def dp_count(values: Any, epsilon: float, *, rng: np.random.Generator | None = None) -> float:
    """The number of true entries of ``values`` (a boolean mask, e.g. ``column.isna()``) plus Laplace
    noise of scale ``1/epsilon``; unbiased, and may be negative or fractional (round if needed)."""
    import numpy as np

    eps = _check_epsilon(epsilon, "dp_count")
    count = float(np.count_nonzero(np.asarray(values, dtype=bool)))
    return count + float(_generator(rng).laplace(0.0, 1.0 / eps))


def dp_mean(values: Any, lower: float, upper: float, epsilon: float, *,
            rng: np.random.Generator | None = None) -> float:
    """The mean of ``values`` clipped to ``[lower, upper]`` plus Laplace noise of scale
    ``(upper - lower) / (n epsilon)``. Missing values (NaN) count as ``lower``'s and ``upper``'s midpoint,
    so that the row count stays public; the result is unbiased for the clipped mean."""
    import numpy as np

    eps = _check_epsilon(epsilon, "dp_mean")
    lo, hi = _check_bounds(lower, upper, "dp_mean")
    array = _numbers(values, "dp_mean")
    if array.size == 0:
        raise ValueError("dp_mean needs at least one value; got an empty column.")
    filled = np.where(np.isnan(array), (lo + hi) / 2, array)
    mean = float(np.clip(filled, lo, hi).mean())
    return mean + float(_generator(rng).laplace(0.0, (hi - lo) / (array.size * eps)))


def dp_histogram(values: Any, bins: Any, epsilon: float, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Counts per bin plus Laplace noise of scale ``2/epsilon`` on each (one replaced row moves one
    count out of a bin and into another). ``bins``: increasing numeric edges (values outside fall in
    the first or last bin) or, for a categorical column, the list of its possible categories, known a
    priori (values that are none of them are not counted)."""
    import numpy as np

    eps = _check_epsilon(epsilon, "dp_histogram")
    edges = np.asarray(bins)
    numeric = edges.dtype.kind in "iuf"
    if edges.ndim != 1 or edges.size < (2 if numeric else 1):
        raise ValueError(f"dp_histogram needs at least two bin edges (numeric) or one category; got {bins!r}.")
    if numeric:
        edges = edges.astype(float)
        if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            raise ValueError(f"dp_histogram's bin edges must be finite and strictly increasing; got {bins!r}.")
        array = _numbers(values, "dp_histogram")
        array = array[~np.isnan(array)]
        which = np.clip(np.searchsorted(edges, array, side="right") - 1, 0, edges.size - 2)
        counts = np.bincount(which, minlength=edges.size - 1).astype(float)
    else:
        labels = np.asarray(values, dtype=object)
        counts = np.array([float(np.count_nonzero(labels == c)) for c in edges.tolist()])
    return counts + _generator(rng).laplace(0.0, 2.0 / eps, size=counts.size)


def log_grid(low: float = 1e-3, high: float = 1e9, per_decade: int = 10) -> np.ndarray:
    """A data-independent grid of candidate values for ``dp_quantile``: 0 and ``+-`` powers of ten
    from ``low`` to ``high``, ``per_decade`` points per decade."""
    import numpy as np

    if not 0 < low < high or per_decade < 1:
        raise ValueError(f"log_grid needs 0 < low < high and per_decade >= 1; got {low!r}, {high!r}, {per_decade!r}.")
    decades = math.log10(high) - math.log10(low)
    positive = np.logspace(math.log10(low), math.log10(high), int(round(decades * per_decade)) + 1)
    return np.concatenate([-positive[::-1], [0.0], positive])


def dp_quantile(values: Any, q: float, epsilon: float, grid: Any = None, *,
                rng: np.random.Generator | None = None) -> float:
    """The point of ``grid`` (default ``log_grid()``) whose rank is closest to the ``q``-quantile's,
    picked by the exponential mechanism: pure epsilon-DP, accurate to the grid's resolution when the
    column has enough rows (the error in rank is about ``2 log(len(grid)) / epsilon``)."""
    import numpy as np

    eps = _check_epsilon(epsilon, "dp_quantile")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"The 'q' parameter of dp_quantile must be in [0, 1]. Got {q!r} instead.")
    candidates = np.sort(np.asarray(log_grid() if grid is None else grid, dtype=float))
    if candidates.size < 1 or not np.all(np.isfinite(candidates)):
        raise ValueError("dp_quantile's grid must hold finite candidate values, fixed before looking at the data.")
    array = _numbers(values, "dp_quantile")
    array = np.sort(array[~np.isnan(array)])
    ranks = np.searchsorted(array, candidates, side="right")  # rows <= each candidate
    utility = -np.abs(ranks - q * array.size)
    logits = eps * utility / 2.0
    weights = np.exp(logits - logits.max())
    pick = _generator(rng).choice(candidates.size, p=weights / weights.sum())
    return float(candidates[pick])


def dp_column_profile(values: Any, lower: float, upper: float, epsilon: float, *, bins: int = 10,
                      rng: np.random.Generator | None = None) -> dict[str, Any]:
    """A numeric column's profile under one budget ``epsilon``, split in three equal shares: the count
    of missing values, the mean (clipped to the bounds) and a histogram of ``bins`` equal bins
    between the bounds. Returns the figures and the ledger of what each spent."""
    import numpy as np

    eps = _check_epsilon(epsilon, "dp_column_profile")
    lo, hi = _check_bounds(lower, upper, "dp_column_profile")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"The 'bins' parameter of dp_column_profile must be an int >= 1. Got {bins!r} instead.")
    gen = _generator(rng)
    array = _numbers(values, "dp_column_profile")
    share = eps / 3
    ledger = PrivacyLedger()
    missing = dp_count(np.isnan(array), share, rng=gen)
    ledger.spend("missing_count", share)
    mean = dp_mean(array, lo, hi, share, rng=gen)
    ledger.spend("mean", share)
    edges = np.linspace(lo, hi, bins + 1)
    counts = dp_histogram(np.clip(array, lo, hi), edges, share, rng=gen)
    ledger.spend("histogram", share)
    return {"n_rows": int(array.size), "missing": missing, "mean": mean,
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
            "bounds": [lo, hi], "privacy": ledger.to_json()}
