"""Reference statistics: a compact, JSON-ready description of how each column was distributed.

Stored with every registered version (for its input columns and its predictions), so that monitoring
compares production traffic with training without a copy of the training data.

- A numeric column keeps ``FINE_BINS`` equal-frequency bins: their inner edges are the training
  quantiles, and their counts (about equal by construction, unequal where values repeat). Any later
  sample is counted into the same bins with one ``searchsorted`` pass; from the two histograms come
  PSI (on ten coarse bins), Jensen–Shannon, the Kolmogorov–Smirnov distance (between the binned
  CDFs: exact at the edges, so within one bin's mass of the true distance), and the Wasserstein
  distance (between the quantile functions, interpolated within bins). Also kept: the share missing,
  mean, standard deviation, the interquartile range, and the mean of the values in each outer bin (the
  quantile function there is drawn to match it: the extremes themselves grow with the sample's size).
- A categorical column keeps its ``TOP_CATEGORIES`` most frequent values with their counts, the
  count of the rest (``other``) and of missing values.

A few kilobytes per column, whatever the number of training rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

__all__ = ["Bins", "CategoricalReference", "ColumnReference", "NumericReference", "ReferenceProfile", "TextReference",
           "bin_counts", "category_counts"]

FINE_BINS = 100
TOP_CATEGORIES = 50
OTHER = "(other)"


@dataclass(frozen=True)
class NumericReference:
    name: str
    count: int  # non-missing values
    missing: int
    edges: list[float]  # inner bin edges (sorted, unique): len(counts) == len(edges) + 1
    counts: list[int]
    low: float  # the smallest and largest value seen
    high: float
    mean: float
    std: float
    iqr: float
    kind: str = "numeric"
    # the mean of the values in the first bin and in the last one (NaN in references made before they were kept)
    below_mean: float = math.nan
    above_mean: float = math.nan

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: a statistic without a value (a column with no finite values) is null."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in vars(self).items()}


@dataclass(frozen=True)
class CategoricalReference:
    name: str
    count: int
    missing: int
    frequencies: dict[str, int]  # the most frequent values; the rest are counted in `other`
    other: int
    kind: str = "categorical"

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class TextReference:
    """A free-text column (``aiforge.nlp``): how long its values were (words), how many of their words fell
    outside the ``vocabulary`` of training (per value, and ``oov_rate`` over all words; both measured on
    training values the vocabulary was not built from), and how its values spread over the few dimensions
    of a TF-IDF/SVD ``embedding``."""

    name: str
    count: int
    missing: int
    length: NumericReference
    oov: NumericReference
    vocabulary: list[str]
    oov_rate: float
    embedding: dict[str, Any] | None  # aiforge.nlp TextEmbedding.to_json(); None with too few words
    components: list[NumericReference]  # the embedding's dimensions over the training values
    kind: str = "text"

    def to_json(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["length"], out["oov"] = self.length.to_json(), self.oov.to_json()
        out["components"] = [c.to_json() for c in self.components]
        return out


ColumnReference = NumericReference | CategoricalReference | TextReference


def _column_from_json(data: dict[str, Any]) -> ColumnReference:
    fields = {k: v for k, v in data.items() if k != "kind"}
    if data["kind"] == "categorical":
        return CategoricalReference(**fields)
    if data["kind"] == "text":
        numeric = {"length": _column_from_json(fields["length"]), "oov": _column_from_json(fields["oov"]),
                   "components": [_column_from_json(c) for c in fields["components"]]}
        return TextReference(**{**fields, **numeric})
    numbers: dict[str, Any] = {k: (math.nan if v is None else v) for k, v in fields.items()}
    return NumericReference(**numbers)


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference of a model: its input columns and its predictions (``prediction``: the positive
    class's probability for binary tasks, the predicted class for multiclass, the value for regression)."""

    rows: int
    columns: dict[str, ColumnReference]
    prediction: ColumnReference | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": {k: c.to_json() for k, c in self.columns.items()},
                "prediction": self.prediction.to_json() if self.prediction else None, "meta": self.meta}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReferenceProfile:
        prediction = data.get("prediction")
        return cls(rows=int(data["rows"]), columns={k: _column_from_json(c) for k, c in data["columns"].items()},
                   prediction=_column_from_json(prediction) if prediction else None, meta=dict(data.get("meta", {})))

    @classmethod
    def build(cls, frame: pd.DataFrame, *, categorical: list[str], prediction: Any = None,
              prediction_kind: str = "numeric", meta: dict[str, Any] | None = None,
              text: list[str] | tuple[str, ...] = ()) -> ReferenceProfile:
        """The reference of ``frame``'s columns (those in ``categorical`` as categories, those in ``text`` as
        free text, the rest as numbers) and of ``prediction`` (an array or series of model outputs)."""
        import pandas as pd

        columns: dict[str, ColumnReference] = {}
        for name in frame.columns:
            columns[str(name)] = (categorical_reference(str(name), frame[name]) if name in categorical
                                  else text_reference(str(name), frame[name]) if name in text
                                  else numeric_reference(str(name), frame[name]))
        predicted = None
        if prediction is not None:
            series = pd.Series(prediction)
            predicted = (categorical_reference("prediction", series) if prediction_kind == "categorical"
                         else numeric_reference("prediction", series))
        return cls(rows=len(frame), columns=columns, prediction=predicted, meta=dict(meta or {}))


