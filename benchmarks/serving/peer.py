"""The serving benchmark's helper inside one virtual environment (the project's, MLflow's or BentoML's).

Every subcommand loads the model that ``aiforge run`` registered, from the workspace, with aiforge's own
registry (aiforge is installed editable in each venv), so all three servers hold the same fitted object.

    python peer.py export-mlflow WORKSPACE OUT_DIR ROWS_JSONL     # mlflow.sklearn.save_model of the pipeline
    python peer.py export-bentoml WORKSPACE ROWS_JSONL            # bentoml.sklearn.save_model (BENTOML_HOME)
    python peer.py floor KIND WORKSPACE ROWS_JSONL CALLS [MLFLOW_DIR]  # in-process time per row, JSON on stdout

``ROWS_JSONL`` holds one input record (a JSON object) per line: the rows the load generators send.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

MODEL_NAME = "income"


def _registry(workspace: str) -> Any:
    from aiforge.registry import ModelRegistry
    from aiforge.workspace import Workspace, WorkspaceSettings

    return ModelRegistry(Workspace.open(WorkspaceSettings(root=Path(workspace)), create=False))


def load_model(workspace: str) -> Any:
    """The newest registered version of the model: an aiforge ``TabularModel``."""
    registry = _registry(workspace)
    return registry.load_model(registry.latest(MODEL_NAME))


def served_path(workspace: str, model: Any) -> Any:
    """The ``CompiledModel`` aiforge's server predicts with: the path chosen at registration (the version's
    ``lineage.inference``), ONNX Runtime over the registered ONNX model when that was chosen."""
    from aiforge.learn import compile_model

    registry = _registry(workspace)
    version = registry.latest(MODEL_NAME)
    inference = version.lineage.get("inference") or {}
    if inference.get("path") == "onnxruntime" and "onnx" in version.documents:
        return compile_model(model, onnx=registry.document(version, "onnx"))
    return compile_model(model)


def read_rows(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def export_mlflow(workspace: str, out: str, rows_file: str) -> None:
    """MLflow's scikit-learn flavour of the model's pipeline, answering with ``predict_proba`` (the
    probabilities aiforge's server returns), with a signature and input example inferred from real rows."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    model = load_model(workspace)
    sample = pd.DataFrame(read_rows(rows_file)[:50])[model.input_columns]
    signature = infer_signature(sample, model.pipeline.predict_proba(sample))
    mlflow.sklearn.save_model(model.pipeline, out, signature=signature, input_example=sample.head(2),
                              pyfunc_predict_fn="predict_proba", serialization_format="cloudpickle")
    print(json.dumps({"saved": out, "signature_inputs": len(signature.inputs.inputs)}))


def export_bentoml(workspace: str, rows_file: str) -> None:
    """BentoML's model store entry for the pipeline (``bentoml.sklearn.save_model``), in ``$BENTOML_HOME``."""
    import bentoml

    model = load_model(workspace)
    saved = bentoml.sklearn.save_model(MODEL_NAME, model.pipeline, metadata={"input_columns": model.input_columns})
    print(json.dumps({"saved": str(saved.tag)}))


def _time_per_call(fn: Any, rows: list[dict[str, Any]], calls: int) -> dict[str, float]:
    for row in rows[:50]:  # warm-up
        fn(row)
    times = []
    for i in range(calls):
        row = rows[i % len(rows)]
        started = time.perf_counter_ns()
        fn(row)
        times.append((time.perf_counter_ns() - started) / 1e6)
    times.sort()
    return {"median_ms": statistics.median(times), "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
            "calls": calls}


def floor(kind: str, workspace: str, rows_file: str, calls: int, mlflow_dir: str | None) -> None:
    """Time per single-row prediction inside one process, from a record (dict) to probabilities."""
    import pandas as pd

    model = load_model(workspace)
    rows = read_rows(rows_file)
    columns = model.input_columns
    out: dict[str, Any] = {}
    if kind == "aiforge":
        from aiforge.learn import compile_model

        served = served_path(workspace, model)
        out["path"] = served.path
        out[f"aiforge served path ({served.path})"] = _time_per_call(
            lambda r: served.raw_output_columns({c: [r[c]] for c in columns}, 1), rows, calls)
        native = compile_model(model)
        if native.path != served.path:
            out[f"aiforge native fast path ({native.path})"] = _time_per_call(
                lambda r: native.raw_output_columns({c: [r[c]] for c in columns}, 1), rows, calls)
    pipeline = model.pipeline
    out["pipeline.predict_proba(DataFrame)"] = _time_per_call(
        lambda r: pipeline.predict_proba(pd.DataFrame([r])[columns]), rows, calls)
    if kind == "aiforge":
        import copy

        single = copy.deepcopy(pipeline)
        single.named_steps["model"].set_params(n_jobs=1)
        out["pipeline.predict_proba(DataFrame), n_jobs=1"] = _time_per_call(
            lambda r: single.predict_proba(pd.DataFrame([r])[columns]), rows, calls)
        out["n_jobs"] = pipeline.named_steps["model"].get_params().get("n_jobs")
    if kind == "mlflow":
        import mlflow.pyfunc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pyfunc = mlflow.pyfunc.load_model(mlflow_dir)
            out["mlflow pyfunc.predict(DataFrame)"] = _time_per_call(
                lambda r: pyfunc.predict(pd.DataFrame([r])), rows, calls)
    print(json.dumps(out))


def main(argv: list[str]) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    command, args = argv[0], argv[1:]
    if command == "export-mlflow":
        export_mlflow(*args)
    elif command == "export-bentoml":
        export_bentoml(*args)
    elif command == "floor":
        floor(args[0], args[1], args[2], int(args[3]), args[4] if len(args) > 4 else None)
    else:
        raise SystemExit(f"unknown command {command!r}: export-mlflow | export-bentoml | floor")


if __name__ == "__main__":
    main(sys.argv[1:])
