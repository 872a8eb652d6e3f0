"""The real server fuzzed against its own OpenAPI document (schemathesis): no generated request, valid
or not, gets a 5xx, and every answer fits the document (status code, content type, body schema).

One `aiforge serve` process over a workspace with one model (`income` v1, registered by the real
`aiforge run`) and an admin key made by the real `aiforge keys create`, sent with every request so
that the operator and admin routes are exercised beyond their 401. Nothing it does can break the run:
`DELETE /v1/admin/keys/{ident}` gets random ids (the fuzzer's key id is 48 random bits), reloads and
new keys change nothing that is served, and there is no deployment to roll back.

The served document is generic (a record is any object, a model any name), so requests generated from
it rarely get past validation. Its model routes are therefore fuzzed a second time from the document
narrowed to the served model: the name `income`, the version `1`, records and tensors holding exactly
the model's inputs with values the server must accept; there every valid request must get a 2xx, and
the invalid ones schemathesis derives from it a 4xx. Answers are always checked against the server's
own response schemas.

Each operation is one Hypothesis run over ``operation.as_strategy`` (schemathesis's
``pytest.from_fixture`` does not run under pytest 9), ``derandomize`` so that a run is reproducible.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis.strategies as st
import pytest
import schemathesis
from conftest import EXE, registered_income, running_server
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

MODEL = "income"
EXAMPLES = 20  # per operation and document
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
_LARGEST = sys.float_info.max  # the numbers the server accepts: finite, and integers within a float's range


@dataclass
class Fuzzed:
    url: str
    secret: str
    document: dict[str, Any]  # the server's /openapi.json
    metadata: dict[str, Any]  # GET /v2/models/income: the model's input and output tensors
    log: Path


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    root = tmp_path_factory.mktemp("fuzz")
    env = registered_income(root, rows=600, learners="[linear]")
    made = subprocess.run([str(EXE), "keys", "create", "--name", "fuzzer", "--role", "admin", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["secret"]
    with running_server([], env, root, root / "server.log") as running:
        metadata = running.client.get(f"/v2/models/{MODEL}", headers={"Authorization": f"Bearer {secret}"})
        assert metadata.status_code == 200, metadata.text
        document = running.client.get("/openapi.json").json()
        yield Fuzzed(running.url, secret, document, metadata.json(), running.log)


def narrowed(document: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the model routes' generic shapes narrowed to the served model: every request
    valid under it must be answered with a 2xx."""
    doc = copy.deepcopy(document)
    # feedback: nothing model-shaped; images: the served model is a table's (test_images.py serves images)
    doc["paths"] = {path: operations for path, operations in doc["paths"].items()
                    if path.startswith(("/v1/models/{name}", "/v2/models/{name}"))
                    and not path.endswith(("/feedback", "/predict/images"))}
    for operations in doc["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    served = {"name": MODEL, "version": "1"}[parameter["name"]]
                    parameter["schema"] = {"type": "string", "enum": [served]}
    schemas = doc["components"]["schemas"]
    inputs = metadata["inputs"]
    names = [i["name"] for i in inputs]
    for shape in ("PredictRequest", "ExplainRequest"):
        records = schemas[shape]["properties"]["records"]
        records["items"] = {"type": "object", "required": names, "additionalProperties": False,
                            "properties": {i["name"]: _record_value(i["datatype"]) for i in inputs}}
        records["maxItems"] = 5

    def tensor(name: str, datatype: str) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "required": ["name", "shape", "datatype", "data"],
                "properties": {"name": {"enum": [name]}, "shape": {"enum": [[1]]}, "datatype": {"enum": [datatype]},
                               "data": {"type": "array", "items": _tensor_value(datatype), "minItems": 1,
                                        "maxItems": 1}}}

    schemas["InferenceRequest"]["properties"]["inputs"] = {
        "type": "array", "prefixItems": [tensor(i["name"], i["datatype"]) for i in inputs],
        "minItems": len(inputs), "maxItems": len(inputs)}
    outputs = [o["name"] for o in metadata["outputs"]]
    schemas["RequestOutput"]["properties"]["name"] = {"type": "string", "enum": outputs}
    return doc


def _record_value(datatype: str) -> dict[str, Any]:
    """What a record may hold for an input: a number (or null); a category is text, a number or a boolean."""
    number = {"type": ["number", "null"], "minimum": -_LARGEST, "maximum": _LARGEST}
    if datatype in ("BYTES", "BOOL"):
        return {"anyOf": [{"type": ["string", "boolean"]}, number]}
    return number


