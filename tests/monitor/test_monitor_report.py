"""`aiforge monitor report` end to end: a version registered by the real `aiforge run` carries its reference;
predictions logged the way the server logs them are compared with it by the real CLI."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT, EXE, free_port, registered_income, write_income_project

from aiforge.monitor import PredictionLog
from aiforge.registry import ModelRegistry
from aiforge.workspace import Workspace, WorkspaceSettings

NUMERIC = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("monitor")
    env = registered_income(root, rows=3000, learners="[lightgbm]", kpi=0.7)
    return root, env


def _log(workspace: Path, rows: pd.DataFrame, version: int = 1) -> None:
    columns = {c: rows[c].tolist() for c in rows.columns if c != "income"}
    log = PredictionLog(workspace / "predictions", flush_seconds=0.1)
    n = len(rows)
    log.append(model="income", version=version, ids=[f"p{i}" for i in range(n)], columns=columns,
               labels=["<=50K"] * n, probabilities=np.tile([0.8, 0.2], (n, 1)), classes=("<=50K", ">50K"),
               values=None, latency_ms=1.0)
    log.close()


def _report(env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(EXE), "monitor", "report", "income", *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc


def test_the_registered_version_carries_its_reference(trained: tuple[Path, dict[str, str]]) -> None:
    root, _ = trained
    ws = Workspace.open(WorkspaceSettings(root=root / "ws"), create=False)
    try:
        registry = ModelRegistry(ws)
        version = registry.get("income", 1)
        reference = json.loads(registry.document(version, "reference"))
    finally:
        ws.close()
    assert set(reference["columns"]) == {c for c in pd.read_csv(ADULT, nrows=1).columns if c != "income"}
    assert reference["columns"]["age"]["kind"] == "numeric" and reference["columns"]["sex"]["kind"] == "categorical"
    assert reference["prediction"]["kind"] == "numeric" and reference["meta"]["positive"] == ">50K"
    assert len(json.dumps(reference)) < 60_000


def test_shifted_inputs_are_reported_as_drift_with_plots(trained: tuple[Path, dict[str, str]]) -> None:
    root, env = trained
    rows = pd.read_csv(ADULT, skiprows=range(1, 3001), nrows=4000)
    rows["age"] = rows["age"] + 15
    rows.loc[rows.index[:2000], "sex"] = "Female"
    _log(root / "ws", rows)

    shown = json.loads(_report(env, "--window", "1d", "--json").stdout)
    drift = shown["drift"]
    assert shown["rows"] == 4000 and shown["version"] == 1
    assert {"age", "sex"} <= set(drift["drifted"]) and len(drift["drifted"]) <= 4
    age = next(c for c in drift["columns"] if c["name"] == "age")
    assert age["wasserstein"] > 0.5 and age["p_value"] < 1e-6
    assert drift["domain"]["auc"] > 0.7 and drift["domain"]["top_columns"][0]["column"] in ("age", "sex")
    assert drift["prediction"]["drifted"]  # every logged probability is 0.2: far from the test rows' spread
    page = Path(shown["report"]).read_text()
    assert page.count("<svg") >= 14 and "Drift of income v1" in page and "DRIFT" in page

    table = _report(env, "--last", "4000")
    assert re.search(r"drifted: .*\bage\b", table.stdout) and "DRIFT" in table.stdout


def test_delayed_labels_score_production_and_a_failing_kpi_is_a_breach(
        trained: tuple[Path, dict[str, str]]) -> None:
    root, env = trained  # the previous test logged p0..p3999, every one with probability 0.2 of >50K
    truth = pd.read_csv(ADULT, skiprows=range(1, 3001), nrows=4000)["income"]
    outcomes = root / "outcomes.csv"
    pd.DataFrame({"prediction": [f"p{i}" for i in range(4000)], "truth": truth}).to_csv(outcomes, index=False)
    fed = subprocess.run([str(EXE), "monitor", "labels", str(outcomes), "--model", "income", "--id-column",
                          "prediction", "--outcome-column", "truth"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert fed.returncode == 0 and "stored 4000 outcomes of income" in fed.stdout, fed.stderr

    shown = json.loads(_report(env, "--window", "1d", "--every", "1d", "--json").stdout)
    perf = shown["performance"]
    assert perf["labelled"] == 4000 and perf["predictions"] == 4000
    assert perf["metrics"]["roc_auc"] == pytest.approx(0.5)  # a constant score ranks nothing
    expected_accuracy = float((truth == "<=50K").mean())
    assert perf["metrics"]["accuracy"] == pytest.approx(expected_accuracy)
    assert [b["metric"] for b in perf["breaches"]] == ["roc_auc"]
    assert "roc_auc = 0.5000 in production, >= 0.7 required" in perf["breaches"][0]["message"]
    assert len(perf["series"]) == 1 and perf["series"][0]["labelled"] == 4000
    assert len(shown["series"]) == 1 and {"age", "sex"} <= set(shown["series"][0]["drifted"])
    assert "Drift over time" in Path(shown["report"]).read_text()
    assert "KPI BREACHED: roc_auc" in _report(env, "--window", "1d").stdout
    missing = subprocess.run([str(EXE), "monitor", "labels", str(outcomes), "--model", "income"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert missing.returncode == 2 and "has no column 'id', 'outcome'" in missing.stderr


def test_bad_windows_and_missing_predictions_are_clear_errors(trained: tuple[Path, dict[str, str]]) -> None:
    _, env = trained
    assert "cannot read the period 'yesterday'" in _report(env, "--window", "yesterday", code=2).stderr
    missing = _report(env, "--version", "7", code=2)
    assert "has no version 7" in missing.stderr


# -- alerts: rules in the project file, sent to a real webhook and a real SMTP server, deduplicated ------


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    failures_left = 1  # the first POST gets a 503: the sink must retry

    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            self.send_response(503)
        else:
            type(self).received.append(json.loads(body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_alert_rules_send_once_to_log_webhook_and_email_then_deduplicate(
        trained: tuple[Path, dict[str, str]]) -> None:
    from aiosmtpd.controller import Controller

    root, env = trained
    mails: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
            mails.append(envelope)
            return "250 OK"

    smtp = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        project = root / "income" / "aiforge.yaml"
        project.write_text(project.read_text() + f"""
