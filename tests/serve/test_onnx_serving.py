"""The ONNX Runtime path from registration to a real server: the real `aiforge run` records how each path
did (parity and latency) and registers the ONNX model when ONNX Runtime serves; a version whose lineage
says ONNX Runtime is served through it with the native model's answers, and a server without ONNX Runtime
serves the same version through the native fast path with a logged note."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT, registered_income, running_server

from aiforge.learn import ONNX_PATH
from aiforge.learn._inference import PROBABILITY_TOLERANCE
from aiforge.learn._onnx import convert_estimator
from aiforge.registry import ModelRegistry
from aiforge.serve._models import ModelCache
from aiforge.workspace import Workspace, WorkspaceSettings

NUMERIC = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")


@dataclass
class Served:
    root: Path
    workspace: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """`income` v1 as `aiforge run` registered it, and `income_onnx` v1: the same model registered with its
    ONNX model and a lineage that says ONNX Runtime serves it (whatever the timing chose for `income`)."""
    root = tmp_path_factory.mktemp("onnx")
    env = registered_income(root, rows=1200, learners="[lightgbm]")
    ws = Workspace.open(WorkspaceSettings(root=root / "ws"), create=False)
    try:
        registry = ModelRegistry(ws)
        v1 = registry.get("income", 1)
        model = registry.load_model(v1)
        prep, estimator = model.pipeline.named_steps["prep"], model.pipeline.named_steps["model"]
        width = prep.transform(_frame(_records(1))).shape[1]
        onnx = convert_estimator(estimator, width).model
        assert onnx is not None
        docs = {"background": v1.documents["background"], "onnx": ws.artifacts.put_bytes(onnx)}
        lineage = v1.lineage | {"inference": {**v1.lineage["inference"], "path": ONNX_PATH}}
        registry.register(name="income_onnx", run_id=v1.run_id, artifact=v1.artifact, learner=v1.learner,
                          metrics=v1.metrics, gate=v1.gate, lineage=lineage, accepted=True,
                          documents=lambda _n: docs)
    finally:
        ws.close()
    return Served(root, root / "ws", env)


def _records(n: int, start: int = 1300) -> list[dict[str, Any]]:
    frame = pd.read_csv(ADULT, skiprows=range(1, start + 1), nrows=n).drop(columns=["income"])
    frame = frame.astype(object).where(frame.notna(), None)  # missing values as JSON nulls
    return [{k: (int(v) if k in NUMERIC and v is not None else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(records)


@pytest.fixture
def registry(served: Served) -> Iterator[ModelRegistry]:
    ws = Workspace.open(WorkspaceSettings(root=served.workspace), create=False)
    try:
        yield ModelRegistry(ws)
    finally:
        ws.close()


def test_registration_records_the_onnx_parity_and_both_latencies(registry: ModelRegistry) -> None:
    version = registry.get("income", 1)
    inference = version.lineage["inference"]

    assert inference["native_fast_path"]["path"] == "lightgbm booster"
    assert inference["onnx"]["converter"] == "onnxmltools"
    assert 0 < inference["onnx"]["max_abs_diff"] <= inference["tolerance"] == PROBABILITY_TOLERANCE
    assert inference["parity_rows"] == 300  # the test rows: a quarter of 1200
    for path in (inference["native_fast_path"], inference["onnx"]):
        assert path["latency_ms"]["one_row_ms"] > 0 and path["latency_ms"]["batch_ms"] > 0
    chose_onnx = inference["path"] == ONNX_PATH
    assert inference["reason"].startswith(inference["path"])
    assert ("onnx" in version.documents) is chose_onnx  # the ONNX model is registered only when it serves
    if chose_onnx:
        assert inference["max_abs_diff"] == inference["onnx"]["max_abs_diff"]
        import onnx

        graph = onnx.load_from_string(registry.document(version, "onnx")).graph
        assert [i.name for i in graph.input] == ["input"]


def test_a_version_registered_for_onnx_runtime_predicts_through_it(registry: ModelRegistry) -> None:
    cache = ModelCache(registry)
    onnx, native = cache.version("income_onnx", "1"), cache.version("income", "1")
    records = _records(60)
    columns = {c: [r[c] for r in records] for c in onnx.model.input_columns}

    assert onnx.compiled.path == ONNX_PATH
    fast, expected = onnx.predict_columns(columns), native.predict(_frame(records))
    assert fast.labels == expected.labels == list(native.model.predict(_frame(records)))
    assert fast.probabilities is not None and expected.probabilities is not None
    np.testing.assert_allclose(fast.probabilities, expected.probabilities, rtol=0, atol=PROBABILITY_TOLERANCE)


def test_the_registry_loads_the_path_its_registration_chose_for_dataframes(registry: ModelRegistry) -> None:
    frame = _frame(_records(700))  # over two chunks' worth of rows: predicted in one chunk per core
    native = registry.load_model(registry.get("income", 1))
    onnx = registry.load_predictor(registry.get("income_onnx", 1))
    planned = registry.load_predictor(registry.get("income", 1))

    assert onnx.path == ONNX_PATH and not onnx.note
    assert planned.path == registry.get("income", 1).lineage["inference"]["path"] in (ONNX_PATH, "lightgbm booster")
    for loaded in (onnx, planned):
        np.testing.assert_allclose(loaded.predict_proba(frame), native.predict_proba(frame), rtol=0,
                                   atol=PROBABILITY_TOLERANCE)
        assert list(loaded.predict(frame)) == list(native.predict(frame))
        assert loaded.classes == native.classes and loaded.input_columns == native.input_columns


def test_without_onnx_runtime_the_server_uses_the_native_fast_path_and_says_so(
        registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with caplog.at_level(logging.WARNING, logger="aiforge.serve"):
        loaded = ModelCache(registry).version("income_onnx", "1")

    assert loaded.compiled.path == "lightgbm booster"
    assert "income_onnx v1: ONNX Runtime cannot serve here: onnxruntime not installed" in caplog.text
    records = _records(20)
    answer = loaded.predict_columns({c: [r[c] for r in records] for c in loaded.model.input_columns})
    assert answer.labels == list(loaded.model.predict(_frame(records)))


def test_the_server_answers_through_onnx_runtime_with_the_native_models_predictions(served: Served) -> None:
    records = _records(40)
    with running_server([], served.env, served.root, served.root / "server.log") as server:
        answers = {name: server.client.post(f"/v1/models/{name}/predict", json={"records": records})
                   for name in ("income", "income_onnx")}
        one = server.client.post("/v1/models/income_onnx/predict", json={"records": records[:1]})
    ws = Workspace.open(WorkspaceSettings(root=served.workspace), create=False)
    try:
        model = ModelRegistry(ws).load_model(ModelRegistry(ws).get("income", 1))
    finally:
        ws.close()
    labels, proba = model.predict(_frame(records)), model.predict_proba(_frame(records))

    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text)
        predictions = response.json()["predictions"]
        assert [p["label"] for p in predictions] == list(labels)
        served_proba = np.array([[p["probabilities"][str(c)] for c in model.classes] for p in predictions])
        np.testing.assert_allclose(served_proba, proba, rtol=0, atol=PROBABILITY_TOLERANCE)
    assert one.status_code == 200 and one.json()["predictions"][0]["label"] == labels[0]
    assert one.json()["version"] == 1
