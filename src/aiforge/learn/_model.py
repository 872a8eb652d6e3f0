"""A fitted tabular model: preprocessing + estimator, with the labels and columns it was trained on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

__all__ = ["FeatureSet", "TabularModel", "build_preprocessor", "choose_features", "in_chunks", "whole_batches"]

PARALLEL_ROWS = 256  # a batch of at least twice this many rows is predicted in chunks, one thread per core
MAX_ONEHOT_CATEGORIES = 50
MAX_ORDINAL_CATEGORIES = 250
ID_LIKE_DISTINCT_RATIO = 0.9


@dataclass(frozen=True)
class FeatureSet:
    """Which input columns a model uses, by kind, and which it ignores and why."""

    numeric: list[str]
    categorical: list[str]
    ignored: dict[str, str] = field(default_factory=dict)
    # free-text columns (read by the text learners; the others leave them out), and why each is text;
    # plain defaults, so that models pickled before text columns existed read as having none
    text: tuple[str, ...] = ()
    text_reasons: tuple[tuple[str, str], ...] = ()

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.text]


def choose_features(table: pa.Table, target: str, exclude: dict[str, str] | None = None,
                    text: list[str] | None = None) -> FeatureSet:
    """Split the input columns into numeric, categorical and free text; ignore what a model cannot use.

    ``text``: the columns the project file declares as text (``data.text_columns``); ``None`` recognises
    them by ``aiforge.nlp``'s rule, ``[]`` recognises none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from aiforge.nlp._columns import text_reason

    numeric: list[str] = []
    categorical: list[str] = []
    texts: list[str] = []
    reasons: list[tuple[str, str]] = []
    ignored: dict[str, str] = dict(exclude or {})
    n = max(table.num_rows, 1)
    for name in table.column_names:
        if name == target or name in ignored:
            continue
        col = table.column(name)
        t = col.type
        if text is not None and name in text:
            texts.append(name)
            reasons.append((name, "data.text_columns names it"))
            continue
        if col.null_count == len(col):
            ignored[name] = "every value is missing"
            continue
        why = text_reason(col) if text is None else None
        if why is not None:
            texts.append(name)
            reasons.append((name, why))
        elif pa.types.is_boolean(t):
            categorical.append(name)
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            numeric.append(name)
        elif pa.types.is_temporal(t):
            ignored[name] = "date/time columns are not used yet"
        elif not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t)):
            ignored[name] = f"columns of type {t} are not used yet"
        elif n >= 50 and pc.count_distinct(col).as_py() / n > ID_LIKE_DISTINCT_RATIO:
            ignored[name] = "almost every value is distinct (an identifier or free text)"
        else:
            categorical.append(name)
    return FeatureSet(numeric, categorical, ignored, tuple(texts), tuple(reasons))


def build_preprocessor(features: FeatureSet, *, encoding: str, scale: bool) -> tuple[Any, list[int]]:
    """The input encoder for the learner's needs, and the output positions of categorical inputs (for
    ``encoding="text"``, of the text columns)."""
    from aiforge.learn._encode import TabularEncoder

    if encoding == "source":  # a generator: the text columns as they are (no normalisation), nothing else
        from aiforge.learn._text_encode import SourceTextEncoder

        return SourceTextEncoder(text=list(features.text)), list(range(len(features.text)))
    if encoding == "text":  # text learners: normalised text first (its positions), then one-hot and scaled
        from aiforge.learn._text_encode import TextTableEncoder

        text = TextTableEncoder(text=list(features.text), numeric=list(features.numeric),
                                categorical=list(features.categorical), max_categories=MAX_ONEHOT_CATEGORIES,
                                min_frequency=5)
        return text, list(range(len(features.text)))
    onehot = encoding == "onehot"
    encoder = TabularEncoder(numeric=list(features.numeric), categorical=list(features.categorical),
                             encoding=encoding, scale=scale,
                             max_categories=MAX_ONEHOT_CATEGORIES if onehot else MAX_ORDINAL_CATEGORIES,
                             min_frequency=5 if onehot else 1)
    start = len(features.numeric)
    positions = [] if onehot else list(range(start, start + len(features.categorical)))
    return encoder, positions


def _to_text(X: Any) -> Any:
    """Cast categorical inputs to text so that mixed types (True/'yes'/1) encode consistently.

    Kept for models registered before ``TabularEncoder``: their pickled pipelines refer to it.
    """
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(X).astype(object)
    return frame.where(frame.isna(), frame.astype(str)).fillna(np.nan)


