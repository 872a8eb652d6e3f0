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
catches. A window's input columns are tested together, each at alpha / (number of columns)
(Bonferroni): tested at alpha each, fifty unchanged columns have one significant by chance in 92% of
windows (benchmarks/drift/DETECTION.md). ``domain_classifier`` adds the multivariate test: a model
that tells reference rows from window rows; its cross-validated AUC is near 0.5 when nothing changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aiforge.data import (
    Bins,
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    TextReference,
    category_counts,
    jensen_shannon,
    psi,
)

if TYPE_CHECKING:
    from concurrent.futures import Executor

    import numpy as np
    import pandas as pd
    import pyarrow as pa

__all__ = ["DriftSettings", "ColumnDrift", "DriftReport", "WindowCounts", "column_drift", "detect_drift",
           "detect_drift_in_parquet", "domain_classifier"]

BATCH_ROWS = 131_072  # rows per batch when a window is streamed from Parquet

PSI_BINS = 10
METHODS = ("auto", "psi", "jensen_shannon", "wasserstein", "ks")
CORRECTIONS = ("bonferroni", "none")


@dataclass(frozen=True)
class DriftSettings:
    """``method``: the effect size that decides (``auto``: Wasserstein / std for numbers, Jensen–Shannon
    for categories; or ``psi``, ``jensen_shannon``, ``wasserstein`` (numbers only; categories then use
    Jensen–Shannon) or ``ks``); ``threshold``: its minimum to flag drift (None: 0.1, for PSI 0.2);
    ``alpha``: the significance level of the test; ``correction``: ``bonferroni`` tests each of a window's
    k input columns at alpha / k, so that a window whose columns did not change is flagged with probability
    at most alpha however many columns it has (``none``: each column at alpha)."""

    method: str = "auto"
    threshold: float | None = None
    alpha: float = 0.05
    correction: Literal["bonferroni", "none"] = "bonferroni"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"The 'method' setting must be one of {', '.join(METHODS)}. Got {self.method!r} instead.")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"The 'correction' setting must be one of {', '.join(CORRECTIONS)}. "
                             f"Got {self.correction!r} instead.")

    def for_columns(self, count: int) -> DriftSettings:
        """The settings each of ``count`` columns tested together is judged by."""
        if self.correction == "none" or count <= 1:
            return self
        return replace(self, alpha=self.alpha / count, correction="none")

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

    def _repr_html_(self) -> str:
        """The report as Jupyter shows it: the drifted columns, every measure per column."""
        from aiforge.evaluate import html
        from aiforge.monitor._report import drift_html

        return html.fragment(drift_html(self))


def detect_drift(reference: ReferenceProfile, window: Any, *, prediction: Any = None,
                 settings: DriftSettings | None = None, threads: int | None = None) -> DriftReport:
    """Drift of ``window`` (a DataFrame or an Arrow table holding the reference's columns) and of
    ``prediction`` (the window's model outputs, if any) against ``reference``. Columns are counted on a
    pool of threads (NumPy and Arrow release the GIL while they count)."""
    from concurrent.futures import ThreadPoolExecutor

    counts = WindowCounts(reference, [n for n in reference.columns if n in _names(window)])
    with ThreadPoolExecutor(threads or min(8, max(1, len(counts.names)))) as pool:
        counts.add(window, pool=pool)
    return counts.report(settings, prediction=prediction)


