"""The inputs of the text learners: each text column normalised (``aiforge.nlp``), the other columns
encoded as the linear model's (one-hot categories, scaled numbers), side by side in one object matrix.

Normalisation runs once per fold and is shared by every trial; what the search tunes (n-grams,
vocabulary size, TF-IDF weighting) lives in the estimator, which vectorises the text itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator, TransformerMixin

from aiforge.learn._encode import TabularEncoder

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["SourceTextEncoder", "TextTableEncoder"]


class TextTableEncoder(TransformerMixin, BaseEstimator):
    """Text columns -> normalised strings (positions ``0..len(text)-1``), then the ``TabularEncoder``
    output of the numeric and categorical columns, as one object matrix."""

    def __init__(self, text: list[str] | None = None, numeric: list[str] | None = None,
                 categorical: list[str] | None = None, max_categories: int | None = None,
                 min_frequency: int = 1) -> None:
        self.text = text
        self.numeric = numeric
        self.categorical = categorical
        self.max_categories = max_categories
        self.min_frequency = min_frequency

    def fit(self, X: pd.DataFrame, y: Any = None) -> TextTableEncoder:
        from aiforge.nlp import TextNormalizer

        self.normalizer_ = TextNormalizer()
        self.table_ = TabularEncoder(numeric=self.numeric, categorical=self.categorical, encoding="onehot",
                                     scale=True, max_categories=self.max_categories,
                                     min_frequency=self.min_frequency).fit(X)
        self.n_features_in_ = len(self.text or []) + self.table_.n_features_in_
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self._join([X[name].tolist() for name in self.text or []], self.table_.transform(X), len(X))

    def transform_columns(self, columns: Mapping[str, Sequence[Any]], rows: int) -> np.ndarray:
        """``transform`` of records given column by column (the serving fast path)."""
        return self._join([list(columns[name]) for name in self.text or []],
                          self.table_.transform_columns(columns, rows), rows)

    def _join(self, texts: list[list[Any]], table: np.ndarray, rows: int) -> np.ndarray:
        import numpy as np

        out = np.empty((rows, len(texts) + table.shape[1]), dtype=object)
        normalize = self.normalizer_.normalize
        for i, values in enumerate(texts):
            out[:, i] = [normalize(v) for v in values]
        out[:, len(texts):] = table
        return out

    def output_sources(self) -> list[str]:
        """For each output column, the input column it comes from."""
        return [*(self.text or []), *self.table_.output_sources()]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        import numpy as np

        return np.array([*(self.text or []), *self.table_.get_feature_names_out()], dtype=object)


class SourceTextEncoder(TransformerMixin, BaseEstimator):
    """The text columns as they are (a generator reads case, digits and links: nothing is normalised), missing
    values empty, as an object matrix; the other columns are left out."""

    def __init__(self, text: list[str] | None = None) -> None:
        self.text = text

    def fit(self, X: pd.DataFrame, y: Any = None) -> SourceTextEncoder:
        self.n_features_in_ = len(self.text or [])
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.transform_columns({name: X[name].tolist() for name in self.text or []}, len(X))

    def transform_columns(self, columns: Mapping[str, Sequence[Any]], rows: int) -> np.ndarray:
        import numpy as np
        import pandas as pd

        out = np.empty((rows, len(self.text or [])), dtype=object)
        for i, name in enumerate(self.text or []):
            out[:, i] = ["" if pd.isna(v) else str(v) for v in columns[name]]
        return out

    def output_sources(self) -> list[str]:
        return list(self.text or [])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        import numpy as np

        return np.array(list(self.text or []), dtype=object)
