"""The closed loop's decisions, each on its own copy of one workspace: a model trained on the first concept of a
river stream, 1,000 predictions of the second concept logged with the model's real outputs, and their outcomes
fed back — so the production accuracy KPI is breached. What the watch does then depends on the project file and
on what it finds: nothing to retrain on, a cooldown, too few outcomes, a rollout in progress, a gate that fails."""

from __future__ import annotations

import math
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import workspace_databases
from stream_project import stream_project, stream_rows

from aiforge.monitor import Comparison, PredictionLog, WatchJournal, watch_once
from aiforge.pipeline import run_project
from aiforge.registry import Alias, DeploymentStore, ModelRegistry, OutcomeStore, VersionStatus
from aiforge.spec import ProjectFile, load_project_file
from aiforge.workspace import Workspace, WorkspaceSettings

ALERTS = "  alerts:\n    - {name: accuracy-drop, when: kpi_breach}\n"
RETRAIN = "  retrain: {alerts: [accuracy-drop], min_feedback: 500, holdout: 0.2, cooldown: 1h}\n"


def _project(folder: Path, *, retrain: str = RETRAIN, kpi: float = 0.85) -> ProjectFile:
    (folder / "aiforge.yaml").write_text(stream_project(ALERTS + retrain, kpi=kpi), encoding="utf-8")
    return load_project_file(folder / "aiforge.yaml")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("watch")
    data = stream_rows()
    (root / "project" / "data").mkdir(parents=True)
    data.iloc[:3000].to_csv(root / "project" / "data" / "loans.csv", index=False)
    settings = WorkspaceSettings(root=root / "ws")
    run_project(_project(root / "project"), settings)
    production = data.iloc[4100:5100]
    ws = Workspace.open(settings, create=False)
    try:
        registry = ModelRegistry(ws)
        model = registry.load_model(registry.get("stream", 1))
        inputs = production.drop(columns=["label"])
        ids = [f"p{i}" for i in range(len(production))]
        log = PredictionLog(root / "ws" / "predictions", flush_seconds=0.1)
        log.append(model="stream", version=1, ids=ids, columns={c: inputs[c].tolist() for c in inputs.columns},
                   labels=[str(x) for x in model.predict(inputs)],
                   probabilities=np.asarray(model.predict_proba(inputs)), classes=("0", "1"), values=None,
                   latency_ms=1.0)
        log.close()
        OutcomeStore(ws).record("stream", list(zip(ids, production["label"].astype(int).tolist(), strict=True)))
    finally:
        ws.close()
    return root


@pytest.fixture
def copy(base: Path, tmp_path: Path) -> Path:
    shutil.copytree(base, tmp_path / "copy", ignore=shutil.ignore_patterns("ws"))
    workspace_databases.copy_workspace(base / "ws", tmp_path / "copy" / "ws")  # its database too, on PostgreSQL
    return tmp_path / "copy"


def _settings(root: Path) -> WorkspaceSettings:
    return WorkspaceSettings(root=root / "ws")


def _journal(root: Path) -> list[str]:
    ws = Workspace.open(_settings(root), create=False)
    try:
        return [e.action for e in WatchJournal(ws).recent("stream")]
    finally:
        ws.close()


def test_without_a_retrain_section_the_watch_only_alerts(copy: Path) -> None:
    cycle = watch_once(_project(copy / "project", retrain=""), _settings(copy))
    assert cycle.action == "checked" and [a.rule for a in cycle.alerts] == ["accuracy-drop"]
    assert "do not retrain" in cycle.events[0].reason
    assert _journal(copy) == ["checked"]


def test_too_few_outcomes_wait_for_more(copy: Path) -> None:
    retrain = "  retrain: {alerts: [accuracy-drop], min_feedback: 5000}\n"
    cycle = watch_once(_project(copy / "project", retrain=retrain), _settings(copy))
    assert cycle.action == "waiting" and "only 1000 production predictions have an outcome" in cycle.events[0].reason


def test_a_recent_retrain_holds_the_next_one_back(copy: Path) -> None:
    ws = Workspace.open(_settings(copy), create=False)
    try:
        WatchJournal(ws).record("stream", "retrain", "an earlier one", version=1,
                                now=datetime.now(UTC) - timedelta(minutes=10))
    finally:
        ws.close()
    cycle = watch_once(_project(copy / "project"), _settings(copy))
    assert cycle.action == "waiting" and "within the cooldown of 1h" in cycle.events[0].reason


def test_a_rollout_in_progress_holds_the_retrain_back(copy: Path) -> None:
    settings = _settings(copy)
    source = copy / "project" / "data" / "loans.csv"
    pd.read_csv(source).iloc[:2900].to_csv(source, index=False)
    assert run_project(_project(copy / "project", retrain=""), settings).version.version == 2
    ws = Workspace.open(settings, create=False)
    try:
        ModelRegistry(ws).promote("stream", 1, Alias.PRODUCTION)  # v1 keeps answering; v2 is the challenger
        deployment = DeploymentStore(ws).create("stream", 2, "canary", actor="test")
    finally:
        ws.close()
    cycle = watch_once(_project(copy / "project"), settings)
    assert cycle.action == "waiting" and deployment.id in cycle.events[0].reason
    assert cycle.events[0].deployment == deployment.id


def test_a_candidate_that_fails_its_gate_is_not_rolled_out(copy: Path) -> None:
    rng = np.random.default_rng(0)
    fresh = pd.read_csv(copy / "project" / "data" / "loans.csv")
    fresh["label"] = rng.integers(0, 2, len(fresh))  # an export whose labels are noise
    fresh.to_csv(copy / "project" / "data" / "loans.csv", index=False)
    cycle = watch_once(_project(copy / "project", retrain=RETRAIN.replace("min_feedback: 500",
                                                                          "min_feedback: 500, feedback: false")),
                       _settings(copy))
    assert [e.action for e in cycle.events] == ["retrain", "rejected"]
    rejected = cycle.events[1]
    assert rejected.candidate == 2 and rejected.run_id and "failed the gate" in rejected.reason
    assert cycle.events[0].details["feedback_rows"] == 0
    ws = Workspace.open(_settings(copy), create=False)
    try:
        assert ModelRegistry(ws).get("stream", 2).status is VersionStatus.REJECTED
        assert not DeploymentStore(ws).active("stream")
    finally:
        ws.close()
    again = watch_once(_project(copy / "project"), _settings(copy))
    assert again.action == "waiting" and "cooldown" in again.events[0].reason


def test_a_model_without_traffic_is_idle(copy: Path) -> None:
    for day in (copy / "ws" / "predictions" / "stream").iterdir():
        shutil.rmtree(day)
    cycle = watch_once(_project(copy / "project"), _settings(copy))
    assert cycle.action == "idle" and cycle.report is None


@pytest.mark.parametrize(("higher", "champion", "candidate", "tolerance", "passed"), [
    (True, 0.80, 0.81, 0.0, True),
    (True, 0.80, 0.79, 0.0, False),
    (True, 0.80, 0.79, 0.02, True),
    (False, 0.30, 0.35, 0.0, False),  # a loss: lower is better
    (False, 0.30, 0.25, 0.0, True),
    (True, math.nan, 0.7, 0.0, True),  # the answering version could not be scored
    (True, 0.8, math.nan, 0.0, False),
])
def test_comparison_respects_the_metric_direction_and_tolerance(higher: bool, champion: float, candidate: float,
                                                                tolerance: float, passed: bool) -> None:
    assert Comparison("m", higher, 100, champion, candidate, tolerance).passed is passed
