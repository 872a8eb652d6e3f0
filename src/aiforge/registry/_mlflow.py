"""The MLflow model format, both ways, written and read without importing MLflow.

``export_mlflow`` writes a registered version as an MLflow model folder: an ``MLmodel`` file with a
``python_function`` flavor whose ``loader_module`` is this module (so ``mlflow.pyfunc.load_model`` needs aiforge
installed, as the folder's ``requirements.txt`` says, and nothing of cloudpickle), an ``aiforge`` flavor with the
version's identity, the input signature, and the environment files. The model's bytes are checked against the
SHA-256 recorded beside them before they are unpickled.

``import_mlflow`` registers an MLflow model folder: one aiforge exported (its record comes back whole: metrics,
KPI gate, lineage, documents), or a scikit-learn model (the ``sklearn`` flavor, pickled or cloudpickled; its
inputs from the model's signature), wrapped so that it speaks labels like every aiforge model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import RegistryError
from aiforge.registry._bundle import environment_lock, input_schema
from aiforge.registry._registry import ModelRegistry, ModelVersion, VersionStatus
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["AiforgePyfunc", "ImportedEstimator", "export_mlflow", "import_mlflow"]

LOADER_MODULE = "aiforge.registry._mlflow"
DATA = "model"
MODEL_FILE = "model.joblib"
RECORD_FILE = "aiforge.json"
_NUMBER_TYPES = {"double": "FP64", "float": "FP64", "long": "INT64", "integer": "INT64"}
_ARROW_TO_MLFLOW = {"int8": "long", "int16": "long", "int32": "long", "int64": "long", "uint8": "long",
                    "uint16": "long", "uint32": "long", "uint64": "long", "float": "double", "double": "double",
                    "bool": "boolean"}


class MlflowFormatError(RegistryError):
    """An MLflow model folder that cannot be imported."""

    http_status = 400


def export_mlflow(registry: ModelRegistry, version: ModelVersion, folder: Path) -> Path:
    """Write ``version`` as an MLflow model in ``folder`` (which must not exist: it is written beside, then
    renamed into place). A version rejected by its KPI gate is refused."""
    import yaml

    if version.status is VersionStatus.REJECTED:
        raise RegistryError(f"{version.name} v{version.version} failed its KPI gate and is never exported for serving",
                            hint="export an accepted version ('aiforge models' lists them)")
    folder = Path(folder)
    if folder.exists():
        raise RegistryError("the MLflow model folder exists already", where=str(folder),
                            hint="choose a new folder: an export never writes over files")
    model_bytes = registry.workspace.artifacts.get_bytes(version.artifact)
    model = registry.load_model(version)
    background = registry.document(version, "background") if "background" in version.documents else None
    schema = input_schema(model, background)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / DATA).mkdir(parents=True)
    (tmp / DATA / MODEL_FILE).write_bytes(model_bytes)
    record: dict[str, Any] = {"name": version.name, "version": version.version, "learner": version.learner,
              "status": version.status.value, "run_id": version.run_id, "metrics": version.metrics,
              "gate": version.gate, "lineage": version.lineage, "schema": schema,
              "sha256": hashlib.sha256(model_bytes).hexdigest(),
              "documents": {kind: f"{kind}.bin" for kind in sorted(version.documents)}}
    for kind, file in record["documents"].items():
        (tmp / DATA / file).write_bytes(registry.document(version, kind))
    (tmp / DATA / RECORD_FILE).write_text(json.dumps(record, indent=1, sort_keys=True, default=str))
    python = sys.version.split()[0]
    lock = environment_lock(["onnx", "onnxruntime", "onnxmltools", "skl2onnx"] if "onnx" in version.documents else [])
    (tmp / "requirements.txt").write_text("\n".join(lock) + "\n")
    (tmp / "python_env.yaml").write_text(yaml.safe_dump({"python": python, "build_dependencies": ["pip"],
                                                         "dependencies": ["-r requirements.txt"]}, sort_keys=False))
    (tmp / "conda.yaml").write_text(yaml.safe_dump({"name": "aiforge", "channels": ["conda-forge"], "dependencies": [
        f"python={python}", "pip", {"pip": lock}]}, sort_keys=False))
    if "card_md" in version.documents:
        (tmp / "model_card.md").write_bytes(registry.document(version, "card_md"))
    mlmodel: dict[str, Any] = {
        "artifact_path": DATA,
        "flavors": {
            "python_function": {"loader_module": LOADER_MODULE, "data": DATA, "python_version": python,
                                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}},
            "aiforge": {"name": version.name, "version": version.version, "learner": version.learner,
                        "task": schema["task"], "aiforge_version": _installed("aiforge")},
        },
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "signature": {"inputs": json.dumps([_signature_column(c) for c in schema["columns"]]),
                      "outputs": json.dumps([{"type": "string" if schema["classes"] else "double",
                                              "name": "prediction", "required": True}]),
                      "params": None},
    }
    mlflow_version = _installed("mlflow-skinny") or _installed("mlflow")
    if mlflow_version:
        mlmodel["mlflow_version"] = mlflow_version
    (tmp / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=False))
    os.replace(tmp, folder)
    return folder


def import_mlflow(registry: ModelRegistry, folder: Path, *, name: str | None = None, task: TaskKind | None = None,
                  target: str = "target") -> ModelVersion:
    """Register the MLflow model in ``folder``: one aiforge exported keeps its record (under ``name`` if given);
    a scikit-learn model becomes an accepted candidate named ``name`` with no KPI results (it was not gated here),
    its task inferred (``predict_proba`` and ``classes_``: classification) unless given."""
    import yaml

    folder = Path(folder)
    mlmodel_path = folder / "MLmodel"
    if not mlmodel_path.is_file():
        raise MlflowFormatError("no MLmodel file: this is not an MLflow model folder", where=str(folder),
                                hint="point at the folder that holds MLmodel (e.g. mlruns/.../artifacts/model)")
    try:
        mlmodel = yaml.safe_load(mlmodel_path.read_text())
        flavors = dict(mlmodel["flavors"])
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise MlflowFormatError("the MLmodel file cannot be read", where=str(mlmodel_path), found=str(exc)) from exc
    if "aiforge" in flavors:
        return _import_own(registry, folder, flavors, name)
    if "sklearn" in flavors:
        if not name:
            raise MlflowFormatError("a scikit-learn MLflow model needs a name to be registered under",
                                    where=str(folder), hint="pass --name")
        return _import_sklearn(registry, folder, mlmodel, flavors["sklearn"], name, task, target)
    raise MlflowFormatError("this MLflow model's flavors cannot be imported", where=str(mlmodel_path),
                            expected="the aiforge flavor (aiforge mlflow export) or sklearn",
                            found=", ".join(sorted(flavors)) or "no flavors",
                            hint="log the model with mlflow.sklearn, or serve it with MLflow")


def _import_own(registry: ModelRegistry, folder: Path, flavors: dict[str, Any], name: str | None) -> ModelVersion:
    data = _inside(folder, str(flavors.get("python_function", {}).get("data", DATA)))
    try:
        record = json.loads((data / RECORD_FILE).read_text())
        files = {kind: _inside(data, str(file)) for kind, file in record["documents"].items()}
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise MlflowFormatError(f"the aiforge flavor's {RECORD_FILE} cannot be read", where=str(data / RECORD_FILE),
                                found=f"{type(exc).__name__}: {exc}", hint="export the version again") from exc
    model_bytes = _verified(data, record)
    store = registry.workspace.artifacts
    artifact = store.put_bytes(model_bytes)
    documents = {kind: store.put_bytes(path.read_bytes()) for kind, path in files.items()}
    lineage = {**record["lineage"], "mlflow_import": {"folder": str(folder), "name": record["name"],
                                                      "version": record["version"]}}
    return registry.register(name=name or record["name"], run_id=record["run_id"], artifact=artifact,
                             learner=record["learner"], metrics=record["metrics"], gate=record["gate"],
                             lineage=lineage, accepted=record["status"] == VersionStatus.ACCEPTED.value,
                             documents=lambda number: documents)


def _import_sklearn(registry: ModelRegistry, folder: Path, mlmodel: dict[str, Any], flavor: dict[str, Any],
                    name: str, task: TaskKind | None, target: str) -> ModelVersion:
    import joblib

    from aiforge.learn import TabularModel

    serialization = flavor.get("serialization_format", "cloudpickle")
    if serialization not in ("pickle", "cloudpickle"):
        raise MlflowFormatError(f"scikit-learn models saved as {serialization!r} cannot be imported yet",
                                where=str(folder / "MLmodel"), expected="pickle or cloudpickle", found=serialization,
                                hint="save the model with mlflow.sklearn.save_model(..., serialization_format="
                                "'cloudpickle')")
    path = _inside(folder, str(flavor.get("pickled_model", "model.pkl")))
    with path.open("rb") as fh:  # the user's own model, loaded as mlflow.sklearn would: import only models you trust
        if serialization == "cloudpickle":
            import cloudpickle

            estimator = cloudpickle.load(fh)
        else:
            import pickle

            estimator = pickle.load(fh)  # noqa: S301
    features = _signature_features(mlmodel, estimator, folder)
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(estimator, "classes_", [])]
    if task is None:
        task = (TaskKind.BINARY if len(classes) == 2 else TaskKind.MULTICLASS) if (
            hasattr(estimator, "predict_proba") and classes) else TaskKind.REGRESSION
    if task.is_classification and not (hasattr(estimator, "predict_proba") and classes):
        raise MlflowFormatError(f"a {task.value} model needs predict_proba and classes_", where=str(path),
                                found=type(estimator).__name__)
    model = TabularModel(ImportedEstimator(estimator, task is not TaskKind.REGRESSION), task,
                         classes if task.is_classification else [], features,
                         learner=f"mlflow:{type(estimator).__name__}", target=target)
    buf = io.BytesIO()
    joblib.dump(model, buf)
    artifact = registry.workspace.artifacts.put_bytes(buf.getvalue())
    lineage = {"mlflow_import": {"folder": str(folder), "flavor": "sklearn", "run_id": mlmodel.get("run_id"),
                                 "model_uuid": mlmodel.get("model_uuid"),
                                 "mlflow_version": mlmodel.get("mlflow_version"),
                                 "sklearn_version": flavor.get("sklearn_version"),
                                 "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
               "libraries": {"scikit-learn": _installed("scikit-learn")}}
    gate = {"passed": True, "results": [], "note": "imported from MLflow: no KPI of an aiforge project was checked"}
    return registry.register(name=name, run_id=str(mlmodel.get("run_id") or f"mlflow-{mlmodel.get('model_uuid')}"),
                             artifact=artifact, learner=model.learner, metrics={}, gate=gate, lineage=lineage,
                             accepted=True)


def _signature_features(mlmodel: dict[str, Any], estimator: Any, folder: Path) -> Any:
    """The input columns from the model's signature (numbers and categories by their MLflow types), else the
    estimator's ``feature_names_in_`` (all numbers)."""
    from aiforge.learn import FeatureSet

    inputs = (mlmodel.get("signature") or {}).get("inputs")
    if inputs:
        columns = json.loads(inputs) if isinstance(inputs, str) else inputs
        if all(isinstance(c, dict) and c.get("name") for c in columns):
            numeric = [c["name"] for c in columns if c.get("type") in _NUMBER_TYPES]
            categorical = [c["name"] for c in columns if c.get("type") not in _NUMBER_TYPES]
            return FeatureSet(numeric, categorical)
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        raise MlflowFormatError("the model's input columns are unknown: its MLmodel has no column signature and the "
                                "estimator no feature_names_in_", where=str(folder / "MLmodel"),
                                hint="log the model with a signature (mlflow.models.infer_signature(X, y))")
    return FeatureSet([str(n) for n in names], [])