class TabularModel:
    """A fitted pipeline that speaks the user's labels.

    ``predict`` returns labels as they appear in the data (classification) or numbers
    (regression); ``predict_proba`` has one column per entry of ``classes``.
    """

    def __init__(self, pipeline: Any, task: TaskKind, classes: list[Any], features: FeatureSet,
                 learner: str, target: str, threshold: float = 0.5) -> None:
        self.pipeline = pipeline
        self.task = task
        self.classes = classes
        self.features = features
        self.learner = learner
        self.target = target
        self.threshold = threshold  # binary: the positive class is predicted at probability >= threshold

    @property
    def input_columns(self) -> list[str]:
        """The columns a record must hold to be predicted (the features; a fairness post-processor
        adds the sensitive attribute)."""
        return list(self.features.columns)

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return X[self.features.columns]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        if self.task is TaskKind.BINARY:
            positive = self.predict_proba(X)[:, 1] >= self.threshold
            return np.asarray(self.classes, dtype=object)[positive.astype(int)]
        out = self._in_chunks(self.pipeline.predict, self._frame(X))
        if self.task is TaskKind.REGRESSION:
            return np.asarray(out, dtype=float)
        if self.task.is_generation:
            return np.asarray(out, dtype=object)
        return np.asarray(self.classes, dtype=object)[np.asarray(out, dtype=int)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not self.task.is_classification:
            raise TypeError(f"predict_proba is not defined for a {self.task.value} model")
        return self._in_chunks(self.pipeline.predict_proba, self._frame(X))

    def _in_chunks(self, method: Any, frame: pd.DataFrame) -> Any:
        return in_chunks(method, frame, row_parallel=self.row_parallel)

    @property
    def row_parallel(self) -> bool:
        """Whether its rows predict independently in threads (table learners; not torch or text models)."""
        from aiforge.learn._learners import LEARNERS

        learner = LEARNERS.get(self.learner)
        if learner is not None:
            return learner.row_parallel
        return not self.features.text and not self.task.is_generation  # an ensemble of table learners

    def raw_output(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities (classification), values (regression) or generated texts: what metrics score."""
        import numpy as np

        if self.task.is_generation:
            return self.predict(X)
        if self.task is TaskKind.REGRESSION:
            return np.asarray(self._in_chunks(self.pipeline.predict, self._frame(X)), dtype=float)
        return self.predict_proba(X)

    def encode_target(self, y: pd.Series) -> np.ndarray:
        """Labels -> 0..k-1 in ``classes`` order (classification), floats (regression), texts as they are."""
        return target_values(y, self.task, self.classes)

    def __repr__(self) -> str:
        return f"TabularModel(learner={self.learner!r}, task={self.task.value!r}, target={self.target!r})"


def in_chunks(method: Any, frame: pd.DataFrame, *, row_parallel: bool = True) -> Any:
    """``method(frame)``; a large batch of a model whose rows predict independently (``row_parallel``) is cut
    into one chunk per core, predicted in threads (trees, linear models and ONNX Runtime release the GIL) and
    put back in order. Chunks keep at least ``PARALLEL_ROWS`` rows: below that, a thread costs more than it
    saves. Inside a chunk (or ``whole_batches``), batches are predicted whole."""
    import numpy as np

    workers = min(_cores(), len(frame) // PARALLEL_ROWS)
    if workers < 2 or getattr(_CHUNK, "inside", False) or not row_parallel:
        return method(frame)  # a model inside another's chunk (e.g. a mitigated model's) predicts it whole

    def chunk(bounds: tuple[int, int]) -> Any:
        _CHUNK.inside = True
        try:
            return method(frame.iloc[bounds[0]:bounds[1]])
        finally:
            _CHUNK.inside = False

    cuts = np.linspace(0, len(frame), workers + 1).astype(int)
    return np.concatenate(list(_pool().map(chunk, zip(cuts[:-1], cuts[1:], strict=True))))


@contextmanager
def whole_batches() -> Iterator[None]:
    """Within it, this thread predicts every batch whole: for callers that already spread batches over the cores
    (batch scoring's chunk pool)."""
    before = getattr(_CHUNK, "inside", False)
    _CHUNK.inside = True
    try:
        yield
    finally:
        _CHUNK.inside = before


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_POOL: list[Any] = []
_POOL_LOCK = threading.Lock()
_CHUNK = threading.local()


def _pool() -> Any:
    """The threads that predict the chunks of a batch (one per core, made once, shared by every model)."""
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=_cores(), thread_name_prefix="aiforge-predict"))
        return _POOL[0]


def target_values(y: pd.Series, task: TaskKind, classes: list[Any]) -> np.ndarray:
    """The target as models learn it: class indices in ``classes`` order, floats, or texts (generation)."""
    if task is TaskKind.REGRESSION:
        return y.to_numpy(dtype=float)
    if task.is_generation:
        return y.astype(str).to_numpy(dtype=object)
    return encode_labels(y, classes)


def encode_labels(y: pd.Series, classes: list[Any]) -> np.ndarray:
    import numpy as np

    lookup = {_label_key(c): i for i, c in enumerate(classes)}
    try:
        return np.array([lookup[_label_key(v)] for v in y], dtype=int)
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not one of the trained classes {classes}") from exc


def _label_key(value: Any) -> str:
    """Labels compare by text, with 1.0 == 1 (pandas turns integer columns with gaps into floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