def _tensor_value(datatype: str) -> dict[str, Any]:
    """What a tensor of ``datatype`` may hold: values of its own type, or null."""
    kind = {"BYTES": "string", "BOOL": "boolean", "INT64": "integer"}.get(datatype, "number")
    return {"type": [kind, "null"], "minimum": -_LARGEST, "maximum": _LARGEST}


def valid_requests_are_answered(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A request valid under the narrowed document gets a 2xx, or the documented 422 for records the model
    cannot score (a linear model's terms overflow for values near 1e308: its output is not a number)."""
    if case.meta is None or not case.meta.generation.mode.is_positive or 200 <= response.status_code < 300:
        return
    unscorable = response.status_code == 422 and all(
        e["field"] == "output" and "not a number" in e["error"] for e in response.json()["errors"])
    assert unscorable, f"a valid request got {response.status_code}: {response.text[:500]}"


def _schema(fuzzed: Fuzzed, document: dict[str, Any], checks: dict[str, Any]) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict({"base-url": fuzzed.url, "request-timeout": 30, "checks": checks,
                                            "headers": {"Authorization": f"Bearer {fuzzed.secret}"}})
    return schemathesis.openapi.from_dict(document, config=config)


def _fuzz(api: schemathesis.BaseSchema, checks: list[Any]) -> tuple[dict[str, Counter[int]], list[str]]:
    """Every operation of ``api`` fuzzed with valid and invalid requests; the status codes seen per
    operation, and each operation's failure (with the request that reproduces it)."""
    seen: dict[str, Counter[int]] = {}
    failures = []
    for result in api.get_all_operations():
        operation = result.ok()
        counts = seen.setdefault(operation.label, Counter())
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @hypothesis.given(case=cases)
        @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                             suppress_health_check=[hypothesis.HealthCheck.too_slow])
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call_and_validate(checks=checks)
            counts[response.status_code] += 1  # noqa: B023 (called at once, in this iteration)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is fuzzed, and every failure reported
            failures.append(f"{operation.label}: {exc}")
    return seen, failures


def test_no_request_from_the_served_document_gets_a_server_error_or_an_undocumented_answer(fuzzed: Fuzzed) -> None:
    seen, failures = _fuzz(_schema(fuzzed, fuzzed.document, {}), CHECKS)
    assert not failures, "\n\n".join(failures) + "\n\nserver log:\n" + fuzzed.log.read_text()[-4000:]
    operations = {f"{method.upper()} {path}" for path, ops in fuzzed.document["paths"].items() for method in ops}
    assert {label for label, counts in seen.items() if counts} == operations  # admin ones past their 401 too
    assert seen["POST /v1/admin/keys"][201] and seen["POST /v1/admin/keys"][422], seen["POST /v1/admin/keys"]
    assert not any(seen[label][401] for label in seen), seen
    assert "Traceback" not in fuzzed.log.read_text()


def test_model_routes_accept_every_valid_request_and_refuse_every_invalid_one(fuzzed: Fuzzed) -> None:
    checks = {"negative_data_rejection": {"expected-statuses": ["400", "404", "422"]}}
    api = _schema(fuzzed, narrowed(fuzzed.document, fuzzed.metadata), checks)
    seen, failures = _fuzz(api, [*CHECKS, valid_requests_are_answered, negative_data_rejection])
    assert not failures, "\n\n".join(failures) + "\n\nserver log:\n" + fuzzed.log.read_text()[-4000:]
    for label in ("POST /v1/models/{name}/predict", "POST /v1/models/{name}/explain", "POST /v2/models/{name}/infer",
                  "POST /v2/models/{name}/versions/{version}/infer"):
        assert seen[label][200] >= 5, (label, seen[label])  # valid requests reached the model
    assert sum(counts[422] for counts in seen.values()) >= 5, seen  # and invalid ones were made of them
    assert seen["GET /v2/models/{name}"][200] and seen["GET /v2/models/{name}"][404], seen
    assert "Traceback" not in fuzzed.log.read_text()  # nor did anything fail off the request path


# -- what the fuzzer found ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["   ", "bad\x07name", "tab\tname"])
def test_a_key_name_the_store_refuses_is_a_422_naming_the_field(fuzzed: Fuzzed, name: str) -> None:
    """It was a 400 the document did not mention (the store's own check, after the body's)."""
    response = httpx.post(f"{fuzzed.url}/v1/admin/keys", json={"name": name, "role": "predict"},
                          headers={"Authorization": f"Bearer {fuzzed.secret}"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"record": None, "field": "name",
                                          "error": "a key's name must be 1 to 64 printable characters"}]