def numeric_reference(name: str, values: Any) -> NumericReference:
    import numpy as np
    import pandas as pd

    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    finite = array[np.isfinite(array)]
    missing = int(len(array) - len(finite))
    if len(finite) == 0:
        return NumericReference(name, 0, missing, [], [0], math.nan, math.nan, math.nan, math.nan, math.nan)
    inner = np.quantile(finite, np.linspace(0, 1, FINE_BINS + 1)[1:-1])
    edges = np.unique(inner)
    counts = bin_counts(finite, edges)
    q1, q3 = np.quantile(finite, [0.25, 0.75])
    below, above = finite[finite <= edges[0]], finite[finite > edges[-1]]
    return NumericReference(
        name=name, count=len(finite), missing=missing, edges=[float(e) for e in edges],
        counts=[int(c) for c in counts], low=float(finite.min()), high=float(finite.max()),
        mean=float(finite.mean()), std=float(finite.std()), iqr=float(q3 - q1),
        below_mean=float(below.mean()) if len(below) else math.nan,
        above_mean=float(above.mean()) if len(above) else math.nan,
    )


def text_reference(name: str, values: Any) -> TextReference:
    """The reference of a free-text column: its words' vocabulary, and its length, out-of-vocabulary share
    and embedding per value, as numbers (the vocabulary from a random half of the values, the
    out-of-vocabulary shares from the other half)."""
    import numpy as np

    from aiforge.nlp._profile import fit_embedding, tokenized, vocabulary_of, word_statistics

    tokens = tokenized(list(values))
    # the vocabulary comes from a random half of the values, and the out-of-vocabulary shares of the other half:
    # measured on the values it was built from, the shares would be too low, and any later sample would drift
    half = np.random.default_rng(0).permutation(len(tokens)) % 2 == 0
    vocabulary = vocabulary_of([t for t, own in zip(tokens, half, strict=True) if own])
    held_out = [t for t, own in zip(tokens, half, strict=True) if not own]
    lengths, _, _, _ = word_statistics(tokens, set())
    _, shares, unknown, total = word_statistics(held_out, set(vocabulary))
    embedding = fit_embedding(tokens)
    components = []
    if embedding is not None:
        projected = embedding.transform(tokens)
        components = [numeric_reference(f"{name}[embedding {i + 1}]", projected[:, i])
                      for i in range(projected.shape[1])]
    present = len(lengths)
    return TextReference(name=name, count=present, missing=len(tokens) - present,
                         length=numeric_reference(f"{name}[length]", lengths),
                         oov=numeric_reference(f"{name}[out-of-vocabulary]", shares), vocabulary=vocabulary,
                         oov_rate=round(unknown / total, 6) if total else 0.0,
                         embedding=embedding.to_json() if embedding is not None else None, components=components)


