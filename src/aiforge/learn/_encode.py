"""Turning a table's input columns into the numbers a learner fits on, fast enough to serve.

One small transformer does it all with vectorised pandas/numpy (a scikit-learn ColumnTransformer
of imputers and encoders spends ~20 ms on 1000 rows of Adult, most of a LightGBM prediction):

- numeric columns: missing values take the training median (0 when a column had none); with
  ``scale``, values are standardised with the training mean and standard deviation;
- categorical columns are read as text (so that ``True``, ``"True"`` and ``1`` encode as they are
  written), missing values being the category ``(missing)``. A category is *infrequent* when it was
  seen fewer than ``min_frequency`` times, or when it is not among the ``max_categories - 1``
  commonest (ties by text) of a column with more than ``max_categories`` levels.
  ``ordinal``: frequent categories are numbered 0..k-1 in text order, infrequent ones share code k,
  and a category never seen in training is -1 (LightGBM reads negative categories as missing).
  ``onehot``: one column per frequent category, then one shared column for the infrequent ones (if
  any were seen); an unseen category sets that column, or none when there is none.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator, TransformerMixin

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["MISSING", "TabularEncoder"]

MISSING = "(missing)"
_MISSING_TYPES = frozenset({"NAType", "NaTType"})  # pandas' missing markers (compared by name: no import)
UNSEEN = "\x00unseen"  # lookup key of the code an unseen category gets (one-hot with infrequent levels)


class TabularEncoder(TransformerMixin, BaseEstimator):
    """Numeric and categorical input columns -> one float matrix (numeric first, then categorical)."""

    def __init__(self, numeric: list[str] | None = None, categorical: list[str] | None = None,
                 encoding: str = "ordinal", scale: bool = False, max_categories: int | None = None,
                 min_frequency: int = 1) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.encoding = encoding
        self.scale = scale
        self.max_categories = max_categories
        self.min_frequency = min_frequency

    def fit(self, X: pd.DataFrame, y: Any = None) -> TabularEncoder:
        import numpy as np

        if self.encoding not in ("ordinal", "onehot"):
            raise ValueError(f"encoding must be ordinal or onehot, not {self.encoding!r}")
        numeric, categorical = list(self.numeric or []), list(self.categorical or [])
        values = _numbers(X, numeric)
        with warnings.catch_warnings():  # a column with no value at all: its median is NaN, then 0
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = np.nanmedian(values, axis=0) if values.shape[0] else np.zeros(values.shape[1])
        self.medians_ = np.where(np.isnan(medians), 0.0, medians) if len(numeric) else np.zeros(0)
        filled = np.where(np.isnan(values), self.medians_, values)
        self.means_ = filled.mean(axis=0) if len(numeric) and len(filled) else np.zeros(len(numeric))
        stds = filled.std(axis=0) if len(numeric) and len(filled) else np.ones(len(numeric))
        self.stds_ = np.where(stds > 0, stds, 1.0)
        self.categories_: list[np.ndarray] = []
        self.infrequent_: list[np.ndarray] = []
        for name in categorical:
            frequent, infrequent = self._levels(_text(X[name]).value_counts())
            self.categories_.append(frequent)
            self.infrequent_.append(infrequent)
        self.n_features_in_ = len(numeric) + len(categorical)
        self.lookups_: list[dict[str, int]] | None = None
        self._lookups()
        return self

    def _levels(self, counts: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        ranked = sorted(counts.index, key=lambda c: (-int(counts[c]), str(c)))
        frequent = [c for c in ranked if counts[c] >= self.min_frequency]
        if self.max_categories is not None and len(ranked) > self.max_categories:
            frequent = frequent[: max(0, self.max_categories - 1)]
        kept = set(frequent)
        return (np.array(sorted(frequent), dtype=object),
                np.array(sorted(c for c in ranked if c not in kept), dtype=object))

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self._encode(_numbers(X, list(self.numeric or [])),
                            [X[name].to_numpy(dtype=object) for name in self.categorical or []], len(X))

    def transform_columns(self, columns: Mapping[str, Sequence[Any]], rows: int) -> np.ndarray:
        """``transform`` of ``rows`` records given column by column (plain lists or arrays: ``None`` or NaN
        is missing), without building a DataFrame: the serving fast path. Same output as ``transform``."""
        import numpy as np

        if rows == 1:
            return self._encode_one(columns)
        numeric = list(self.numeric or [])
        values = (np.array([columns[c] for c in numeric], dtype=float).T.reshape(rows, len(numeric))
                  if numeric else np.zeros((rows, 0)))
        return self._encode(values, [np.asarray(columns[c], dtype=object) for c in self.categorical or []], rows)

    def _encode(self, values: np.ndarray, categorical_values: list[np.ndarray], rows: int) -> np.ndarray:
        import numpy as np

        numeric = list(self.numeric or [])
        blocks = [np.where(np.isnan(values), self.medians_, values)]
        if self.scale and numeric:
            blocks[0] = (blocks[0] - self.means_) / self.stds_
        for raw, lookup, width in zip(categorical_values, self._lookups(), self._widths(), strict=True):
            codes = _codes(raw, lookup)
            if self.encoding == "ordinal":
                blocks.append(codes.astype(float)[:, None])
                continue
            onehot = np.zeros((len(codes), width))
            known = codes >= 0
            onehot[np.flatnonzero(known), codes[known]] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks) if blocks else np.zeros((rows, 0))

    def _encode_one(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """``transform_columns`` of one record, value by value: about ten times faster than the vectorised path,
        which spends its time in numpy calls on arrays of one (single-row requests are most of what a server
        answers). The same numbers: missing values, scaling and codes are worked out as ``_encode`` does."""
        import numpy as np

        numeric = self.numeric or []
        widths = [1] * len(self.categories_) if self.encoding == "ordinal" else self._widths()
        out = np.zeros((1, len(numeric) + sum(widths)))
        row = out[0]
        for i, name in enumerate(numeric):
            raw = columns[name][0]
            value = np.nan if raw is None else float(raw)
            if value != value:
                value = self.medians_[i]
            row[i] = (value - self.means_[i]) / self.stds_[i] if self.scale else value
        offset = len(numeric)
        for name, lookup, width in zip(self.categorical or [], self._lookups(), widths, strict=True):
            raw = columns[name][0]
            code = lookup.get(raw if type(raw) is str else _key(raw), lookup.get(UNSEEN, -1))
            if self.encoding == "ordinal":
                row[offset] = code
            elif code >= 0:
                row[offset + code] = 1.0
            offset += width
        return out

    def _lookups(self) -> list[dict[str, int]]:
        """Per categorical column: category text -> code (infrequent ones share the last code)."""
        cached: list[dict[str, int]] | None = getattr(self, "lookups_", None)
        if cached is None:
            lookups = []
            for frequent, infrequent in zip(self.categories_, self.infrequent_, strict=True):
                lookup = {str(c): i for i, c in enumerate(frequent)}
                lookup.update({str(c): len(frequent) for c in infrequent})
                if self.encoding == "onehot" and len(infrequent):
                    lookup[UNSEEN] = len(frequent)
                lookups.append(lookup)
            self.lookups_ = cached = lookups
        return cached

    def _widths(self) -> list[int]:
        return [len(f) + (1 if len(i) else 0) for f, i in zip(self.categories_, self.infrequent_, strict=True)]

    def output_sources(self) -> list[str]:
        """For each output column of ``transform``, the input column it comes from (one-hot columns
        name their categorical input), so that per-output figures can be summed back per input."""
        sources = list(self.numeric or [])
        widths = [1] * len(self.categories_) if self.encoding == "ordinal" else self._widths()
        for name, width in zip(self.categorical or [], widths, strict=True):
            sources += [name] * width
        return sources

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        import numpy as np

        names = list(self.numeric or [])
        for name, frequent, infrequent in zip(self.categorical or [], self.categories_, self.infrequent_,
                                              strict=True):
            if self.encoding == "ordinal":
                names.append(name)
            else:
                names += [f"{name}={c}" for c in frequent]
                if len(infrequent):
                    names.append(f"{name}=(infrequent)")
        return np.array(names, dtype=object)


def _numbers(X: pd.DataFrame, columns: list[str]) -> np.ndarray:
    import numpy as np

    if not columns:
        return np.zeros((len(X), 0))
    return X[columns].to_numpy(dtype=float, na_value=np.nan)


def _codes(values: np.ndarray, lookup: dict[str, int]) -> np.ndarray:
    """Codes of one categorical column's values; an unseen category is -1 (ordinal), or the shared
    infrequent code (one-hot, where there is one)."""
    import numpy as np

    unseen = lookup.get(UNSEEN, -1)
    get = lookup.get
    return np.fromiter((get(v if type(v) is str else _key(v), unseen) for v in values), dtype=np.int64,
                       count=len(values))


def _key(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or type(value).__name__ in _MISSING_TYPES:
        return MISSING
    return str(value)


def _text(column: pd.Series) -> pd.Series:
    """A categorical column as text; missing values are the category ``(missing)``."""
    missing = column.isna().to_numpy()
    text = column.astype(object).astype(str).astype(object)
    if missing.any():
        text = text.where(~missing, MISSING)
    return text
