"""Per-value statistics of a text column, for drift monitoring: length in words, the share of words
outside a training vocabulary, and a small embedding (TF-IDF over the commonest training words,
projected on their first truncated-SVD components).

Everything a window needs is plain data (words, IDF weights, components), so the embedding travels in
a version's JSON reference and needs neither the model nor the transformers extra to compute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiforge.nlp._preprocess import TextNormalizer

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TextEmbedding", "fit_embedding", "tokenized", "vocabulary_of", "word_statistics"]

VOCABULARY_SIZE = 10_000  # words kept for the out-of-vocabulary rate (commonest first, each seen twice or more)
EMBEDDING_WORDS = 2_000  # words the embedding reads
EMBEDDING_DIMENSIONS = 5


def tokenized(values: Iterable[Any]) -> list[list[str] | None]:
    """Each value's words (``aiforge.nlp``'s normalisation and tokeniser, no stop words); None when missing."""
    normalizer = TextNormalizer()
    return [None if v is None or (isinstance(v, float) and v != v) else normalizer.tokens(v) for v in values]


def vocabulary_of(tokens: Sequence[list[str] | None], size: int = VOCABULARY_SIZE, min_count: int = 2) -> list[str]:
    """The ``size`` commonest words seen at least ``min_count`` times (ties by text)."""
    counts = Counter(word for words in tokens if words for word in words)
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return ranked[:size]


def word_statistics(tokens: Sequence[list[str] | None], vocabulary: set[str]) -> tuple[np.ndarray, np.ndarray,
                                                                                        int, int]:
    """Per present value: its length in words and the share of its words outside ``vocabulary`` (NaN for an
    empty value); and over all values, the words outside it and all words."""
    import numpy as np

    lengths, shares = [], []
    unknown = total = 0
    for words in tokens:
        if words is None:
            continue
        outside = sum(1 for w in words if w not in vocabulary)
        lengths.append(len(words))
        shares.append(outside / len(words) if words else np.nan)
        unknown += outside
        total += len(words)
    return np.asarray(lengths, dtype=float), np.asarray(shares, dtype=float), unknown, total


@dataclass(frozen=True)
class TextEmbedding:
    """L2-normalised TF-IDF over ``words``, projected on ``components`` (one row of weights per dimension)."""

    words: list[str]
    idf: list[float]
    components: list[list[float]]

    def transform(self, tokens: Sequence[list[str] | None]) -> np.ndarray:
        """One row per present value (missing ones skipped), ``len(components)`` columns."""
        import numpy as np

        matrix = _tfidf([t for t in tokens if t is not None], {w: i for i, w in enumerate(self.words)},
                        np.asarray(self.idf))
        return np.asarray(matrix @ np.asarray(self.components).T, dtype=float)

    def to_json(self) -> dict[str, Any]:
        return {"words": self.words, "idf": self.idf, "components": self.components}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextEmbedding:
        return cls(list(data["words"]), list(data["idf"]), [list(c) for c in data["components"]])


def fit_embedding(tokens: Sequence[list[str] | None], *, words: int = EMBEDDING_WORDS,
                  dimensions: int = EMBEDDING_DIMENSIONS, seed: int = 0) -> TextEmbedding | None:
    """The embedding of a training column; None when it has too few distinct words to project."""
    import numpy as np
    from sklearn.decomposition import TruncatedSVD

    present = [t for t in tokens if t is not None]
    kept = vocabulary_of(present, size=words, min_count=1)
    if len(kept) <= dimensions or len(present) <= dimensions:
        return None
    index = {w: i for i, w in enumerate(kept)}
    df = np.zeros(len(kept))
    for t in present:
        for w in set(t):
            i = index.get(w)
            if i is not None:
                df[i] += 1
    idf = np.log((1 + len(present)) / (1 + df)) + 1
    svd = TruncatedSVD(n_components=dimensions, random_state=seed).fit(_tfidf(present, index, idf))
    return TextEmbedding(kept, [round(float(v), 6) for v in idf],
                         [[round(float(v), 6) for v in row] for row in svd.components_])


def _tfidf(tokens: Sequence[list[str]], index: dict[str, int], idf: np.ndarray) -> Any:
    import numpy as np
    from scipy import sparse

    rows, cols = [], []
    for r, words in enumerate(tokens):
        for w in words:
            i = index.get(w)
            if i is not None:
                rows.append(r)
                cols.append(i)
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(tokens), len(index)))
    matrix.sum_duplicates()
    matrix = matrix.multiply(idf).tocsr()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1 / norms) @ matrix
