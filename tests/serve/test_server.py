"""The server end to end: a real `aiforge serve` process on a free port, over a workspace whose three
versions of `income` were registered by the real `aiforge run`.

v1: linear, accepted; v2: LightGBM, accepted (the newest accepted candidate: it answers);
v3: the same LightGBM rejected by an impossible KPI (the newest version, never served).
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import ADULT, EXE, FAST_CHECKS, free_port, running_server, write_income_project

from aiforge.registry import ModelRegistry
from aiforge.serve._oip import InferenceResponse, ModelMetadata
from aiforge.serve._v1 import ErrorBody, ExplainResponse, ModelSummary, PredictResponse
from aiforge.workspace import Workspace, WorkspaceSettings

MAX_BATCH = 50
NUMERIC = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")
SERVED_ATOL = 1e-5  # ONNX Runtime (float32) serves when registration found it within this of the native model


@dataclass
class Server:
    url: str
    workspace: Path
    env: dict[str, str]
    client: httpx.Client
    log: Path

    def aiforge(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=self.env, timeout=300)


def adult_records(n: int, start: int = 2000) -> list[dict[str, Any]]:
    """``n`` rows of Adult the models did not train on, as JSON records (numbers as numbers)."""
    return [{k: (int(v) if k in NUMERIC else v) for k, v in row.items() if k != "income"}
            for row in _adult_rows()[start:start + n]]


@functools.cache
def _adult_rows() -> list[dict[str, str]]:
    with ADULT.open(encoding="utf-8") as fh:
        return list(itertools.islice(csv.DictReader(fh), 4000))


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if k not in ("AIFORGE_DB_URL",)}
    env |= {"AIFORGE_WORKSPACE": str(root / "ws"), "OMP_WAIT_POLICY": "PASSIVE", "COLUMNS": "200"}
    folder = root / "income"
    for learners, kpi, code in (("[linear]", 0.5, 0), ("[lightgbm]", 0.5, 0), ("[lightgbm]", 0.999, 1)):
        project = write_income_project(folder, rows=1500, learners=learners, checks=FAST_CHECKS,
                                       kpis=f"  - {{metric: roc_auc, min: {kpi}}}")
        proc = _run(env, root, "run", str(project))
        assert proc.returncode == code, proc.stderr
    with running_server(["--max-batch", str(MAX_BATCH), "--refresh-seconds", "0.2"], env, root,
                        root / "server.log") as running:
        yield Server(running.url, root / "ws", env, running.client, running.log)


def _post(server: Server, path: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return server.client.post(path, content=content, headers={"content-type": "application/json"})


def _tensors(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": name, "shape": [len(records)], "datatype": "INT64" if name in NUMERIC else "BYTES",
             "data": [r[name] for r in records]} for name in records[0]]


def _offline(server: Server, version: int, records: list[dict[str, Any]]) -> tuple[Any, np.ndarray]:
    ws = Workspace.open(WorkspaceSettings(root=server.workspace), create=False)
    try:
        registry = ModelRegistry(ws)
        model = registry.load_model(registry.get("income", version))
    finally:
        ws.close()
    frame = pd.DataFrame(records)
    return model.predict(frame), model.predict_proba(frame)


# -- health, metadata, documentation -------------------------------------------------------------


def test_health_server_metadata_and_openapi(server: Server) -> None:
    assert server.client.get("/v2/health/live").json() == {"live": True}
    assert server.client.get("/v2/health/ready").json() == {"ready": True}
    assert server.client.get("/v2").json()["name"] == "aiforge"
    assert server.client.get("/v2/models/income/ready").json() == {"name": "income", "ready": True}

    spec = server.client.get("/openapi.json").json()
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/infer",
                 "/v1/models", "/v1/models/{name}/predict", "/v1/models/{name}/explain",
                 "/v1/models/{name}/versions/{version}/predict"):
        assert path in spec["paths"], path
    predict = spec["paths"]["/v1/models/{name}/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PredictRequest")
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PredictResponse")
    assert predict["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert {"InferenceRequest", "InferenceResponse", "ModelMetadata", "ExplainResponse"} <= set(
        spec["components"]["schemas"])
    docs = server.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_models_are_listed_with_the_version_that_answers(server: Server) -> None:
    [income] = [ModelSummary.model_validate(m) for m in server.client.get("/v1/models").json()]
    assert income.served_version == 2
    assert [(v.version, v.status, v.learner) for v in income.versions] == [
        (1, "accepted", "linear"), (2, "accepted", "lightgbm"), (3, "rejected", "lightgbm")]


def test_oip_metadata_lists_typed_inputs_outputs_and_servable_versions(server: Server) -> None:
    meta = ModelMetadata.model_validate(server.client.get("/v2/models/income").json())
    assert meta.versions == ["1", "2"] and meta.parameters["version"] == "2"
    types = {t.name: t.datatype for t in meta.inputs}
    assert types == {**{n: "INT64" for n in NUMERIC}, **{n: "BYTES" for n in (
        "workclass", "education", "marital_status", "occupation", "relationship", "race", "sex",
        "native_country")}}
    assert [(o.name, o.datatype, o.shape) for o in meta.outputs] == [("label", "BYTES", [-1]),
                                                                      ("probability", "FP64", [-1, 2])]
    assert meta.outputs[1].parameters == {"classes": ["<=50K", ">50K"]}
    v1 = ModelMetadata.model_validate(server.client.get("/v2/models/income/versions/1").json())
    assert v1.parameters["learner"] == "linear"


# -- predictions ---------------------------------------------------------------------------------


def test_v1_predictions_are_the_models_own_with_unique_ids(server: Server) -> None:
    records = adult_records(40)
    response = _post(server, "/v1/models/income/predict", {"records": records})
    assert response.status_code == 200, response.text
    body = PredictResponse.model_validate(response.json())
    assert (body.model, body.version) == ("income", 2)
    labels, proba = _offline(server, 2, records)
    assert [p.label for p in body.predictions] == list(labels)
    served = np.array([[p.probabilities[">50K"] if p.probabilities else np.nan] for p in body.predictions])
    np.testing.assert_allclose(served[:, 0], proba[:, 1], rtol=0, atol=SERVED_ATOL)
    assert {">50K", "<=50K"} == set(body.predictions[0].probabilities or {})
    ids = [p.id for p in body.predictions]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i).version == 4 for i in ids)

    one = _post(server, "/v1/models/income/predict", {"records": records[:1]}).json()
    assert one["predictions"][0]["id"] not in ids and one["predictions"][0]["label"] == labels[0]


def test_missing_values_and_numbers_for_categories_are_accepted(server: Server) -> None:
    [record] = adult_records(1)
    record |= {"age": None, "workclass": None, "education_num": 13.5, "native_country": 7, "sex": True}
    response = _post(server, "/v1/models/income/predict", {"records": [record]})
    assert response.status_code == 200, response.text
    label, _ = _offline(server, 2, [record])
    assert response.json()["predictions"][0]["label"] == label[0]


def test_oip_infer_returns_label_and_probability_tensors(server: Server) -> None:
    records = adult_records(5)
    request = {"id": "r-1", "inputs": _tensors(records)}
    response = _post(server, "/v2/models/income/infer", request)
    assert response.status_code == 200, response.text
    body = InferenceResponse.model_validate(response.json())
    assert (body.model_name, body.model_version, body.id) == ("income", "2", "r-1")
    label, probability = body.outputs
    labels, proba = _offline(server, 2, records)
    assert (label.name, label.datatype, label.shape, label.data) == ("label", "BYTES", [5], list(labels))
    assert (probability.name, probability.datatype, probability.shape) == ("probability", "FP64", [5, 2])
    np.testing.assert_allclose(np.reshape(probability.data, (5, 2)), proba, rtol=0, atol=SERVED_ATOL)
    assert len(set((body.parameters or {})["prediction_ids"])) == 5

    nested = request | {"inputs": [t | {"shape": [5, 1], "data": [[v] for v in t["data"]]} for t in request["inputs"]],
                        "outputs": [{"name": "probability"}]}
    only = _post(server, "/v2/models/income/versions/1/infer", nested).json()
    assert only["model_version"] == "1" and [o["name"] for o in only["outputs"]] == ["probability"]


def test_an_explicit_version_answers_and_a_rejected_one_never_does(server: Server) -> None:
    records = adult_records(2)
    v1 = _post(server, "/v1/models/income/versions/1/predict", {"records": records})
    assert v1.status_code == 200 and v1.json()["version"] == 1
    assert v1.json()["predictions"][0]["label"] == _offline(server, 1, records)[0][0]

    for path in ("/v1/models/income/versions/3/predict", "/v2/models/income/versions/3/infer",
                 "/v1/models/income/versions/3/explain"):
        body = {"inputs": _tensors(records)} if "infer" in path else {"records": records}
        rejected = _post(server, path, body)
        assert rejected.status_code == 404, path
        assert "failed its KPI gate and is never served" in rejected.json()["error"]
    assert server.client.get("/v2/models/income/versions/3").status_code == 404


@pytest.mark.parametrize(("path", "message", "hint"), [
    ("/v1/models/churn/predict", "no model named 'churn'", "GET /v1/models lists"),
    ("/v1/models/income/versions/9/predict", "has no version '9'", "lists the versions that may be served"),
    ("/v1/models/income/versions/latest/predict", "has no version 'latest'", "lists the versions"),
    ("/v2/models/churn/infer", "no model named 'churn'", "GET /v1/models lists"),
    ("/v1/models/churn/explain", "no model named 'churn'", "GET /v1/models lists"),
])
def test_unknown_models_and_versions_are_404_with_a_hint(server: Server, path: str, message: str, hint: str) -> None:
    records = adult_records(1)
    response = _post(server, path, {"inputs": _tensors(records)} if "infer" in path else {"records": records})
    assert response.status_code == 404
    body = ErrorBody.model_validate(response.json())
    assert message in body.error
    assert body.problems and hint in body.problems[0]["hint"]
    assert server.client.get("/v2/models/churn").status_code == 404


def test_explain_contributions_add_up_to_the_output(server: Server) -> None:
    records = adult_records(2)
    response = _post(server, "/v1/models/income/explain", {"records": records, "top": None})
    assert response.status_code == 200, response.text
    body = ExplainResponse.model_validate(response.json())
    assert (body.name, body.version, body.learner) == ("income", 2, "lightgbm")
    assert len(body.rows) == 2
    for row, record in zip(body.rows, records, strict=True):
        assert abs(row.base + sum(c.contribution for c in row.contributions) - row.output) < 1e-6
        assert {c.feature: c.value for c in row.contributions} == record
    top = _post(server, "/v1/models/income/explain", {"records": records[:1], "top": 3}).json()["rows"][0]
    assert len(top["contributions"]) == 3 and top["other"]["features"] == 10
    assert abs(top["base"] + sum(c["contribution"] for c in top["contributions"])
               + top["other"]["contribution"] - top["output"]) < 1e-6


# -- input validation: HTTP 422 with field-level errors ------------------------------------------


def _record(**changes: Any) -> dict[str, Any]:
    [record] = adult_records(1)
    for key, value in changes.items():
        if value is _DROP:
            del record[key]
        else:
            record[key] = value
    return record


_DROP = object()
BAD_RECORDS = [
    pytest.param({"records": [_record(), _record(age=_DROP)]}, [(1, "age", r"missing \(send null")], id="missing"),
    pytest.param({"records": [_record(fnlwgt=77516)]}, [(0, "fnlwgt", "not an input of the model")], id="extra"),
    pytest.param({"records": [_record(age="39")]}, [(0, "age", "expected a number, got a string '39'")],
                 id="string-for-number"),
    pytest.param({"records": [_record(age=True)]}, [(0, "age", "expected a number, got a boolean")],
                 id="boolean-for-number"),
    pytest.param({"records": [_record(sex={"a": 1})]}, [(0, "sex", r"expected a category \(text\), got an object")],
                 id="object-for-category"),
    pytest.param({"records": [_record(sex=10**400)]}, [(0, "sex", "too large to be a category")],
                 id="huge-integer-for-category"),
    pytest.param({"records": [_record(age=[1])]}, [(0, "age", "expected a number, got an array")], id="array"),
    pytest.param({"records": [_record(), _record(), 3]}, [(2, None, "a record must be a JSON object")],
                 id="record-not-an-object"),
    pytest.param({"records": [_record(hours_per_week=1e400)]}, [(0, "hours_per_week", "inf is not allowed")],
                 id="overflow-to-inf"),
    pytest.param({"records": []}, [(None, "records", "at least 1 item")], id="empty"),
    pytest.param({"records": [_record()] * (MAX_BATCH + 1)}, [(None, "records", "exceed the limit of 50")],
                 id="oversize"),
    pytest.param({"record": [_record()]}, [(None, "records", "Field required"), (None, "record", "Extra inputs")],
                 id="wrong-key"),
    pytest.param({"records": {"age": 3}}, [(None, "records", "valid list")], id="records-not-a-list"),
    pytest.param([1, 2], [(None, None, "valid dictionary")], id="body-not-an-object"),
]


@pytest.mark.parametrize(("body", "expected"), BAD_RECORDS)
def test_bad_records_get_422_naming_each_field(server: Server, body: Any, expected: list[tuple[Any, ...]]) -> None:
    response = _post(server, "/v1/models/income/predict", json.dumps(body).replace("Infinity", "1e400"))
    assert response.status_code == 422, response.text
    found = response.json()
    assert found["error"] and ErrorBody.model_validate(found)
    assert len(found["errors"]) == len(expected), found
    for error, (record, field, pattern) in zip(found["errors"], expected, strict=True):
        assert (error["record"], error["field"]) == (record, field), found
        assert re.search(pattern, error["error"]), (pattern, error)


def _with_age(token: str) -> str:
    record = _record(age="__AGE__")
    return json.dumps({"records": [record]}).replace('"__AGE__"', token)


@pytest.mark.parametrize(("text", "pattern"), [
    pytest.param(_with_age("NaN"), "nan is not allowed", id="nan"),
    pytest.param(_with_age("-Infinity"), "-inf is not allowed", id="minus-infinity"),
    pytest.param('{"records": [', "malformed JSON", id="truncated"),
    pytest.param("", "malformed JSON|Field required", id="empty-body"),
    pytest.param(b"\xff\xfe{", "malformed JSON", id="not-utf8"),
    pytest.param("[" * 100_000, "malformed JSON", id="nested-too-deep"),
    pytest.param(_with_age("1" + "0" * 5000), "malformed JSON", id="integer-too-long"),
])
def test_malformed_json_and_non_finite_numbers_get_422(server: Server, text: str | bytes, pattern: str) -> None:
    response = _post(server, "/v1/models/income/predict", text)
    assert response.status_code == 422, response.text
    assert any(re.search(pattern, e["error"]) for e in response.json()["errors"]), response.json()


@pytest.mark.parametrize(("change", "pattern"), [
    (lambda t: t | {"age": t["age"] | {"datatype": "BYTES", "data": ["39"]}}, "a numeric input: send it as FP64"),
    (lambda t: t | {"age": t["age"] | {"shape": [2]}}, r"shape \[2\] does not match the data"),
    (lambda t: t | {"age": t["age"] | {"shape": [1, 3]}}, r"expected \[n\] or \[n, 1\]"),
    (lambda t: {k: v for k, v in t.items() if k != "sex"}, "missing input tensor"),
    (lambda t: t | {"fnlwgt": {"name": "fnlwgt", "shape": [1], "datatype": "INT64", "data": [1]}},
     "not an input of the model"),
    (lambda t: t | {"age": t["age"] | {"datatype": "INT64", "data": [39.5]}}, "not a INT64 value"),
    (lambda t: t | {"sex": t["sex"] | {"data": [3]}}, "not a BYTES value"),
    (lambda t: t | {"age": t["age"] | {"shape": [2], "data": [39, 40]}}, "the same number of rows"),
])
def test_bad_tensors_get_422(server: Server, change: Any, pattern: str) -> None:
    tensors = {t["name"]: t for t in _tensors(adult_records(1))}
    response = _post(server, "/v2/models/income/infer", {"inputs": list(change(tensors).values())})
    assert response.status_code == 422, response.text
    assert any(re.search(pattern, e["error"]) for e in response.json()["errors"]), response.json()


def test_an_unknown_output_tensor_is_422(server: Server) -> None:
    request = {"inputs": _tensors(adult_records(1)), "outputs": [{"name": "score"}]}
    response = _post(server, "/v2/models/income/infer", request)
    assert response.status_code == 422 and "not an output of the model" in response.json()["errors"][0]["error"]


def _junk(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["null", "bool", "int", "float", "big", "str", "list", "dict"] if depth < 3 else ["int", "str", "null"]
    kind = rng.choice(kinds)
    return {
        "null": lambda: None, "bool": lambda: rng.random() < 0.5, "int": lambda: rng.randint(-10**6, 10**6),
        "float": lambda: rng.choice([rng.uniform(-1e9, 1e9), float("nan"), float("inf"), -0.0, 1e-320]),
        "big": lambda: rng.choice([10**30, -(10**400), 2**63]),
        "str": lambda: rng.choice(["", "Male", "?", "é" * 50, "\x00", "1e5", "NaN", "<=50K"]),
        "list": lambda: [_junk(rng, depth + 1) for _ in range(rng.randint(0, 3))],
        "dict": lambda: {rng.choice(["age", "sex", "x", ""]): _junk(rng, depth + 1) for _ in range(rng.randint(0, 3))},
    }[kind]()


def _mutant(rng: random.Random) -> Any:
    records = adult_records(rng.randint(1, 3), start=rng.randint(0, 3000))
    for record in records:
        for _ in range(rng.randint(1, 3)):
            key = rng.choice([*record, "extra", ""])
            if rng.random() < 0.2:
                record.pop(key, None)
            else:
                record[key] = _junk(rng)
    if rng.random() < 0.3:
        return {"inputs": _tensors(records) if all(r.keys() == records[0].keys() for r in records) else records}
    return {"records": records, **({"top": _junk(rng)} if rng.random() < 0.2 else {})}


def test_no_input_produces_a_server_error(server: Server) -> None:
    """A thousand and more malformed bodies (random JSON, mutated records and tensors, broken text) at every POST
    route: each gets an answer below 500."""
    rng = random.Random(5)
    paths = ["/v1/models/income/predict", "/v1/models/income/versions/1/predict", "/v2/models/income/infer",
             "/v1/models/income/explain"]
    statuses: dict[int, int] = {}
    for i in range(1500):
        choice = rng.random()
        if choice < 0.5:
            body: Any = json.dumps(_mutant(rng))
        elif choice < 0.8:
            body = json.dumps(_junk(rng))
        else:
            text = json.dumps(_mutant(rng))
            body = text[: rng.randint(0, len(text))] + rng.choice(["", "}", "\x00", "NaN", "]]"])
        path = paths[i % len(paths)]
        if path.endswith("infer") and rng.random() < 0.5:
            body = json.dumps({"inputs": _junk(rng), "outputs": _junk(rng)})
        response = _post(server, path, body)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (path, body[:500], response.text)
    assert set(statuses) <= {200, 404, 422} and statuses.get(422, 0) > 750, statuses
    assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]


# -- traffic follows the aliases -------------------------------------------------------------------


def _answering(server: Server, wanted: int) -> int:
    deadline = time.monotonic() + 10
    while True:
        version = _post(server, "/v1/models/income/predict", {"records": adult_records(1)}).json()["version"]
        if version == wanted or time.monotonic() > deadline:
            return int(version)
        time.sleep(0.1)


def test_promotion_moves_the_traffic_without_a_restart(server: Server) -> None:
    assert _answering(server, 2) == 2
    assert server.aiforge("promote", "income", "1", "--to", "staging").returncode == 0
    assert _answering(server, 1) == 1  # staging beats the newest candidate
    assert server.aiforge("promote", "income", "2", "--to", "production").returncode == 0
    assert _answering(server, 2) == 2  # production beats staging
    refused = server.aiforge("promote", "income", "3", "--to", "production")
    assert refused.returncode == 1
    assert _answering(server, 2) == 2


# -- the command ---------------------------------------------------------------------------------


def test_serve_help_teaches(tmp_path: Path) -> None:
    proc = subprocess.run([str(EXE), "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for text in ("--host", "--port", "--workers", "--max-batch", "/v2/models/NAME/infer", "/v1/models/NAME/predict",
                 "rejected by its KPI gate never answers", "docs at /docs", "curl"):
        assert text in proc.stdout, text


def test_serve_without_a_workspace_says_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "AIFORGE_WORKSPACE": str(tmp_path / "none")}
    proc = subprocess.run([str(EXE), "serve", "--port", str(free_port())], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2
    assert "no workspace here yet" in proc.stderr and "aiforge run" in proc.stderr
    assert not (tmp_path / "none").exists()


PROBE = """
import json, sys
from aiforge.cli import cli
try:
    rc = cli(sys.argv[1:], standalone_mode=False) or 0
