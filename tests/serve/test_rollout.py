"""Deployments end to end: real `aiforge deploy` / `deployments` / `rollback` commands and a real
`aiforge serve` over one workspace.

v1: LightGBM trained by the real `aiforge run` (the champion, production);
v2: v1 fault-injected to raise on every prediction; v3: v1 fault-injected to sleep 60 ms per prediction;
v4: a healthy copy of v1 (other bytes, the same predictions). The tests run in order: each starts from
the state the previous one left.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import pytest
from conftest import EXE, running_server, serve_env, write_income_project
from faulty import FaultyModel
from test_server import FAST_CHECKS, adult_records

from aiforge.monitor import read_predictions
from aiforge.registry import Alias, ModelRegistry
from aiforge.workspace import Workspace, WorkspaceSettings

REFRESH = "0.2"


@dataclass
class Rollout:
    root: Path
    env: dict[str, str]
    client: httpx.Client
    log: Path

    def aiforge(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(EXE), *args], capture_output=True, text=True, env=self.env, timeout=120)
        assert proc.returncode == code, proc.stdout + proc.stderr
        return proc

    def show(self) -> dict[str, Any]:
        return dict(json.loads(self.aiforge("deployments", "show", "income", "--json").stdout))

    def predict(self, n: int, *, workers: int = 8, start: int = 0) -> list[httpx.Response]:
        records = adult_records(n, start=start)

        def one(record: dict[str, Any]) -> httpx.Response:
            with httpx.Client(base_url=str(self.client.base_url), timeout=30) as c:
                return c.post("/v1/models/income/predict", json={"records": [record]})

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, records))

    def wait_for(self, state: str, seconds: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            shown = self.show()
            if shown["state"] == state or time.monotonic() > deadline:
                return shown
            time.sleep(0.2)


def _register_faulty(workspace: Path) -> None:
    ws = Workspace.open(WorkspaceSettings(root=workspace), create=False)
    try:
        registry = ModelRegistry(ws)
        v1 = registry.get("income", 1)
        model = registry.load_model(v1)
        for fault in ("raise", "sleep:0.06", "none"):
            buffer = io.BytesIO()
            joblib.dump(FaultyModel.wrap(model, fault), buffer)
            background = {"background": v1.documents["background"]}
            registry.register(name="income", run_id=v1.run_id, artifact=ws.artifacts.put_bytes(buffer.getvalue()),
                              learner=v1.learner, metrics=v1.metrics, gate=v1.gate, lineage={"fault": fault},
                              accepted=True, documents=lambda _n, docs=background: docs)
        registry.promote("income", 1, Alias.PRODUCTION)
    finally:
        ws.close()


@pytest.fixture(scope="module")
def rollout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollout]:
    root = tmp_path_factory.mktemp("rollout")
    env = serve_env(root / "ws")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).parent), env.get("PYTHONPATH")) if p)
    project = write_income_project(root / "income", rows=1200, learners="[lightgbm]", checks=FAST_CHECKS,
                                   kpis="  - {metric: roc_auc, min: 0.5}")
    proc = subprocess.run([str(EXE), "run", str(project)], capture_output=True, text=True, env=env, cwd=root,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    _register_faulty(root / "ws")
    with running_server(["--refresh-seconds", REFRESH], env, root, root / "server.log") as running:
        yield Rollout(root, env, running.client, running.log)


def test_a_raising_challenger_is_rolled_back_and_no_request_fails(rollout: Rollout) -> None:
    made = rollout.aiforge("deploy", "income", "--version", "2", "--strategy", "canary", "--steps", "50,100",
                           "--guardrail", "error_rate<0.01", "--min-requests", "20")
    assert "income v2 (canary, steps 50,100%) against champion v1" in made.stdout
    time.sleep(0.5)  # the server re-reads the deployments every 0.2 s
    answers = rollout.predict(120)

    assert [a.status_code for a in answers] == [200] * 120  # the champion answered for the failing challenger
    assert {a.json()["version"] for a in answers} == {1}
    shown = rollout.wait_for("rolled_back")
    assert shown["state"] == "rolled_back" and shown["traffic"] == 0
    assert "guardrail error_rate<0.01 breached: 1 of at most 20 requests failed" in shown["reason"]
    assert [e["kind"] for e in shown["events"]] == ["created", "rolled_back"]
    assert shown["events"][1]["actor"] == "server"
    assert "injected fault" in rollout.log.read_text()
    metrics = rollout.client.get("/metrics").text
    failed = re.search(r'aiforge_challenger_requests_total\{model="income",version="2",outcome="error"\} (\d+)',
                       metrics)
    assert failed and int(failed.group(1)) >= 1  # requests already routed when it was rolled back fail too
    assert not re.search(r"^aiforge_deployment_traffic_percent\{", metrics, re.M)  # rolled back: none active
    models = json.loads(rollout.aiforge("models", "income", "--json").stdout)
    assert {m["version"]: m["alias"] for m in models}[2] == "archived"


def test_a_slow_challenger_breaches_its_latency_guardrail(rollout: Rollout) -> None:
    rollout.aiforge("deploy", "income", "--version", "3", "--steps", "50,100", "--guardrail", "p99_latency_ms<40",
                    "--guardrail", "error_rate<0.5", "--min-requests", "10")
    time.sleep(0.5)
    answers = rollout.predict(80, workers=4)

    assert [a.status_code for a in answers] == [200] * 80
    assert {a.json()["version"] for a in answers} <= {1, 3}
    shown = rollout.wait_for("rolled_back")
    assert shown["state"] == "rolled_back", shown
    assert "p99_latency_ms<40 breached: p99_latency_ms = " in shown["reason"]
    window = shown["events"][-1]["details"]["window"]
    assert window["requests"] == 10 and window["p99_latency_ms"] >= 60


def test_a_healthy_canary_advances_survives_a_restart_and_is_promoted(rollout: Rollout) -> None:
    rollout.aiforge("deploy", "income", "--version", "4", "--steps", "20,50,100", "--guardrail", "error_rate<0.2",
                    "--guardrail", "p99_latency_ms<1000", "--min-requests", "10")
    time.sleep(0.5)
    # until the first window (10 challenger requests at 20%) has advanced the canary; in batches of 5, which cannot
    # also fill the next step's window (10 challenger requests) before the step is looked at
    for _ in range(80):
        assert all(a.status_code == 200 for a in rollout.predict(5, workers=4))
        if rollout.show()["step"] >= 1:
            break
    shown = rollout.show()
    assert (shown["state"], shown["step"], shown["traffic"]) == ("active", 1, 50), shown

    # a second server over the same workspace (a restart) continues the deployment where it stands
    with running_server(["--refresh-seconds", REFRESH], rollout.env, rollout.root,
                        rollout.root / "restarted.log") as restarted:
        for _ in range(30):
            answers = [restarted.client.post("/v1/models/income/predict", json={"records": [r]})
                       for r in adult_records(10)]
            assert all(a.status_code == 200 for a in answers)
            if rollout.show()["state"] != "active":
                break
    shown = rollout.show()
    assert shown["state"] == "promoted", shown
    assert [e["kind"] for e in shown["events"]] == ["created", "advanced", "advanced", "promoted"]
    assert [e["traffic"] for e in shown["events"]] == [20, 50, 100, 100]
    models = {m["version"]: m["alias"] for m in json.loads(rollout.aiforge("models", "income", "--json").stdout)}
    assert models[4] == "production" and models[1] == "archived"
    time.sleep(0.5)
    assert {a.json()["version"] for a in rollout.predict(10)} == {4}  # the first server follows too


def test_a_shadow_challenger_sees_a_copy_and_never_answers(rollout: Rollout) -> None:
    rollout.aiforge("deploy", "income", "--version", "1", "--strategy", "shadow", "--guardrail", "error_rate<0.5")
    time.sleep(0.5)
    answers = rollout.predict(30, workers=4, start=100)
    assert re.search(r'aiforge_deployment_traffic_percent\{model="income",deployment="dep_\w+",strategy="shadow",'
                     r'champion="4",challenger="1"\} 0', rollout.client.get("/metrics").text)
    assert {a.json()["version"] for a in answers} == {4}
    ids = {p["id"] for a in answers for p in a.json()["predictions"]}
    deadline = time.monotonic() + 15  # the shadow copies run on their own thread; the log writes every second
    while True:
        shown = rollout.show()
        arms = shown["report"]["arms"]
        if arms.get("shadow", {}).get("predictions") == 30 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert shown["report"]["arms"]["champion"]["predictions"] == 30
    assert shown["report"]["arms"]["shadow"]["predictions"] == 30 and shown["report"]["arms"]["shadow"]["version"] == 1
    assert shown["report"]["agreement"] == {"pairs": 30, "label_agreement": 1.0}  # v4 and v1: the same model
    log = read_predictions(rollout.root / "ws" / "predictions", "income")
    shadow = log[log["role"] == "shadow"]
    assert set(shadow["id"]) == ids and set(shadow["deployment"]) == {shown["id"]}
    done = rollout.aiforge("rollback", "income", "--reason", "seen enough")
    assert "rolled back income v1; v4 answers" in done.stdout


def test_an_ab_test_is_sticky_by_key_and_tests_the_outcomes(rollout: Rollout) -> None:
    rollout.aiforge("deploy", "income", "--version", "1", "--strategy", "ab", "--split", "50", "--metric",
                    "accuracy", "--min-requests", "1000")
    time.sleep(0.5)
    records = adult_records(120, start=300)
    truth = _labels(300, 120)
    versions: dict[str, set[int]] = {}
    outcomes = []
    for i, record in enumerate(records):
        key = f"customer-{i % 60}"
        answer = rollout.client.post("/v1/models/income/predict", json={"records": [record]},
                                     headers={"X-Request-Key": key})
        assert answer.status_code == 200, answer.text
        versions.setdefault(key, set()).add(answer.json()["version"])
        outcomes.append({"id": answer.json()["predictions"][0]["id"], "outcome": truth[i]})
    assert all(len(v) == 1 for v in versions.values())  # sticky: one arm per key
    assert {next(iter(v)) for v in versions.values()} == {1, 4}  # both arms got keys

    stored = rollout.client.post("/v1/models/income/feedback", json={"outcomes": outcomes})
    assert stored.status_code == 200 and stored.json() == {"stored": 120}
    bad = rollout.client.post("/v1/models/income/feedback", json={"outcomes": [{"id": "", "outcome": 1}]})
    assert bad.status_code == 422
    unknown = rollout.client.post("/v1/models/nope/feedback", json={"outcomes": outcomes[:1]})
    assert unknown.status_code == 404 and "no model named 'nope'" in unknown.json()["error"]
    deadline = time.monotonic() + 15  # the prediction log writes every second
    while True:
        test = rollout.show()["report"]["test"]
        if test["champion"]["n"] + test["challenger"]["n"] == 120 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert test["metric"] == "accuracy" and test["test"] == "two-proportion z-test"
    assert test["champion"]["n"] + test["challenger"]["n"] == 120
    assert 0.5 < test["champion"]["mean"] <= 1 and 0 <= test["p_value"] <= 1
    # the arms hold different rows (the split is salted per deployment), so whether a difference between two
    # copies of one model reaches p < 0.05 is chance (5%); what must hold is the test's own arithmetic
    (n1, k1), (n2, k2) = ((test[arm]["n"], round(test[arm]["mean"] * test[arm]["n"])) for arm in
                          ("champion", "challenger"))
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    expected = math.erfc(abs(k2 / n2 - k1 / n1) / se / math.sqrt(2)) if se > 0 else float(k1 / n1 == k2 / n2)
    assert abs(test["p_value"] - expected) < 1e-9 and test["significant"] == (expected < test["alpha"])
    rollout.aiforge("rollback", "income")
    listed = json.loads(rollout.aiforge("deployments", "--all", "--json").stdout)
    assert [d["state"] for d in listed] == ["rolled_back", "rolled_back", "promoted", "rolled_back", "rolled_back"]


def test_deploy_errors_are_clear_and_change_nothing(rollout: Rollout) -> None:
    before = rollout.aiforge("deployments", "--all", "--json").stdout
    refused = rollout.aiforge("deploy", "income", "--version", "4", code=1)
    assert "income v4 is production already" in refused.stderr
    bad = rollout.aiforge("deploy", "income", "--version", "1", "--guardrail", "latency<5", code=1)
    assert "unknown guardrail metric 'latency'" in bad.stderr and "error_rate, p50_latency_ms" in bad.stderr
    steps = rollout.aiforge("deploy", "income", "--version", "1", "--steps", "10,x", code=2)
    assert "expected percents separated by commas" in steps.stderr
    assert rollout.aiforge("deployments", "--all", "--json").stdout == before


def _labels(start: int, n: int) -> list[str]:
    from test_server import _adult_rows

    return [row["income"] for row in _adult_rows()[start:start + n]]
