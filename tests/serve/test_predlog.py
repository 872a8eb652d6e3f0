"""The prediction log: every answered prediction lands in the workspace, off the request path, and a
SIGTERM loses none of them."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
from conftest import running_server, write_income_project
from test_server import FAST_CHECKS, _run, adult_records

from aiforge.monitor import PredictionLog, read_predictions


def test_batches_are_written_on_time_and_on_close(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, flush_seconds=0.2)
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    log.append(model="m", version=3, ids=["a", "b"], columns={"x": [1.0, None], "c": ["u", "v"]},
               labels=["no", "yes"], probabilities=probabilities, classes=("no", "yes"), values=None,
               latency_ms=1.5)
    deadline = time.monotonic() + 5
    while log.written_rows < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.written_rows == 2
    log.append(model="m", version=3, ids=["c"], columns={"x": [2.0], "c": ["w"]}, labels=["no"],
               probabilities=probabilities[:1], classes=("no", "yes"), values=None, latency_ms=0.5)
    log.close()

    rows = read_predictions(tmp_path, "m")
    assert rows["id"].tolist() == ["a", "b", "c"] and set(rows["version"]) == {3}
    assert rows["in.x"].isna().tolist() == [False, True, False] and rows["in.c"].tolist() == ["u", "v", "w"]
    assert json.loads(rows["probabilities"][1]) == {"no": 0.2, "yes": 0.8} and rows["label"][1] == "yes"
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_sigterm_flushes_every_answered_prediction(tmp_path: Path) -> None:
    env = {"AIFORGE_WORKSPACE": str(tmp_path / "ws"), "OMP_WAIT_POLICY": "PASSIVE", "PATH": "/usr/bin:/bin"}
    project = write_income_project(tmp_path / "income", rows=800, learners="[lightgbm]", checks=FAST_CHECKS,
                                   kpis="  - {metric: roc_auc, min: 0.5}")
    assert _run(env, tmp_path, "run", str(project)).returncode == 0
    with running_server([], env, tmp_path, tmp_path / "server.log") as running:
        ids = []
        for i in range(20):
            answer = running.client.post("/v1/models/income/predict", json={"records": adult_records(3, start=i * 3)})
            assert answer.status_code == 200, answer.text
            ids += [p["id"] for p in answer.json()["predictions"]]
        running.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (exit status -15)
        assert running.process.wait(timeout=30) in (0, -signal.SIGTERM), running.log.read_text()
        assert "Application shutdown complete" in running.log.read_text()

    rows = read_predictions(tmp_path / "ws" / "predictions", "income")
    assert sorted(rows["id"]) == sorted(ids) and len(ids) == 60
    assert (rows["latency_ms"] > 0).all() and set(rows["version"]) == {1}
    assert {"in.age", "in.sex", "in.occupation"} <= set(rows.columns)  # one typed column per input
    assert rows["in.age"].dtype == np.float64
    assert rows["in.sex"].tolist()[:3] == [r["sex"] for r in adult_records(3, start=0)]