def detect_drift_in_parquet(reference: ReferenceProfile, source: str | Path | Iterable[str | Path], *,
                            settings: DriftSettings | None = None, threads: int | None = None,
                            batch_rows: int = BATCH_ROWS) -> DriftReport:
    """Drift of the window stored in the Parquet file(s) ``source`` against ``reference``, read batch by
    batch (``batch_rows`` rows at a time, the next batch read while this one is counted): memory holds a
    few batches whatever the window's size. The reference's categorical columns are read
    dictionary-encoded, as Parquet stores them, so they are counted by code, not by string. Only the
    reference's columns are read; the same columns must be in every file."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    paths = [source] if isinstance(source, str | Path) else list(source)
    categorical = [n for n, c in reference.columns.items() if isinstance(c, CategoricalReference)]
    counts: WindowCounts | None = None
    with ThreadPoolExecutor(threads or min(8, os.cpu_count() or 1)) as pool:
        for path in paths:
            file = pq.ParquetFile(path, read_dictionary=categorical, pre_buffer=False)  # True buffers the whole file
            if counts is None:
                present = set(file.schema_arrow.names)
                counts = WindowCounts(reference, [n for n in reference.columns if n in present])
            batches = file.iter_batches(batch_size=batch_rows, columns=counts.names, use_threads=True)
            for batch in _read_ahead(batches):
                counts.add(batch, pool=pool)
    if counts is None:
        raise ValueError("detect_drift_in_parquet needs at least one Parquet file. Got none.")
    return counts.report(settings)


class WindowCounts:
    """A window's counts in a reference's bins (numeric columns) and kept categories (categorical ones),
    added batch by batch: every drift measure comes from these counts (and each numeric column's smallest
    and largest value), so memory does not grow with the window's rows, and counts of parts of a window
    (files, partitions, processes) merge into the counts of the whole.

    >>> counts = WindowCounts(reference)            # doctest: +SKIP
    >>> for batch in batches:                       # DataFrames, Arrow tables or record batches
    ...     counts.add(batch)
    >>> report = counts.report(DriftSettings())
    """

    def __init__(self, reference: ReferenceProfile, names: list[str] | None = None) -> None:
        self.reference = reference
        self.names = list(reference.columns) if names is None else list(names)
        self.rows = 0
        self.columns: dict[str, _NumericCounts | _CategoricalCounts | _TextCounts] = {
            name: _counts_for(reference.columns[name]) for name in self.names}

    def add(self, batch: Any, *, pool: Executor | None = None) -> None:
        """Count ``batch`` (a DataFrame, an Arrow table or record batch with the counted columns), its
        columns on ``pool``'s threads if given."""
        def one(name: str) -> None:
            self.columns[name].add(_column(batch, name))

        if pool is None:
            for name in self.names:
                one(name)
        else:
            list(pool.map(one, self.names))
        self.rows += _rows(batch)

    def merge(self, other: WindowCounts) -> None:
        """Add ``other``'s counts (of the same reference and columns) to these."""
        if other.names != self.names:
            raise ValueError(f"Counts merge only over the same columns. Got {other.names} and {self.names}.")
        for name in self.names:
            self.columns[name].merge(other.columns[name])  # type: ignore[arg-type]
        self.rows += other.rows

    def report(self, settings: DriftSettings | None = None, *, prediction: Any = None) -> DriftReport:
        """The drift report of the counted window (and of ``prediction``, the window's model outputs)."""
        settings = settings or DriftSettings()
        # a text column is tested as several numbers (length, out-of-vocabulary share, embedding dimensions)
        each = settings.for_columns(sum(getattr(self.columns[name], "width", 1) for name in self.names))
        columns: list[ColumnDrift] = []
        for name in self.names:
            counted = self.columns[name]
            columns += counted.measures(each) if isinstance(counted, _TextCounts) else [counted.measure(each)]
        predicted = None
        if prediction is not None and self.reference.prediction is not None:
            predicted = column_drift(self.reference.prediction, prediction, settings)
        return DriftReport(rows=self.rows, columns=columns, prediction=predicted, settings=settings)


def column_drift(reference: NumericReference | CategoricalReference | TextReference, values: Any,
                 settings: DriftSettings) -> ColumnDrift:
    counts = _counts_for(reference)
    counts.add(values)
    if isinstance(counts, _TextCounts):
        raise TypeError("column_drift measures one number or category; a text column is several (WindowCounts)")
    return counts.measure(settings)


def _counts_for(reference: NumericReference | CategoricalReference | TextReference
                ) -> _NumericCounts | _CategoricalCounts | _TextCounts:
    if isinstance(reference, TextReference):
        return _TextCounts(reference)
    return _NumericCounts(reference) if isinstance(reference, NumericReference) else _CategoricalCounts(reference)


