"""The serving fast path: a fitted model's prediction without pandas and without scikit-learn's checks.

A request's records arrive as columns of plain values. ``CompiledModel`` encodes them with the fitted
``TabularEncoder`` straight from those columns and calls the estimator's own predictor: LightGBM's
booster (one thread for small batches: spreading one row over every core costs more than it saves),
or the estimator's ``predict_proba``/``predict`` on the encoded matrix; or, given the estimator's ONNX
model (``learn._onnx``), ONNX Runtime. On Adult this takes one row from ~2.5 ms (DataFrame, column
selection, scikit-learn wrapper) to ~0.15 ms. A weighted ensemble of such pipelines compiles member by
member: each distinct encoder once, each member's predictor, the weighted sum (its ONNX model holds every
member). Models it cannot compile (fairness-mitigated models, ensembles over text encoders) fall back to
the native path through a one-batch DataFrame, so every model can be served the same way.

``parity`` compares a path with the native one on real rows; the registry records the largest difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiforge.learn._model import TabularModel
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["CompiledModel", "Member", "compile_model"]

SINGLE_THREAD_ROWS = 2000  # batches up to this size predict on one thread
ONNX_PATH = "onnxruntime"


@dataclass(frozen=True)
class Member:
    """One model of a weighted ensemble on the fast path: which of the ensemble's encoders feeds it
    (``prep``: an index into ``CompiledModel.preps``), its estimator and weight, and whether LightGBM's
    booster predicts for it."""

    prep: int
    estimator: Any
    weight: float
    booster: bool


@dataclass
class CompiledModel:
    """``raw_output_columns`` gives what ``TabularModel.raw_output`` gives, from columns of values.

    A single estimator behind its encoder has ``prep`` and ``estimator``; a weighted ensemble has ``preps``
    (its distinct encoders, each run once per batch) and ``members``; ``onnx`` predicts for either when ONNX
    Runtime serves (an ensemble's ONNX model takes one input per encoder and gives the weighted sum)."""

    model: TabularModel
    path: str  # "onnxruntime", "lightgbm booster", "estimator", "ensemble fast path", or "native (...)"
    prep: Any = None
    estimator: Any = None
    onnx: Any = None  # learn._onnx.OnnxPredictor when ONNX Runtime predicts
    note: str = ""  # why a requested path is not the one taken (e.g. ONNX Runtime is not installed)
    preps: tuple[Any, ...] = ()
    members: tuple[Member, ...] = ()

    @property
    def native(self) -> bool:
        return self.prep is None and not self.members

    def encode_columns(self, columns: Mapping[str, Sequence[Any]], rows: int) -> Any:
        """The encoded matrix (an ensemble: one per encoder) of ``rows`` records given as columns."""
        if self.members:
            return [prep.transform_columns(columns, rows) for prep in self.preps]
        return self.prep.transform_columns(columns, rows)

    @property
    def task(self) -> TaskKind:
        return self.model.task

    @property
    def classes(self) -> list[Any]:
        return self.model.classes

    @property
    def threshold(self) -> float:
        return self.model.threshold

    @property
    def input_columns(self) -> list[str]:
        return self.model.input_columns

    def raw_output_columns(self, columns: Mapping[str, Sequence[Any]], rows: int) -> np.ndarray:
        """Probabilities (classification; one column per class) or values (regression) for ``rows`` records
        given as ``{column: values}`` over the model's ``input_columns``."""
        if self.native:
            import pandas as pd

            frame = pd.DataFrame({c: columns[c] for c in self.model.input_columns})
            return self.model.raw_output(frame)
        return self._from_encoded(self.encode_columns(columns, rows), rows)

    def raw_output(self, X: pd.DataFrame) -> np.ndarray:
        """``TabularModel.raw_output`` of a DataFrame through this path: the fitted encoder's own DataFrame
        transform, then the path's predictor; a large batch in one chunk per core (``learn.in_chunks``), each
        chunk on one thread."""
        if self.native:
            return self.model.raw_output(X)
        from aiforge.learn._model import in_chunks

        def chunk(frame: pd.DataFrame) -> np.ndarray:
            encoded = [prep.transform(frame) for prep in self.preps] if self.members else self.prep.transform(frame)
            return self._from_encoded(encoded, len(frame), threads=1)

        return in_chunks(chunk, X[self.model.input_columns], row_parallel=self.model.row_parallel)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not self.task.is_classification:
            raise TypeError(f"predict_proba is not defined for a {self.task.value} model")
        return self.raw_output(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Labels as the data spells them (classification: the binary decision threshold applies) or values."""
        import numpy as np

        if self.native or self.task.is_generation:
            return self.model.predict(X)
        out = self.raw_output(X)
        if self.task is TaskKind.REGRESSION:
            return np.asarray(out, dtype=float)
        picked = out[:, 1] >= self.threshold if self.task is TaskKind.BINARY else out.argmax(axis=1)
        return np.asarray(self.classes, dtype=object)[np.asarray(picked, dtype=int)]

    def _from_encoded(self, encoded: Any, rows: int, threads: int | None = None) -> np.ndarray:
        """The path's predictor on the encoded matrix (an ensemble: matrices); ``threads`` (default: one up to
        ``SINGLE_THREAD_ROWS`` rows, then every core)."""
        if self.onnx is not None:
            return self.onnx.run(encoded, threads=threads)
        task = self.model.task
        if self.members:  # the weighted sum in WeightedEnsemble's order: the same floats
            total: Any = 0
            for member in self.members:
                total = total + member.weight * _output(member.estimator, member.booster, task, encoded[member.prep],
                                                        rows, threads)
            return total
        return _output(self.estimator, self.path == "lightgbm booster", task, encoded, rows, threads)

    def parity(self, X: pd.DataFrame) -> float:
        """The largest absolute difference between this path and the native one on the rows of ``X``."""
        import numpy as np

        columns = {c: X[c].tolist() for c in self.model.input_columns}
        fast = self.raw_output_columns(columns, len(X))
        native = self.model.raw_output(X)
        return float(np.max(np.abs(np.asarray(fast, dtype=float) - np.asarray(native, dtype=float))))


def compile_model(model: TabularModel, onnx: bytes | None = None) -> CompiledModel:
    """The fastest faithful prediction path for ``model``; with ``onnx``, the ONNX model of its estimator
    (``learn._onnx.convert_estimator``; an ensemble's: ``convert_ensemble``), ONNX Runtime predicts on the
    encoded matrix, unless ONNX Runtime is missing here: then the native fast path does, and ``note`` says so."""
    from aiforge.learn._encode import TabularEncoder
    from aiforge.learn._ensemble import WeightedEnsemble
    from aiforge.learn._text_encode import TextTableEncoder

    pipeline = model.pipeline
    if type(model) is TabularModel and isinstance(pipeline, WeightedEnsemble):
        compiled = _compile_ensemble(model, pipeline)
    else:
        steps = getattr(pipeline, "named_steps", None)
        if type(model) is not TabularModel or steps is None or set(steps) != {"prep", "model"}:
            return CompiledModel(model, f"native ({type(pipeline).__name__})")
        prep, estimator = steps["prep"], steps["model"]
        if not isinstance(prep, TabularEncoder | TextTableEncoder):
            return CompiledModel(model, f"native ({type(prep).__name__} inputs)")
        booster = _plain_lightgbm(estimator, model.task)
        compiled = CompiledModel(model, "lightgbm booster" if booster else "estimator", prep, estimator)
    if onnx is None or compiled.native:
        return compiled
    from aiforge.learn._onnx import OnnxPredictor, missing_onnx

    problem = missing_onnx()
    if problem is None:
        try:
            compiled.onnx = OnnxPredictor(onnx, model.task)
            compiled.path = ONNX_PATH
            return compiled
        except Exception as exc:  # an ONNX model this onnxruntime cannot load: serve natively, say why
            problem = f"onnxruntime could not load the ONNX model ({type(exc).__name__}: {str(exc)[:200]})"
    compiled.note = f"ONNX Runtime cannot serve here: {problem}; the {compiled.path} path serves instead"
    return compiled


def _compile_ensemble(model: TabularModel, ensemble: Any) -> CompiledModel:
    """A weighted ensemble of encoder + estimator pipelines on the fast path: each distinct encoder runs once
    per batch (members fitted together share one), each member's estimator on its output. Other ensembles
    (text encoders, members of another shape) predict natively."""
    from aiforge.learn._encode import TabularEncoder

    preps: list[Any] = []
    members: list[Member] = []
    for pipe, weight in ensemble.members:
        steps = getattr(pipe, "named_steps", None)
        if steps is None or set(steps) != {"prep", "model"} or type(steps["prep"]) is not TabularEncoder:
            return CompiledModel(model, f"native ({type(ensemble).__name__})")
        index = next((i for i, p in enumerate(preps) if p is steps["prep"]), len(preps))
        if index == len(preps):
            preps.append(steps["prep"])
        members.append(Member(index, steps["model"], weight, _plain_lightgbm(steps["model"], model.task)))
    return CompiledModel(model, "ensemble fast path", preps=tuple(preps), members=tuple(members))


def _output(estimator: Any, booster: bool, task: TaskKind, encoded: Any, rows: int,
            threads: int | None) -> np.ndarray:
    """An estimator's probabilities or values on the encoded matrix: through LightGBM's booster (``booster``;
    one thread up to ``SINGLE_THREAD_ROWS`` rows unless ``threads`` says), else its own method."""
    import numpy as np

    if booster:
        out = np.asarray(estimator.booster_.predict(
            encoded, num_threads=threads or (1 if rows <= SINGLE_THREAD_ROWS else 0)), dtype=float)
        return np.column_stack([1.0 - out, out]) if task is TaskKind.BINARY else out
    if task is TaskKind.REGRESSION:
        return np.asarray(estimator.predict(encoded), dtype=float)
    return np.asarray(estimator.predict_proba(encoded), dtype=float)


def _plain_lightgbm(estimator: Any, task: TaskKind) -> bool:
    """A LightGBM model whose booster's own output is the wrapper's: a standard objective, classes encoded
    0..k-1."""
    if type(estimator).__name__ not in ("LGBMClassifier", "LGBMRegressor"):
        return False
    objective = str(estimator.get_params().get("objective") or "")
    if task is TaskKind.REGRESSION:
        return objective in ("", "regression", "l2")
    classes = getattr(estimator, "classes_", None)
    return classes is not None and list(classes) == list(range(len(classes))) and objective in (
        "", "binary", "multiclass")