def categorical_reference(name: str, values: Any) -> CategoricalReference:
    counts, missing = category_counts(values)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top = dict(ordered[:TOP_CATEGORIES])
    return CategoricalReference(name=name, count=sum(counts.values()), missing=missing, frequencies=top,
                                other=sum(v for _, v in ordered[TOP_CATEGORIES:]))


def bin_counts(values: np.ndarray, edges: list[float] | np.ndarray) -> np.ndarray:
    """How many of the finite ``values`` fall in each bin ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    return Bins(edges).count(values)


class Bins:
    """The bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)`` of sorted inner ``edges``, ready to count values
    into, many times over (a monitor counts every batch of a window into the same bins).

    ``np.searchsorted`` over a hundred edges costs about 50 ns a value (a binary search that the branch
    predictor cannot follow). Instead, the range of the edges is cut into ``CELLS`` equal cells, and a lookup
    table built once says, for each cell, how many edges lie below it and which edge (at most one) lies in it;
    a value's bin is then one multiply, one table look-up and one comparison (about 12 ns a value), and the
    few values in a cell holding two edges or more fall back to ``searchsorted``. The counts are exactly
    ``searchsorted``'s: each cell's table entries are taken over the cell widened by 1/64 of its width, far
    more than the rounding error of the cell arithmetic.
    """

    CELLS = 1 << 12

    def __init__(self, edges: list[float] | np.ndarray) -> None:
        import numpy as np

        e = np.asarray(edges, dtype=float)
        self.edges = e
        self._table = len(e) >= 2 and bool(np.isfinite(e).all()) and bool(e[-1] > e[0])
        if not self._table:
            return
        cells = self.CELLS
        width = float(e[-1] - e[0]) / cells
        # cell c (0 .. cells + 1) holds the values with (x - origin) * scale in [c, c + 1), clipped
        self._origin, self._scale = float(e[0]) - width, 1.0 / width
        inner = float(e[0]) + np.arange(cells + 1) * width
        left = np.concatenate([[-np.inf], inner[:-1], [e[-1]]])
        right = np.concatenate([[e[0]], inner[1:], [np.inf]])
        below = np.searchsorted(e, left - width / 64, side="left")
        inside = np.searchsorted(e, right + width / 64, side="left") - below
        self._below = np.where(inside <= 1, below, -len(e) - 2).astype(np.intp)  # negative: crowded cell
        self._edge = np.where(inside == 1, e[np.minimum(below, len(e) - 1)], np.inf)
        self._crowded = bool((inside > 1).any())

    def count(self, values: np.ndarray) -> np.ndarray:
        """How many of ``values`` (finite floats) fall in each bin."""
        import numpy as np

        size = len(self.edges) + 1
        if not self._table or len(values) == 0:
            return np.bincount(np.searchsorted(self.edges, values, side="left"), minlength=size)
        scaled = np.subtract(values, self._origin, dtype=float)
        scaled *= self._scale
        np.clip(scaled, 0.0, self.CELLS + 1, out=scaled)
        cell = scaled.astype(np.intp)
        del scaled
        positions = self._below[cell]
        positions += values > self._edge[cell]
        if self._crowded:
            crowded = positions < 0
            if crowded.any():
                positions[crowded] = np.searchsorted(self.edges, values[crowded], side="left")
        return np.bincount(positions, minlength=size)


def category_counts(values: Any) -> tuple[dict[str, int], int]:
    """Counts per value (as text) and the count of missing values, with Arrow's kernels when the values are
    an Arrow array (fast on dictionary-encoded Parquet columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array: pa.Array | pa.ChunkedArray
    if isinstance(values, pa.Array | pa.ChunkedArray):
        array = values
    else:
        import pandas as pd

        series = pd.Series(values)
        array = pa.array(series.astype(object).where(series.notna(), None).map(
            lambda v: v if v is None or isinstance(v, str) else str(v)), type=pa.string())
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    missing = int(array.null_count)
    counted = pc.value_counts(array.drop_null() if missing else array)
    values_, counts_ = counted.field("values").to_pylist(), counted.field("counts").to_pylist()
    return {str(v): int(c) for v, c in zip(values_, counts_, strict=True)}, missing