class _TextCounts:
    """A text column's values, as the numbers its reference keeps per value (length in words, share of words
    outside the training vocabulary, embedding dimensions), each counted into that number's reference bins;
    and the window's words outside the vocabulary, over all its words."""

    def __init__(self, reference: TextReference) -> None:
        from aiforge.nlp._profile import TextEmbedding

        self.reference = reference
        self.vocabulary = set(reference.vocabulary)
        self.embedding = TextEmbedding.from_json(reference.embedding) if reference.embedding else None
        self.length = _NumericCounts(reference.length)
        self.oov = _NumericCounts(reference.oov)
        self.components = [_NumericCounts(c) for c in reference.components]
        self.unknown = self.words = 0
        self.missing = 0

    @property
    def width(self) -> int:
        return 2 + len(self.components)

    def add(self, values: Any) -> None:
        from aiforge.nlp._profile import tokenized, word_statistics

        tokens = tokenized(_python_values(values))
        lengths, shares, unknown, words = word_statistics(tokens, self.vocabulary)
        self.missing += len(tokens) - len(lengths)
        self.unknown += unknown
        self.words += words
        self.length.add(lengths)
        self.oov.add(shares)
        if self.embedding is not None and len(lengths):
            projected = self.embedding.transform(tokens)
            for i, counts in enumerate(self.components):
                counts.add(projected[:, i])

    def merge(self, other: _TextCounts) -> None:
        for mine, theirs in zip([self.length, self.oov, *self.components],
                                [other.length, other.oov, *other.components], strict=True):
            mine.merge(theirs)
        self.unknown += other.unknown
        self.words += other.words
        self.missing += other.missing

    def measures(self, settings: DriftSettings) -> list[ColumnDrift]:
        total = self.length.values + self.missing
        missing: dict[str, Any] = {"missing_reference": round(self.reference.missing / max(1, self.reference.count
                                                                            + self.reference.missing), 6),
                   "missing_window": round(self.missing / total, 6) if total else 0.0}
        out = [replace(self.length.measure(settings), kind="text", **missing),
               self._oov(settings, missing)]
        out += [replace(c.measure(settings), kind="text", **missing) for c in self.components]
        return out


    def _oov(self, settings: DriftSettings, missing: dict[str, Any]) -> ColumnDrift:
        """The per-value out-of-vocabulary shares' drift; ``unseen_share`` is the window's share of words outside
        the vocabulary (its histogram keeps the training rows' own share beside it)."""
        drift = self.oov.measure(settings)
        return replace(drift, kind="text", **missing,
                       unseen_share=round(self.unknown / self.words, 6) if self.words else 0.0,
                       histogram={**drift.histogram, "oov_rate_reference": self.reference.oov_rate})


def _python_values(values: Any) -> list[Any]:
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_pylist()
    return list(values)


class _NumericCounts:
    """A numeric column's values counted into the reference's bins, with their extremes and the missing."""

    def __init__(self, reference: NumericReference) -> None:
        import numpy as np

        self.reference = reference
        self.bins = Bins(reference.edges)
        self.counts = np.zeros(len(reference.edges) + 1, dtype=np.int64)
        self.values = 0  # all values, missing included
        self.low, self.high = math.inf, -math.inf
        self.below_sum = self.above_sum = 0.0  # of the values in the first bin and in the last

    def add(self, values: Any) -> None:
        import numpy as np

        array = _floats(values)
        finite = np.isfinite(array)
        if not finite.all():
            array = array[finite]
        self.values += len(finite)
        if len(array):
            self.counts += self.bins.count(array)
            self.low, self.high = min(self.low, float(array.min())), max(self.high, float(array.max()))
            if self.reference.edges:
                self.below_sum += float(array[array <= self.reference.edges[0]].sum())
                self.above_sum += float(array[array > self.reference.edges[-1]].sum())

    def merge(self, other: _NumericCounts) -> None:
        self.counts += other.counts
        self.values += other.values
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.below_sum += other.below_sum
        self.above_sum += other.above_sum

    def measure(self, settings: DriftSettings) -> ColumnDrift:
        import numpy as np
        from scipy.stats import kstwobign

        ref = self.reference
        n, m = ref.count, int(self.counts.sum())
        missing_window = (self.values - m) / self.values if self.values else 0.0
        missing_reference = ref.missing / (ref.count + ref.missing) if ref.count + ref.missing else 0.0
        r = np.asarray(ref.counts, dtype=float)
        w = self.counts.astype(float) if m else np.zeros_like(r)
        p = r / r.sum() if r.sum() else r
        q = w / w.sum() if w.sum() else w
        ks = float(np.max(np.abs(np.cumsum(p) - np.cumsum(q)))) if m and n else 0.0
        p_value = float(kstwobign.sf(ks * math.sqrt(n * m / (n + m)))) if m and n else 1.0
        below_mean = self.below_sum / self.counts[0] if self.counts[0] else math.nan
        above_mean = self.above_sum / self.counts[-1] if self.counts[-1] else math.nan
        ends = _ends(ref, below_mean, above_mean, self.low, self.high)
        wasserstein = _wasserstein(ref, p, q, ends) if m and n else 0.0
        coarse = _coarse(p, q)
        result: dict[str, Any] = {
            "psi": psi(*coarse), "jensen_shannon": jensen_shannon(p, q), "ks": ks, "wasserstein": wasserstein,
        }
        hist = {"edges": ref.edges, "low": ref.low, "high": ref.high,
                "reference": [round(float(v), 6) for v in p], "window": [round(float(v), 6) for v in q]}
        return _decide(ref.name, "numeric", n, m, missing_reference, missing_window, result, p_value,
                       "Kolmogorov–Smirnov", settings, hist)


