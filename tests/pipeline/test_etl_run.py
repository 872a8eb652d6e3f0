"""data.steps inside a real `aiforge run`: the snapshot holds the transformed rows, the steps are part of the
ingest's cache key, and a bad step stops the run before anything is written."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
from conftest import EXE, FAST_CHECKS, serve_env, write_income_project

from aiforge.workspace import Workspace, WorkspaceSettings

STEPS = """  steps:
    - {derive: {capital_net: "capital_gain - capital_loss"}}
    - {filter: "age >= 25"}
    - {select: [age, education_num, hours_per_week, sex, capital_net, income]}
"""


def _project(tmp_path: Path, steps: str) -> Path:
    project = write_income_project(tmp_path / "income", rows=1500, learners="[linear]", checks=FAST_CHECKS,
                                   kpis="  - {metric: roc_auc, min: 0.5}")
    text = project.read_text(encoding="utf-8").replace("  split: {", steps + "  split: {")
    project.write_text(text, encoding="utf-8")
    return project


def _aiforge(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=serve_env(tmp_path / "ws"),
                          cwd=tmp_path, timeout=300)


def test_the_snapshot_holds_the_transformed_rows(tmp_path: Path) -> None:
    project = _project(tmp_path, STEPS)
    done = _aiforge(tmp_path, "run", str(project), "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    shown = json.loads(_aiforge(tmp_path, "show", run["run_id"], "--json").stdout)
    ingest = next(s for s in shown["stages"] if s["name"] == "ingest")
    snapshot = ingest["outputs"]["snapshot"]
    assert [c["name"] for c in snapshot["columns"]] == ["age", "education_num", "hours_per_week", "sex",
                                                        "capital_net", "income"]
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"), create=False)
    try:
        table = pq.read_table(io.BytesIO(ws.artifacts.get_bytes(snapshot["id"])))
    finally:
        ws.close()
    assert min(table.column("age").to_pylist()) >= 25 and table.num_rows == snapshot["n_rows"] < 1500


def test_a_bad_step_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    project = _project(tmp_path, '  steps:\n    - {filter: "agee >= 25"}\n')
    done = _aiforge(tmp_path, "run", str(project))
    assert done.returncode != 0
    assert "data.steps[0] (filter)" in done.stderr and '"agee" not found' in done.stderr
    assert not (tmp_path / "ws").exists()