except SystemExit as exc:
    rc = exc.code
print("\\nPROBE " + json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"fastapi", "uvicorn", "starlette",
                                                                            "sklearn", "httpx"})))
"""


@pytest.mark.parametrize("args", [["serve", "--help"], ["validate", "--no-data", "{project}"], ["--help"]])
def test_the_cli_imports_the_server_only_to_serve(tmp_path: Path, args: list[str]) -> None:
    project = write_income_project(tmp_path / "income", rows=50)
    argv = [a.format(project=project) for a in args]
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "AIFORGE_WORKSPACE": str(tmp_path / "ws")})
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert json.loads(line.removeprefix("PROBE ")) == [], proc.stderr


def test_prometheus_metrics_count_requests_by_route_and_predictions_by_version(server: Server) -> None:
    served = _answering(server, 2)
    for _ in range(3):
        assert _post(server, "/v1/models/income/predict", {"records": adult_records(2)}).status_code == 200
    assert _post(server, "/v1/models/income/predict", {"records": []}).status_code == 422
    response = server.client.get("/metrics")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    predicted = re.search(rf'aiforge_predictions_total{{model="income",version="{served}"}} (\d+)', text)
    assert predicted is not None and int(predicted.group(1)) >= 6
    ok = re.search(r'aiforge_requests_total{method="POST",route="/v1/models/{name}/predict",status="200"} (\d+)', text)
    assert ok is not None and int(ok.group(1)) >= 3
    assert 'route="/v1/models/{name}/predict",status="422"}' in text
    assert re.search(r'aiforge_request_seconds_bucket{method="POST",route="/v1/models/{name}/predict",le="\+Inf"} \d+',
                     text)
    assert f'aiforge_prediction_seconds_count{{model="income",version="{served}"}}' in text