class ImportedEstimator:
    """A scikit-learn estimator as ``TabularModel`` expects it: ``predict`` gives class positions (classification)
    or values, ``predict_proba`` the estimator's own."""

    def __init__(self, estimator: Any, classifier: bool) -> None:
        self.estimator = estimator
        self.classifier = classifier

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        if not self.classifier:
            return np.asarray(self.estimator.predict(X), dtype=float)
        return np.asarray(self.estimator.predict_proba(X)).argmax(axis=1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict_proba(X)


class AiforgePyfunc:
    """What ``mlflow.pyfunc.load_model`` returns for a model aiforge exported: ``predict(DataFrame)`` gives the
    columns ``aiforge predict`` writes: ``prediction`` and, for classification, ``probability_<class>``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        out = pd.DataFrame(index=frame.index)
        if self.model.task is TaskKind.REGRESSION:
            out["prediction"] = np.asarray(self.model.raw_output(frame), dtype=float)
            return out
        if self.model.task is TaskKind.TEXT_GENERATION:
            out["prediction"] = [str(text) for text in self.model.predict(frame)]
            return out
        proba = np.asarray(self.model.predict_proba(frame), dtype=float)
        out["prediction"] = [str(label) for label in self.model.predict(frame)]
        for i, label in enumerate(self.model.classes):
            out[f"probability_{label}"] = proba[:, i]
        return out


def _load_pyfunc(data_path: str) -> AiforgePyfunc:
    """MLflow's entry point (``loader_module``): the model in ``data_path``, after its SHA-256 is checked."""
    import joblib

    data = Path(data_path)
    record = json.loads((data / RECORD_FILE).read_text())
    return AiforgePyfunc(joblib.load(io.BytesIO(_verified(data, record))))


def _verified(data: Path, record: dict[str, Any]) -> bytes:
    model_bytes = (data / MODEL_FILE).read_bytes()
    digest = hashlib.sha256(model_bytes).hexdigest()
    if digest != record.get("sha256"):
        raise MlflowFormatError(f"{MODEL_FILE} does not match the SHA-256 recorded in {RECORD_FILE}: it was changed "
                                "after the export", where=str(data / MODEL_FILE), expected=str(record.get("sha256")),
                                found=digest, hint="export the version again; do not load this file")
    return model_bytes


def _inside(folder: Path, relative: str) -> Path:
    """``folder / relative``, refused when it points outside ``folder`` (an MLmodel or record naming ../ paths)."""
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise MlflowFormatError("the MLflow model names a file outside its folder", where=str(folder),
                                found=relative, hint="import only the folder an export wrote")
    return path


def _signature_column(column: dict[str, Any]) -> dict[str, Any]:
    kind = _ARROW_TO_MLFLOW.get(str(column.get("type")), "double" if column["kind"] == "number" else "string")
    return {"type": kind, "name": column["name"], "required": False}


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
