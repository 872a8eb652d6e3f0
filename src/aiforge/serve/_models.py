"""Which version of a model answers, and the loaded versions kept in memory.

A name resolves to the version holding ``production``, else ``staging``, else the newest accepted
``candidate``. A version rejected by its KPI gate is never served, not even when asked for by number.
The resolution is re-read from the registry at most every ``refresh_seconds``, so promoting a version
moves the traffic without a restart while the hot path stays free of database queries.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiforge.errors import RegistryError
from aiforge.registry import ModelRegistry, ModelVersion, VersionStatus, served_version
from aiforge.serve._schema import FieldError, InputSchema, invalid
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["ModelCache", "Outputs", "ServedModel", "served_version"]

log = logging.getLogger("aiforge.serve")

@dataclass(frozen=True)
class Outputs:
    """A batch's predictions: ``labels`` and ``probabilities`` (rows x classes) for classification,
    ``values`` for regression; for text generation (``generated``) the generated texts as ``labels`` and their
    lengths in words as ``values``: what the prediction log keeps, and drift compares with the reference's."""

    labels: list[Any] | None
    probabilities: np.ndarray | None
    values: list[float] | None
    generated: bool = False

    def __len__(self) -> int:
        return len(self.values if self.values is not None else self.labels or [])


@dataclass(frozen=True)
class ServedModel:
    """A loaded version with its input schema, ready to predict."""

    version: ModelVersion
    model: Any  # a fitted TabularModel
    schema: InputSchema
    classes: tuple[Any, ...]  # JSON-ready class labels, in the order of the probability columns
    class_keys: tuple[str, ...]  # the same as text: the keys of a prediction's probabilities
    compiled: Any = None  # learn.CompiledModel: the fast path from validated columns (ONNX Runtime or native)

    @property
    def task(self) -> TaskKind:
        return self.model.task

    def predict_columns(self, columns: dict[str, list[Any]]) -> Outputs:
        """``predict`` from validated columns through the compiled fast path (no DataFrame for models
        that compile; the path registered as ``lineage.inference``, whose parity says how close it is to
        the native path)."""
        if self.compiled is None or self.compiled.native:
            return self.predict(self.schema.frame(columns))
        rows = len(next(iter(columns.values()))) if columns else 0
        return self._outputs(self.compiled.raw_output_columns(columns, rows))

    def predict(self, frame: pd.DataFrame) -> Outputs:
        """Labels the way ``TabularModel.predict`` decides them (binary: probability of the positive
        class at or above the model's threshold; multiclass: the most probable class), computed from one
        ``predict_proba`` call instead of two."""
        if self.task is TaskKind.REGRESSION:
            return self._outputs(self.model.predict(frame))
        if self.task.is_generation:
            texts = [str(text) for text in self.model.predict(frame)]
            return Outputs(texts, None, [float(len(t.split())) for t in texts], generated=True)
        return self._outputs(self.model.predict_proba(frame))

    def _outputs(self, output: Any) -> Outputs:
        import numpy as np

        array = np.asarray(output, dtype=float)
        finite = np.isfinite(array) if array.ndim == 1 else np.isfinite(array).all(axis=1)
        if not finite.all():  # e.g. a linear model whose terms overflow: a 422 naming the records, not a 500
            raise invalid([FieldError(int(i), "output", "the model's output is not a number for this record; are "
                                      "its values far outside the training data?") for i in np.flatnonzero(~finite)],
                          "outputs")
        if self.task is TaskKind.REGRESSION:
            return Outputs(None, None, array.tolist())
        proba = array
        if self.task is TaskKind.BINARY:
            picked = (proba[:, 1] >= self.model.threshold).astype(int)
        else:
            picked = proba.argmax(axis=1)
        return Outputs([self.classes[i] for i in picked.tolist()], proba, None)


def _number(text: str) -> int | None:
    """A version number from a URL segment ('latest', '2.0' or '²' are none)."""
    if not (text.isascii() and text.isdigit() and len(text) < 12):
        return None
    return int(text)


