"""The closed loop end to end, on a river concept-drift stream: a model trained on the first concept is served
by the real `aiforge serve`; the stream switches concept; production traffic and its delayed labels arrive
over HTTP; `aiforge monitor watch --once` sees the production KPI breached, retrains on fresh data, gates,
checks the new version against the old on the newest labelled rows and starts a canary, which the server
promotes on live traffic. Every step is checked in the workspace."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import EXE, running_server, serve_env
from stream_project import ROWS, stream_project, stream_rows

from aiforge.monitor import WatchJournal, read_predictions
from aiforge.registry import Alias, DeploymentStore, ModelRegistry
from aiforge.spec import GUARDRAIL_NAMES, parse_project_text
from aiforge.workspace import Workspace, WorkspaceSettings

TRAIN = 3000  # rows of the first concept the model is trained on
PRODUCTION = range(4100, 6100)  # served and labelled after the drift
FRESH = range(6100, 9100)  # the next export of the source: the new concept
UNSEEN = range(9100, ROWS)  # never used: the judge of "better on the new concept"

PROJECT = stream_project("""  drift: {window: 1d}
  alerts:
    - {name: accuracy-drop, when: kpi_breach, severity: critical}
    - {name: inputs-drift, when: drift, min_share: 0.3}
  retrain: {alerts: [accuracy-drop], min_feedback: 500, holdout: 0.25, cooldown: 1h}
deploy:
  strategy: canary
  steps: [50, 100]
  min_requests: 30
  guardrails: {error_rate: 0.05}
""")


def _aiforge(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(EXE), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.drop(columns=["label"]).to_dict("records")  # type: ignore[return-value]


def _accuracy(workspace: Path, version: int, rows: pd.DataFrame) -> float:
    ws = Workspace.open(WorkspaceSettings(root=workspace), create=False)
    try:
        registry = ModelRegistry(ws)
        model = registry.load_model(registry.get("stream", version))
    finally:
        ws.close()
    return float((model.predict(rows.drop(columns=["label"])) == rows["label"].to_numpy()).mean())


def test_drift_retrain_gate_canary_promote(tmp_path: Path) -> None:
    data = stream_rows()
    project_dir = tmp_path / "stream"
    (project_dir / "data").mkdir(parents=True)
    source = project_dir / "data" / "loans.csv"
    data.iloc[:TRAIN].to_csv(source, index=False)
    project = project_dir / "aiforge.yaml"
    project.write_text(PROJECT, encoding="utf-8")
    env = serve_env(tmp_path / "ws")
    _aiforge(env, tmp_path, "run", str(project))

    production = data.iloc[PRODUCTION.start:PRODUCTION.stop]
    with running_server(["--refresh-seconds", "0.2"], env, tmp_path, tmp_path / "server.log") as server:
        ids: list[str] = []
        for start in range(0, len(production), 250):
            answer = server.client.post("/v1/models/stream/predict",
                                        json={"records": _records(production.iloc[start:start + 250])})
            assert answer.status_code == 200, answer.text
            ids += [p["id"] for p in answer.json()["predictions"]]
        outcomes = [{"id": i, "outcome": int(y)} for i, y in zip(ids, production["label"], strict=True)]
        assert server.client.post("/v1/models/stream/feedback", json={"outcomes": outcomes}).status_code == 200
        deadline = time.monotonic() + 20
        while len(read_predictions(tmp_path / "ws" / "predictions", "stream")) < len(ids):
            assert time.monotonic() < deadline, "the predictions never reached the log"
            time.sleep(0.2)

        # the warehouse export the project reads now holds the newest rows: the new concept
        data.iloc[FRESH.start:FRESH.stop].to_csv(source, index=False)
        cycle = json.loads(_aiforge(env, tmp_path, "monitor", "watch", str(project), "--once", "--json").stdout)
        assert cycle["action"] == "deployed", cycle
        assert [e["action"] for e in cycle["events"]] == ["retrain", "deployed"]
        assert {a["rule"] for a in cycle["alerts"]} >= {"accuracy-drop"}
        retrain, deployed = cycle["events"]
        assert retrain["version"] == 1 and retrain["details"]["feedback_rows"] == 1500
        assert retrain["details"]["holdout_rows"] == 500
        assert deployed["candidate"] == 2 and deployed["run_id"]
        comparison = deployed["details"]["comparison"]
        assert comparison["metric"] == "accuracy" and comparison["rows"] == 500
        assert comparison["champion"] < 0.7 and comparison["candidate"] > 0.9, comparison

        # live traffic takes the canary through 50% and 100%; the server promotes it
        unseen = data.iloc[UNSEEN.start:UNSEEN.stop]
        records = _records(unseen)
        for i in range(400):
            answer = server.client.post("/v1/models/stream/predict", json={"records": [records[i % len(records)]]})
            assert answer.status_code == 200
            shown = json.loads(_aiforge(env, tmp_path, "deployments", "show", "stream", "--json").stdout) \
                if i % 25 == 24 else None
            if shown is not None and shown["state"] != "active":
                break
        assert shown is not None and shown["state"] == "promoted", shown
        answered = {server.client.post("/v1/models/stream/predict", json={"records": records[:1]}).json()["version"]
                    for _ in range(20)}
        assert answered == {2}

    ws = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"), create=False)
    try:
        registry = ModelRegistry(ws)
        assert registry.get("stream", 2).alias is Alias.PRODUCTION
        assert registry.get("stream", 1).alias is not Alias.PRODUCTION
        history = [e.action for e in WatchJournal(ws).recent("stream")]
        assert DeploymentStore(ws).recent("stream")[0].id == deployed["deployment"]
    finally:
        ws.close()
    assert history[:2] == ["deployed", "retrain"]
    # better on the new concept, judged on rows neither version saw
    assert _accuracy(tmp_path / "ws", 2, unseen) > 0.9 > 0.7 > _accuracy(tmp_path / "ws", 1, unseen)

    shown = _aiforge(env, tmp_path, "monitor", "history", "stream").stdout
    assert "deployed" in shown and "retrain" in shown
    # the next cycle watches the new version, whose traffic has no outcomes yet: nothing to do
    again = json.loads(_aiforge(env, tmp_path, "monitor", "watch", str(project), "--once", "--json").stdout)
    assert again["action"] == "checked" and again["events"][0]["version"] == 2


def test_deploy_guardrails_name_what_a_rollout_measures() -> None:
    from aiforge.registry import GUARDRAIL_METRICS

    assert set(GUARDRAIL_NAMES) == set(GUARDRAIL_METRICS)


@pytest.mark.parametrize(("text", "problem"), [
    ("monitor:\n  alerts: [{name: a, when: drift}]\n  retrain: {alerts: [b]}\n",
     "which monitor.alerts does not define"),
    ("deploy: {steps: [50, 20]}\n", "increasing percents"),
    ("deploy: {guardrails: {error_rate: 2}}\n", "out of range"),
    ("deploy: {guardrails: {latency: 2}}\n", "latency"),
])
def test_bad_loop_settings_are_refused_where_they_are(text: str, problem: str) -> None:
    from aiforge.errors import AiforgeError

    base = "name: x\nproblem: {target: y}\ndata: {sources: [{name: a, type: csv, path: a.csv}]}\n"
    with pytest.raises(AiforgeError) as caught:
        parse_project_text(base + text, Path("aiforge.yaml"))
    assert problem in caught.value.render()
