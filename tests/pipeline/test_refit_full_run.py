"""model.refit_full through a real run: the model fit on the training rows is evaluated and gated, then
its configuration is refit on all rows and that model is registered, with the lineage saying so."""

from __future__ import annotations

import io
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from aiforge.errors import AiforgeError
from aiforge.pipeline import get_run, run_project
from aiforge.spec import load_project_file
from aiforge.workspace import Workspace, WorkspaceSettings

PROJECT = """name: refit
problem: {task: binary, target: y, positive_class: 1}
data:
  sources: [{name: main, type: csv, path: data.csv}]
  split: {test_size: 0.25, seed: 1}
model:
  learners: [lightgbm]
  search: {strategy: defaults, cv: 3}
  ensemble: {enabled: false}
  refit_full: true
  seed: 3
  n_jobs: 1
checks: {importance: {enabled: false}, explain: {enabled: false}, robustness: {enabled: false},
  label_noise: {enabled: false}, privacy: {enabled: false}, energy: {enabled: false}}
kpis: [{metric: roc_auc, min: %s}]
"""


def _project(folder: Path, floor: float = 0.6, extra: str = "") -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.7, size=400) > 0).astype(int)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y}).to_csv(folder / "data.csv", index=False)
    (folder / "aiforge.yaml").write_text(PROJECT % floor + extra, encoding="utf-8")
    return folder / "aiforge.yaml"


def test_the_registered_model_is_the_evaluated_configuration_refit_on_all_rows(tmp_path: Path) -> None:
    settings = WorkspaceSettings(root=tmp_path / "ws")
    result = run_project(load_project_file(_project(tmp_path)), settings)
    ws = Workspace.open(settings, create=False)
    try:
        stages = {s.name: s for s in get_run(ws, result.run_id).stages}
        trained, version = stages["train"].outputs["model"], result.version
        assert stages["refit"].status == "succeeded" and stages["refit"].outputs["rows"] == 400
        assert version.artifact == stages["refit"].outputs["model"] != trained
        assert version.lineage["refit_full"] == {"evaluated_model": trained, "rows": 400, "training_rows": 300}
        assert version.lineage["inference"] == stages["refit"].outputs["inference"]
        assert version.metrics["roc_auc"] == result.evaluation.metrics["roc_auc"]  # the evaluated model's figures
        evaluated = joblib.load(io.BytesIO(ws.artifacts.get_bytes(trained)))
        served = joblib.load(io.BytesIO(ws.artifacts.get_bytes(version.artifact)))
    finally:
        ws.close()
    rounds = [m.pipeline.named_steps["model"].get_params()["n_estimators"] for m in (evaluated, served)]
    assert rounds[1] == round(rounds[0] * 400 / 300)
    rows = pd.read_csv(tmp_path / "data.csv").drop(columns="y")
    assert served.predict_proba(rows).shape == (400, 2)


def test_a_model_the_gate_rejects_is_registered_as_evaluated(tmp_path: Path) -> None:
    settings = WorkspaceSettings(root=tmp_path / "ws")
    result = run_project(load_project_file(_project(tmp_path, floor=0.999)), settings)
    assert not result.verdict.passed and "refit_full" not in result.version.lineage
    ws = Workspace.open(settings, create=False)
    try:
        assert "refit" not in {s.name for s in get_run(ws, result.run_id).stages}
    finally:
        ws.close()


def test_refit_full_is_refused_beside_compression(tmp_path: Path) -> None:
    path = _project(tmp_path)
    both = "  refit_full: true\n  compress: {quantize: dynamic}\n"
    path.write_text(path.read_text().replace("  refit_full: true\n", both))
    with pytest.raises(AiforgeError, match="refit_full cannot be combined with model.compress"):
        load_project_file(path)