class _CategoricalCounts:
    """A categorical column's values counted per kept category of the reference (the rest as one other
    category), with the missing."""

    def __init__(self, reference: CategoricalReference) -> None:
        import numpy as np

        self.reference = reference
        self.index = {name: i for i, name in enumerate(reference.frequencies)}
        self.counts = np.zeros(len(self.index) + 1, dtype=np.int64)  # the last: values the reference did not keep
        self.missing = 0

    def add(self, values: Any) -> None:
        import pyarrow as pa

        if isinstance(values, pa.Array | pa.ChunkedArray) and pa.types.is_dictionary(values.type):
            for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
                self._add_dictionary(chunk)
            return
        counted, missing = category_counts(values)
        other = len(self.index)
        for value, count in counted.items():
            self.counts[self.index.get(value, other)] += count
        self.missing += missing

    def _add_dictionary(self, chunk: pa.DictionaryArray) -> None:
        """Count by code (one ``bincount``), then add each code's count to its category's."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        dictionary = chunk.dictionary
        if not pa.types.is_string(dictionary.type) and not pa.types.is_large_string(dictionary.type):
            dictionary = pc.cast(dictionary, pa.string())
        codes = _arrow_codes(chunk.indices, len(dictionary))  # nulls get their own code, past the dictionary
        per_code = np.bincount(codes, minlength=len(dictionary) + 1)
        other, missing = len(self.index), len(self.index) + 1
        target = np.asarray([missing if v is None else self.index.get(v, other) for v in dictionary.to_pylist()]
                            + [missing], dtype=np.intp)
        merged = np.bincount(target, weights=per_code, minlength=len(self.index) + 2).astype(np.int64)
        self.counts += merged[:-1]
        self.missing += int(merged[-1])

    def merge(self, other: _CategoricalCounts) -> None:
        self.counts += other.counts
        self.missing += other.missing

    def measure(self, settings: DriftSettings) -> ColumnDrift:
        import numpy as np
        from scipy.stats import chi2_contingency

        ref = self.reference
        r = np.asarray([*ref.frequencies.values(), ref.other], dtype=float)
        w = self.counts.astype(float)
        window_other, missing = int(self.counts[-1]), self.missing
        n, m = int(r.sum()), int(w.sum())
        p = r / n if n else r
        q = w / m if m else w
        present = (r + w) > 0
        if n and m and present.sum() > 1:
            p_value = float(chi2_contingency(np.vstack([r[present], w[present]]))[1])
        else:
            p_value = 1.0
        result = {"psi": psi(p, q), "jensen_shannon": jensen_shannon(p, q)}
        labels = [*ref.frequencies, "(other)"]
        hist = {"categories": labels, "reference": [round(float(v), 6) for v in p],
                "window": [round(float(v), 6) for v in q]}
        total = m + missing
        return _decide(ref.name, "categorical", n, m, ref.missing / (n + ref.missing) if n + ref.missing else 0.0,
                       missing / total if total else 0.0, result, p_value, "chi-squared", settings, hist,
                       unseen_share=window_other / m if m else 0.0)


def _read_ahead(batches: Iterator[Any], depth: int = 1) -> Iterator[Any]:
    """``batches``, each next one read on a thread while the caller works on the current one."""
    import queue
    import threading

    done = object()
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            offer(exc)

    reader = threading.Thread(target=read, name="parquet-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


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


def _coarse(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fine bins merged into about ``PSI_BINS`` groups of equal reference mass."""
    import numpy as np

    groups = np.minimum((np.cumsum(p) - p / 2) * PSI_BINS, PSI_BINS - 1).astype(int) if p.sum() else \
        np.zeros(len(p), dtype=int)
    return (np.bincount(groups, weights=p, minlength=PSI_BINS), np.bincount(groups, weights=q, minlength=PSI_BINS))


