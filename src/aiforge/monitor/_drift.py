"""Drift of a window of production data against a version's stored reference (``data.ReferenceProfile``).

Per column, one pass counts the window into the reference's bins (numbers) or categories; every measure
comes from those counts:

- numbers: PSI (ten coarse equal-frequency bins of the reference), Jensen–Shannon distance (base 2, in
  [0, 1]), Kolmogorov–Smirnov distance with its asymptotic p-value, and the Wasserstein distance divided
  by the reference's standard deviation;
- categories: PSI, Jensen–Shannon distance and the chi-squared test of the two frequency tables; values
  the reference never saw (or saw too rarely to keep) count as one "other" category, and their share is
  reported.

A column drifts only when its effect size is at least the threshold **and** the test is significant:
on a window of a million rows every test is significant, and the effect size keeps trivial shifts
from being flagged; on a window of fifty rows a large-looking effect is often noise, which the test
catches. ``domain_classifier`` adds the multivariate test: a model that tells reference rows from
window rows; its cross-validated AUC is near 0.5 when nothing changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.data import CategoricalReference, NumericReference, ReferenceProfile, bin_counts, category_counts

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["DriftSettings", "ColumnDrift", "DriftReport", "column_drift", "detect_drift", "domain_classifier"]

EPSILON = 1e-4  # smoothing of empty bins in PSI
PSI_BINS = 10
METHODS = ("auto", "psi", "jensen_shannon", "wasserstein", "ks")


@dataclass(frozen=True)
class DriftSettings:
    """``method``: the effect size that decides (``auto``: Wasserstein / std for numbers, Jensen–Shannon
    for categories; or ``psi``, ``jensen_shannon``, ``wasserstein`` (numbers only; categories then use
    Jensen–Shannon) or ``ks``); ``threshold``: its minimum to flag drift (None: 0.1, for PSI 0.2);
    ``alpha``: the significance level of the test."""

    method: str = "auto"
    threshold: float | None = None
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"The 'method' setting must be one of {', '.join(METHODS)}. Got {self.method!r} instead.")

    def rule(self, kind: str) -> tuple[str, float]:
        method = self.method
        if method == "auto" or (method == "wasserstein" and kind == "categorical") or (
                method == "ks" and kind == "categorical"):
            method = "wasserstein" if kind == "numeric" else "jensen_shannon"
        default = 0.2 if method == "psi" else 0.1
        return method, self.threshold if self.threshold is not None else default


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    kind: str
    reference_rows: int
    window_rows: int
    missing_reference: float  # share of missing values
    missing_window: float
    psi: float
    jensen_shannon: float
    p_value: float  # Kolmogorov–Smirnov (numbers) or chi-squared (categories)
    test: str
    ks: float | None = None
    wasserstein: float | None = None  # divided by the reference's standard deviation
    unseen_share: float | None = None  # categories: the window's share of values the reference did not keep
    method: str = ""
    effect: float = 0.0
    threshold: float = 0.0
    drifted: bool = False
    histogram: dict[str, Any] = field(default_factory=dict)  # for plots: bins (or categories) and both shares

    def to_json(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in vars(self).items()}


@dataclass(frozen=True)
class DriftReport:
    rows: int
    columns: list[ColumnDrift]
    prediction: ColumnDrift | None
    settings: DriftSettings
    domain: dict[str, Any] | None = None

    @property
    def drifted(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    @property
    def share_drifted(self) -> float:
        return len(self.drifted) / len(self.columns) if self.columns else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "drifted": self.drifted, "share_drifted": round(self.share_drifted, 4),
                "columns": [c.to_json() for c in self.columns],
                "prediction": self.prediction.to_json() if self.prediction else None,
                "settings": vars(self.settings), "domain": self.domain}


def detect_drift(reference: ReferenceProfile, window: Any, *, prediction: Any = None,
                 settings: DriftSettings | None = None, threads: int | None = None) -> DriftReport:
    """Drift of ``window`` (a DataFrame or an Arrow table holding the reference's columns) and of
    ``prediction`` (the window's model outputs, if any) against ``reference``. Columns are measured on a
    pool of threads (NumPy and Arrow release the GIL while they count)."""
    from concurrent.futures import ThreadPoolExecutor

    settings = settings or DriftSettings()
    names = [n for n in reference.columns if n in _names(window)]
    rows = _rows(window)

    def one(name: str) -> ColumnDrift:
        return column_drift(reference.columns[name], _column(window, name), settings)

    with ThreadPoolExecutor(threads or min(8, max(1, len(names)))) as pool:
        columns = list(pool.map(one, names))
    predicted = None
    if prediction is not None and reference.prediction is not None:
        predicted = column_drift(reference.prediction, prediction, settings)
    return DriftReport(rows=rows, columns=columns, prediction=predicted, settings=settings)


def column_drift(reference: NumericReference | CategoricalReference, values: Any,
                 settings: DriftSettings) -> ColumnDrift:
    if isinstance(reference, NumericReference):
        return _numeric(reference, values, settings)
    return _categorical(reference, values, settings)


def _numeric(ref: NumericReference, values: Any, settings: DriftSettings) -> ColumnDrift:
    import numpy as np
    from scipy.stats import kstwobign

    array = _floats(values)
    finite = array[np.isfinite(array)]
    n, m = ref.count, len(finite)
    missing_window = (len(array) - m) / len(array) if len(array) else 0.0
    missing_reference = ref.missing / (ref.count + ref.missing) if ref.count + ref.missing else 0.0
    r = np.asarray(ref.counts, dtype=float)
    w = bin_counts(finite, ref.edges).astype(float) if m else np.zeros_like(r)
    p = r / r.sum() if r.sum() else r
    q = w / w.sum() if w.sum() else w
    ks = float(np.max(np.abs(np.cumsum(p) - np.cumsum(q)))) if m and n else 0.0
    p_value = float(kstwobign.sf(ks * math.sqrt(n * m / (n + m)))) if m and n else 1.0
    wasserstein = _wasserstein(ref, p, q, finite) if m and n else 0.0
    coarse = _coarse(p, q)
    result: dict[str, Any] = {
        "psi": _psi(*coarse), "jensen_shannon": _js(p, q), "ks": ks, "wasserstein": wasserstein,
    }
    hist = {"edges": ref.edges, "low": ref.low, "high": ref.high,
            "reference": [round(float(v), 6) for v in p], "window": [round(float(v), 6) for v in q]}
    return _decide(ref.name, "numeric", n, m, missing_reference, missing_window, result, p_value,
                   "Kolmogorov–Smirnov", settings, hist)


def _categorical(ref: CategoricalReference, values: Any, settings: DriftSettings) -> ColumnDrift:
    import numpy as np
    from scipy.stats import chi2_contingency

    counts, missing = category_counts(values)
    kept = list(ref.frequencies)
    window_kept = [counts.get(k, 0) for k in kept]
    window_other = sum(counts.values()) - sum(window_kept)
    r = np.asarray([*ref.frequencies.values(), ref.other], dtype=float)
    w = np.asarray([*window_kept, window_other], dtype=float)
    n, m = int(r.sum()), int(w.sum())
    p = r / n if n else r
    q = w / m if m else w
    present = (r + w) > 0
    if n and m and present.sum() > 1:
        p_value = float(chi2_contingency(np.vstack([r[present], w[present]]))[1])
    else:
        p_value = 1.0
    result = {"psi": _psi(p, q), "jensen_shannon": _js(p, q)}
    labels = [*kept, "(other)"]
    hist = {"categories": labels, "reference": [round(float(v), 6) for v in p],
            "window": [round(float(v), 6) for v in q]}
    total = m + missing
    return _decide(ref.name, "categorical", n, m, ref.missing / (n + ref.missing) if n + ref.missing else 0.0,
                   missing / total if total else 0.0, result, p_value, "chi-squared", settings, hist,
                   unseen_share=window_other / m if m else 0.0)


def _decide(name: str, kind: str, n: int, m: int, missing_reference: float, missing_window: float,
            measures: dict[str, float], p_value: float, test: str, settings: DriftSettings,
            histogram: dict[str, Any], unseen_share: float | None = None) -> ColumnDrift:
    method, threshold = settings.rule(kind)
    effect = float(measures[method])
    drifted = bool(m > 0 and effect >= threshold and p_value < settings.alpha)
    return ColumnDrift(
        name=name, kind=kind, reference_rows=n, window_rows=m, missing_reference=round(missing_reference, 6),
        missing_window=round(missing_window, 6), psi=round(measures["psi"], 6),
        jensen_shannon=round(measures["jensen_shannon"], 6), p_value=p_value, test=test,
        ks=round(measures["ks"], 6) if "ks" in measures else None,
        wasserstein=round(measures["wasserstein"], 6) if "wasserstein" in measures else None,
        unseen_share=None if unseen_share is None else round(unseen_share, 6), method=method,
        effect=round(effect, 6), threshold=threshold, drifted=drifted, histogram=histogram,
    )


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    import numpy as np

    a, b = np.clip(p, EPSILON, None), np.clip(q, EPSILON, None)
    return float(np.sum((b - a) * np.log(b / a)))


def _js(p: np.ndarray, q: np.ndarray) -> float:
    """The Jensen–Shannon distance (the square root of the divergence), base 2: 0 same, 1 disjoint."""
    import numpy as np

    if not p.sum() or not q.sum():
        return 0.0
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / mid), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / mid), 0.0).sum()
    return float(math.sqrt(max(0.0, (kl_p + kl_q) / 2)))


def _coarse(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fine bins merged into about ``PSI_BINS`` groups of equal reference mass."""
    import numpy as np

    groups = np.minimum((np.cumsum(p) - p / 2) * PSI_BINS, PSI_BINS - 1).astype(int) if p.sum() else \
        np.zeros(len(p), dtype=int)
    return (np.bincount(groups, weights=p, minlength=PSI_BINS), np.bincount(groups, weights=q, minlength=PSI_BINS))


def _wasserstein(ref: NumericReference, p: np.ndarray, q: np.ndarray, finite: np.ndarray) -> float:
    """W1 between the two distributions, from their quantile functions (linear within each bin), divided
    by the reference's standard deviation."""
    import numpy as np

    edges = np.asarray(ref.edges, dtype=float)
    levels = (np.arange(400) + 0.5) / 400

    def quantiles(shares: np.ndarray, low: float, high: float) -> np.ndarray:
        xs = np.concatenate([[min(low, edges[0]) if len(edges) else low], edges,
                             [max(high, edges[-1]) if len(edges) else high]])
        cdf = np.concatenate([[0.0], np.cumsum(shares)])
        cdf[-1] = 1.0
        keep = np.concatenate([[True], np.diff(cdf) > 0])  # np.interp needs increasing x
        return np.interp(levels, cdf[keep], xs[keep])

    distance = float(np.mean(np.abs(quantiles(p, ref.low, ref.high) - quantiles(q, float(finite.min()),
                                                                               float(finite.max())))))
    scale = ref.std if ref.std and math.isfinite(ref.std) and ref.std > 0 else 1.0
    return distance / scale


def domain_classifier(reference: pd.DataFrame, window: pd.DataFrame, *, categorical: list[str], seed: int = 0,
                      folds: int = 3, threshold: float = 0.6) -> dict[str, Any]:
    """The multivariate test: can a model tell ``reference`` rows from ``window`` rows? The
    cross-validated ROC AUC (0.5: indistinguishable), drift when it reaches ``threshold``, and the columns
    the model leaned on most (where to look first)."""
    import numpy as np
    import pandas as pd
    from lightgbm import LGBMClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    columns = [c for c in reference.columns if c in window.columns]
    n = min(len(reference), len(window))
    if n < 20:
        return {"auc": None, "drifted": False, "rows": n, "note": "fewer than 20 rows on a side"}
    both = pd.concat([reference[columns].sample(n=n, random_state=seed),
                      window[columns].sample(n=n, random_state=seed)], ignore_index=True)
    for c in columns:
        both[c] = both[c].astype("category") if c in categorical else pd.to_numeric(both[c], errors="coerce")
    y = np.r_[np.zeros(n), np.ones(n)]
    scores = np.zeros(len(y))
    importance = np.zeros(len(columns))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(both, y):
        model = LGBMClassifier(n_estimators=100, learning_rate=0.1, num_leaves=15, min_child_samples=10,
                               random_state=seed, verbose=-1, n_jobs=1)
        model.fit(both.iloc[train], y[train])
        scores[test] = np.asarray(model.predict_proba(both.iloc[test]))[:, 1]
        importance += model.booster_.feature_importance("gain")
    auc = float(roc_auc_score(y, scores))
    order = np.argsort(-importance)
    total = importance.sum() or 1.0
    return {"auc": round(auc, 4), "drifted": auc >= threshold, "threshold": threshold, "rows": n,
            "top_columns": [{"column": columns[i], "share": round(float(importance[i] / total), 4)}
                            for i in order[:5] if importance[i] > 0]}


def _floats(values: Any) -> np.ndarray:
    import numpy as np
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray | pa.Array):
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=float)
    import pandas as pd

    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def _names(window: Any) -> list[str]:
    return list(window.column_names if hasattr(window, "column_names") else window.columns)


def _rows(window: Any) -> int:
    return int(window.num_rows if hasattr(window, "num_rows") else len(window))


def _column(window: Any, name: str) -> Any:
    return window.column(name) if hasattr(window, "column_names") else window[name]
