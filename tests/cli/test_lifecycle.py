"""End to end through the real CLI: run, inspect, cache, reproduce, gate, promote, survive SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import write_income_project
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from aiforge.evaluate import CHECK_METRICS
from aiforge.workspace import WorkspaceSettings

CACHEABLE = ["ingest", "validate", "split", "train", "evaluate", "checks"]


def _json(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_run_registers_a_candidate_with_lineage_and_a_report(aiforge, income_project: Path) -> None:
    proc = aiforge("run", str(income_project))
    assert proc.returncode == 0, proc.stderr
    assert "roc_auc" in proc.stderr and "registered accepted as candidate" in proc.stderr

    [run] = _json(aiforge("runs", "--json"))
    assert run["status"] == "succeeded" and run["project"] == "income"
    shown = _json(aiforge("show", run["id"][:15], "--json"))
    assert [s["name"] for s in shown["stages"]] == [*CACHEABLE, "gate", "register", "report"]
    assert all(s["status"] == "succeeded" and s["seconds"] is not None for s in shown["stages"])
    assert all(len(s["input_hash"]) == 64 for s in shown["stages"])

    [version] = _json(aiforge("models", "--json"))
    assert (version["name"], version["version"], version["status"], version["alias"]) == (
        "income", 1, "accepted", "candidate")
    lineage = version["lineage"]
    for key in ("spec_hash", "snapshot", "code_version", "libraries", "seeds", "parent_run"):
        assert lineage[key], key
    assert lineage["seeds"] == {"split": 7, "model": 7}
    assert lineage["parent_run"] == run["id"]
    assert {"roc_auc", "accuracy", "f1", "log_loss", "precision", "recall"} <= set(version["metrics"])

    report = Path(_json(aiforge("report", run["id"], "--json"))["report"])
    html = report.read_text(encoding="utf-8")
    assert report.parent == aiforge.workspace / "reports"
    assert html.count("<svg") >= 3 and "roc_auc" in html and "PASSED" in html

    assert _json(aiforge("promote", "income", "1", "--to", "production", "--json"))["alias"] == "production"
    [version] = _json(aiforge("models", "--json"))
    assert version["alias"] == "production"


def test_rerun_reuses_cached_stages_and_force_reproduces_the_same_model(aiforge, income_project: Path) -> None:
    aiforge("run", str(income_project), check=True)
    aiforge("run", str(income_project), check=True)
    aiforge("run", "--force", str(income_project), check=True)
    forced, cached, first = _json(aiforge("runs", "--json"))
    stages = {r: {s["name"]: s for s in _json(aiforge("show", r, "--json"))["stages"]}
              for r in (first["id"], cached["id"], forced["id"])}
    assert all(stages[cached["id"]][name]["status"] == "cached" for name in CACHEABLE)
    assert all(stages[forced["id"]][name]["status"] == "succeeded" for name in CACHEABLE)
    # same inputs, same seeds: byte-identical model and identical metrics
    model = [stages[r]["train"]["outputs"]["model"] for r in (first["id"], forced["id"])]
    assert model[0] == model[1]
    # energy and time vary with the load (compression's figures exist only when model.compress is set)
    timed = {name for name, m in CHECK_METRICS.items() if m.timed and m.check != "compression"}
    assert timed and timed <= set(first["summary"]["metrics"])
    assert ({k: v for k, v in first["summary"]["metrics"].items() if k not in timed}
            == {k: v for k, v in forced["summary"]["metrics"].items() if k not in timed})
    # the same model is not registered twice
    assert len(_json(aiforge("models", "--json"))) == 1


def test_failed_kpi_rejects_the_model_and_exits_1(aiforge, tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "strict", kpis="  - {metric: roc_auc, min: 0.999}")
    proc = aiforge("run", str(project))
    assert proc.returncode == 1
    assert "KPI gate failed" in proc.stderr and "below the minimum 0.999" in proc.stderr
    assert "Traceback" not in proc.stderr
    [version] = _json(aiforge("models", "--json"))
    assert version["status"] == "rejected" and version["alias"] is None
    [run] = _json(aiforge("runs", "--json"))
    assert run["status"] == "rejected"
    refused = aiforge("promote", "income", "1", "--to", "production")
    assert refused.returncode == 1 and "failed its KPI gate" in refused.stderr


def test_regression_task_is_detected_and_gated(aiforge, regression_project: Path) -> None:
    proc = aiforge("run", str(regression_project))
    assert proc.returncode == 0, proc.stderr
    [run] = _json(aiforge("runs", "--json"))
    assert run["summary"]["task"] == "regression"
    assert run["summary"]["metrics"]["r2"] > 0.8
    assert {"rmse", "mae", "r2"} <= set(run["summary"]["metrics"])


def test_init_scaffolds_a_project_that_validates_and_runs(aiforge, tmp_path: Path) -> None:
    aiforge("init", "churn", check=True)
    modeline, intro = (tmp_path / "churn" / "aiforge.yaml").read_text().splitlines()[:2]
    assert modeline == "# yaml-language-server: $schema=aiforge.schema.json"
    assert intro.startswith("# aiforge project file") and (tmp_path / "churn" / "aiforge.schema.json").is_file()
    assert _json(aiforge("validate", "churn/aiforge.yaml", "--json"))["task"] == "binary"
    proc = aiforge("run", "churn/aiforge.yaml")
    assert proc.returncode == 0, proc.stderr
    again = aiforge("init", "churn")
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr


def _train_running(workspace: Path) -> bool:
    """Whether the run in ``workspace`` is training now (read-only: the run makes the database; SQLite or
    PostgreSQL, as the suite runs)."""
    url = WorkspaceSettings(root=workspace).url
    if url.startswith("sqlite") and not (workspace / "aiforge.db").exists():
        return False
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT status FROM stages WHERE name = 'train'")).fetchone()
    except DBAPIError:  # not made yet, or locked for a moment
        return False
    finally:
        engine.dispose()
    return row is not None and row[0] == "running"


def test_sigkill_mid_training_leaves_no_model_and_the_next_run_resumes(aiforge, tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "big", rows=20000, learners="[random_forest, linear, lightgbm]")
    env = {**os.environ, "AIFORGE_WORKSPACE": str(aiforge.workspace)}
    exe = Path(sys.executable).with_name("aiforge")
    victim = subprocess.Popen([str(exe), "run", str(project)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _train_running(aiforge.workspace):
        assert victim.poll() is None, "the run ended before training started"
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.1)
    time.sleep(1.0)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    [run] = _json(aiforge("runs", "--json"))
    assert run["status"] == "interrupted"
    train = next(s for s in _json(aiforge("show", run["id"], "--json"))["stages"] if s["name"] == "train")
    assert train["status"] == "interrupted"
    assert _json(aiforge("models", "--json")) == []

    proc = aiforge("run", str(project))
    assert proc.returncode == 0, proc.stderr
    resumed, _ = _json(aiforge("runs", "--json"))
    stages = {s["name"]: s["status"] for s in _json(aiforge("show", resumed["id"], "--json"))["stages"]}
    assert stages["ingest"] == stages["validate"] == stages["split"] == "cached"
    assert stages["train"] == "succeeded"
    [version] = _json(aiforge("models", "--json"))
    assert version["run_id"] == resumed["id"]