def _wasserstein(ref: NumericReference, p: np.ndarray, q: np.ndarray, window_ends: tuple[float, float]) -> float:
    """W1 between the two distributions, from their quantile functions (linear within each bin), divided
    by the reference's standard deviation. ``window_ends`` are where the window's quantile function ends:
    drawn so that the outer bins keep their values' mean when the reference knows its own (``_ends``)."""
    import numpy as np

    edges = np.asarray(ref.edges, dtype=float)
    levels = (np.arange(400) + 0.5) / 400

    def quantiles(shares: np.ndarray, ends: tuple[float, float]) -> np.ndarray:
        xs = np.concatenate([[ends[0]], edges, [ends[1]]])
        cdf = np.concatenate([[0.0], np.cumsum(shares)])
        cdf[-1] = 1.0
        keep = np.concatenate([[True], np.diff(cdf) > 0])  # np.interp needs increasing x
        return np.interp(levels, cdf[keep], xs[keep])

    reference_ends = _ends(ref, ref.below_mean, ref.above_mean, ref.low, ref.high)
    distance = float(np.mean(np.abs(quantiles(p, reference_ends) - quantiles(q, window_ends))))
    scale = ref.std if ref.std and math.isfinite(ref.std) and ref.std > 0 else 1.0
    return distance / scale


def _ends(ref: NumericReference, below_mean: float, above_mean: float, low: float, high: float) -> tuple[float, float]:
    """Where a quantile function over the reference's bins starts and ends. With the mean of the values in
    each outer bin, the line through that bin is drawn to keep it (from ``2 * mean - edge`` to the edge): a
    heavy tail's mean settles as the sample grows, its maximum does not, so a window ten times the
    reference's size no longer looks drifted for its larger extremes alone. References made before the
    means were kept (and their windows) fall back to the smallest and largest value."""
    if not ref.edges:
        return low, high
    first, last = ref.edges[0], ref.edges[-1]
    if math.isfinite(ref.below_mean) and math.isfinite(ref.above_mean):
        return (2 * below_mean - first if math.isfinite(below_mean) else first,
                2 * above_mean - last if math.isfinite(above_mean) else last)
    return min(low, first), max(high, last)


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

    if isinstance(values, pa.ChunkedArray):
        chunks = [_arrow_floats(chunk) for chunk in values.chunks]
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks) if chunks else np.zeros(0)
    if isinstance(values, pa.Array):
        return _arrow_floats(values)
    import pandas as pd

    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def _arrow_floats(array: pa.Array) -> np.ndarray:
    """An Arrow array as float64, nulls as NaN, straight from its buffers: pyarrow's ``to_numpy`` of an array
    with nulls goes through pandas (and imports it, a third of a second in a fresh process)."""
    import numpy as np
    import pyarrow as pa

    if array.type != pa.float64():
        array = array.cast(pa.float64())
    start, size = array.offset, len(array)
    validity, data = array.buffers()[:2]
    if data is None:
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=float)
    floats = np.frombuffer(data, dtype=np.float64, count=start + size)[start:]
    if array.null_count:
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), count=start + size, bitorder="little")[start:]
        floats = np.where(valid.view(bool), floats, np.nan)
    return floats


def _arrow_codes(indices: pa.Array, null_code: int) -> np.ndarray:
    """A dictionary array's integer codes from their buffers, nulls as ``null_code`` (pyarrow's ``fill_null``
    and ``to_numpy`` of an array with nulls import pandas)."""
    import numpy as np
    import pyarrow as pa

    kind = "u" if pa.types.is_unsigned_integer(indices.type) else "i"
    start, size = indices.offset, len(indices)
    validity, data = indices.buffers()[:2]
    codes = np.frombuffer(data, dtype=np.dtype(f"{kind}{indices.type.bit_width // 8}"), count=start + size)[start:]
    if indices.null_count:
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), count=start + size, bitorder="little")[start:]
        codes = np.where(valid.view(bool), codes, null_code)
    return codes


def _names(window: Any) -> list[str]:
    return list(window.column_names if hasattr(window, "column_names") else window.columns)


def _rows(window: Any) -> int:
    return int(window.num_rows if hasattr(window, "num_rows") else len(window))


def _column(window: Any, name: str) -> Any:
    return window.column(name) if hasattr(window, "column_names") else window[name]