def _native(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and not isinstance(value, str | bytes) else value


class ModelCache:
    """Loaded versions by (name, number), and which number answers for each name."""

    def __init__(self, registry: ModelRegistry, *, refresh_seconds: float = 2.0) -> None:
        self.registry = registry
        self.refresh_seconds = refresh_seconds
        self._loaded: dict[tuple[str, int], ServedModel] = {}
        self._serving: dict[str, tuple[float, int]] = {}  # name -> (when resolved, version number)
        self._lock = threading.Lock()

    def fresh(self, name: str) -> ServedModel | None:
        """The model answering for ``name`` if it is loaded and its resolution is recent (no I/O)."""
        serving = self._serving.get(name)
        if serving is None or time.monotonic() - serving[0] > self.refresh_seconds:
            return None
        return self._loaded.get((name, serving[1]))

    def last(self, name: str) -> ServedModel | None:
        """The model that answered for ``name`` at its latest resolution, however old (no I/O)."""
        serving = self._serving.get(name)
        return self._loaded.get((name, serving[1])) if serving is not None else None

    def serving(self, name: str) -> ServedModel:
        """The model answering for ``name``: re-resolved from the registry, loaded if needed."""
        versions = self.registry.versions(name)
        chosen = served_version(versions)
        if chosen is None:
            if not versions:
                raise self._unknown(name)
            statuses = ", ".join(f"v{v.version} {v.status.value}" for v in versions)
            raise RegistryError(f"model '{name}' has no version that may be served", found=statuses,
                                hint="a version is served once it passes its KPI gate: fix the failing KPI "
                                "and run the project again")
        served = self._load(chosen)
        self._serving[name] = (time.monotonic(), chosen.version)
        return served

    def forget_serving(self) -> None:
        """Forget which version answers for each name: the next request re-resolves it."""
        self._serving.clear()

    def loaded(self, name: str, number: str) -> ServedModel | None:
        """An explicit version if it is loaded already (no I/O)."""
        key = _number(number)
        return self._loaded.get((name, key)) if key is not None else None

    def version(self, name: str, number: str) -> ServedModel:
        """An explicit version (any accepted one, with or without an alias)."""
        wanted = _number(number)
        if wanted is not None and (name, wanted) in self._loaded:
            return self._loaded[(name, wanted)]
        versions = self.registry.versions(name)
        if not versions:
            raise self._unknown(name)
        found = next((v for v in versions if v.version == wanted), None)
        if found is None:
            raise RegistryError(f"model '{name}' has no version '{number}'",
                                found="versions " + ", ".join(str(v.version) for v in versions),
                                hint=f"GET /v2/models/{name} lists the versions that may be served")
        if found.status is VersionStatus.REJECTED:
            failed = [r["message"] for r in found.gate.get("results", []) if not r.get("passed")]
            raise RegistryError(f"{name} v{found.version} failed its KPI gate and is never served",
                                found="; ".join(failed) or "rejected",
                                hint=f"send requests to /v1/models/{name}/predict for the version that answers")
        return self._load(found)

    def names(self) -> list[str]:
        return sorted({v.name for v in self.registry.versions()})

    def _load(self, version: ModelVersion) -> ServedModel:
        key = (version.name, version.version)
        with self._lock:  # one load per version even when requests race for it
            if key not in self._loaded:
                compiled = self.registry.load_predictor(version)  # the path chosen at registration
                if compiled.note:  # e.g. ONNX Runtime is not installed here: the native fast path serves
                    log.warning("%s v%d: %s", version.name, version.version, compiled.note)
                model = compiled.model
                classes = tuple(_native(c) for c in getattr(model, "classes", []) or [])
                schema = InputSchema.from_model(model, self._sample(version))
                self._loaded[key] = ServedModel(version, model, schema, classes, tuple(str(c) for c in classes),
                                                compiled)
            return self._loaded[key]

    def _sample(self, version: ModelVersion) -> Any:
        """The Arrow schema of the version's stored training rows (integer vs float inputs), if any."""
        if "background" not in version.documents:
            return None
        import pyarrow.parquet as pq

        return pq.read_schema(io.BytesIO(self.registry.document(version, "background")))

    def _unknown(self, name: str) -> RegistryError:
        known = self.names()
        return RegistryError(f"no model named '{name}'", found=", ".join(known) if known else "no registered models",
                             hint="GET /v1/models lists the models this server answers for")