monitor:
  drift: {{window: 1d}}
  dedupe: 1h
  alerts:
    - {{name: inputs, when: drift, min_share: 0.1, sinks: [log, webhook, email]}}
    - {{name: production-kpi, when: kpi_breach, severity: critical, sinks: [email]}}
    - {{name: domain, when: domain_drift, sinks: [log]}}
  sinks:
    webhook: {{url: "http://127.0.0.1:{hook.server_address[1]}/alerts", retries: 2}}
    email: {{host: 127.0.0.1, port: {smtp.port}, sender: aiforge@example.com, to: [ops@example.com]}}
""")
        first = subprocess.run([str(EXE), "monitor", "check", str(project), "--json"], capture_output=True, text=True,
                               env=env, timeout=300)
        assert first.returncode == 1, first.stderr  # alerts were raised
        raised = {a["rule"]: a for a in json.loads(first.stdout)["alerts"]}
        assert set(raised) == {"inputs", "production-kpi", "domain"} and all(a["new"] for a in raised.values())
        assert raised["inputs"]["deliveries"]["webhook"] == "sent: HTTP 200 after 2 attempt(s)"
        assert raised["inputs"]["deliveries"]["email"] == "sent: to ops@example.com"
        assert raised["production-kpi"]["severity"] == "critical" and "roc_auc" in raised["production-kpi"]["message"]
        assert [m["rule"] for m in _Webhook.received] == ["inputs"]
        assert "age" in _Webhook.received[0]["details"]["columns"]
        subjects = sorted(m.content.decode().split("Subject: ")[1].split("\r\n")[0] for m in mails)
        assert subjects == ["[aiforge critical] income v1: production-kpi", "[aiforge warning] income v1: inputs"]
        logged = [json.loads(line) for line in (root / "ws" / "alerts.log").read_text().splitlines()]
        assert sorted(a["rule"] for a in logged) == ["domain", "inputs"]

        again = subprocess.run([str(EXE), "monitor", "check", str(project)], capture_output=True, text=True, env=env,
                               timeout=300)
        assert again.returncode == 1 and again.stdout.count("repeat #2, not sent again") == 3, again.stdout
        assert len(mails) == 2 and len(_Webhook.received) == 1  # deduplicated: nothing sent twice
        listed = json.loads(subprocess.run([str(EXE), "alerts", "--json"], capture_output=True, text=True, env=env,
                                           timeout=120).stdout)
        assert sorted((a["rule"], a["count"]) for a in listed) == [("domain", 2), ("inputs", 2), ("production-kpi", 2)]
    finally:
        hook.shutdown()
        hook.server_close()
        smtp.stop()


def test_an_alert_to_an_unconfigured_sink_is_a_located_spec_error(tmp_path: Path) -> None:
    from aiforge.errors import SpecError
    from aiforge.spec import parse_project_text

    text = write_income_project(tmp_path / "p").read_text() + (
        "monitor:\n  alerts:\n    - {name: x, when: drift, sinks: [webhook]}\n")
    with pytest.raises(SpecError, match="sends to 'webhook', but monitor.sinks has no 'webhook' section"):
        parse_project_text(text, tmp_path / "p" / "aiforge.yaml")
