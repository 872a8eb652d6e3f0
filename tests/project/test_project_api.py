"""``aiforge.Project`` end to end on a real project, workspace and files: load, validate, run, then the runs,
versions, predictions and drift it reads back agree with what the CLI says of the same workspace."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT, EXE, FAST_CHECKS, serve_env, write_income_project

import aiforge
from aiforge.errors import AiforgeError, DataError, RegistryError, SpecError, WorkspaceError
from aiforge.evaluate import GateVerdict
from aiforge.monitor import DriftReport, MonitorReport, PredictionLog
from aiforge.pipeline import RunNotFound, RunRecord, RunResult, SilentProgress
from aiforge.project import Comparison, Project, RunList, Validation, VersionList
from aiforge.registry import ModelVersion

ENV = ("AIFORGE_WORKSPACE", "AIFORGE_DB_URL", "AIFORGE_ENCRYPTION_KEY", "AIFORGE_ENCRYPTION_KEY_FILE")


@dataclass
class Ran:
    root: Path
    project: Project
    first: RunResult
    second: RunResult  # the same data with a KPI no model meets: registered as rejected
    stages: str  # what the first run printed


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    import contextlib
    import io

    root = tmp_path_factory.mktemp("project")
    with pytest.MonkeyPatch.context() as mp:
        for var in ENV:
            mp.delenv(var, raising=False)
        path = write_income_project(root / "income", rows=1500, learners="[linear]", checks=FAST_CHECKS)
        project = Project.load(path, workspace=root / "ws")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            first = project.run()
        strict = write_income_project(root / "strict", rows=1500, learners="[linear]", checks=FAST_CHECKS,
                                      kpis="  - {metric: roc_auc, min: 0.999}")
        second = Project.load(strict, workspace=root / "ws").run(progress=SilentProgress())
        yield Ran(root, project, first, second, printed.getvalue())


def _cli(ran: Ran, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(EXE), *args], capture_output=True, text=True, env=serve_env(ran.root / "ws"),
                          cwd=ran.root, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def _rows(n: int, skip: int = 3000) -> pd.DataFrame:
    return pd.read_csv(ADULT, skiprows=range(1, skip + 1), nrows=n)


def test_aiforge_project_is_the_project_class() -> None:
    assert aiforge.Project is Project


def test_load_reads_and_checks_the_file_and_touches_no_workspace(tmp_path: Path) -> None:
    path = write_income_project(tmp_path / "income", rows=200)
    project = Project.load(path.parent, workspace=tmp_path / "ws")  # a folder with aiforge.yaml is enough
    assert (project.name, project.path, project.settings.root) == ("income", path, tmp_path / "ws")
    assert project.spec.problem.target == "income" and "Project('income'" in repr(project)
    assert not (tmp_path / "ws").exists()


def test_load_resolves_the_workspace_as_the_cli_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_income_project(tmp_path / "income", rows=200)
    assert Project.load(path).settings.root == tmp_path / ".aiforge"  # the tests run in tmp_path
    monkeypatch.setenv("AIFORGE_WORKSPACE", str(tmp_path / "elsewhere"))
    assert Project.load(path).settings.root == tmp_path / "elsewhere"


def test_a_bad_project_file_names_file_line_and_field(tmp_path: Path) -> None:
    path = write_income_project(tmp_path / "income", rows=200, learners="[linear, lightgbmm]")
    with pytest.raises(SpecError, match="unknown learner 'lightgbmm'") as caught:
        Project.load(path)
    assert caught.value.where is not None and f"{path}:" in caught.value.where
    with pytest.raises(SpecError, match="project file not found"):
        Project.load(tmp_path / "nothing.yaml")


def test_validate_reads_the_data_and_writes_nothing(tmp_path: Path) -> None:
    path = write_income_project(tmp_path / "income", rows=300)
    project = Project.load(path, workspace=tmp_path / "ws")
    checked = project.validate()
    assert isinstance(checked, Validation)
    assert (checked.task, checked.rows, checked.data_checked) == ("binary", 300, True)
    assert "age" in checked.features and "income" not in checked.features
    assert checked.to_json()["valid"] is True and checked.spec_hash == project.file.sha256
    only_file = project.validate(data=False)
    assert only_file.data_checked is False and only_file.rows is None
    assert "The file only" in only_file._repr_html_() and "300 rows" in checked._repr_html_()
    assert not (tmp_path / "ws").exists()


def test_validate_stops_at_bad_data(tmp_path: Path) -> None:
    path = write_income_project(tmp_path / "income", rows=300)
    (path.parent / "data" / "adult.csv").write_text("age,sex\n39,Male\n", encoding="utf-8")
    with pytest.raises(AiforgeError, match="income"):
        Project.load(path, workspace=tmp_path / "ws").validate()
    assert not (tmp_path / "ws").exists()


def test_reading_a_workspace_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    project = Project.load(write_income_project(tmp_path / "income", rows=200), workspace=tmp_path / "ws")
    for read in (project.runs, project.versions, project.version, project.compare):
        with pytest.raises(WorkspaceError, match="no workspace here yet"):
            read()
    assert not (tmp_path / "ws").exists()


def test_run_prints_a_line_per_stage_and_returns_the_result(ran: Ran) -> None:
    lines = ran.stages.splitlines()
    assert [line.split()[1] for line in lines] == ["ingest", "validate", "split", "train", "evaluate", "checks",
                                                   "gate", "register", "report"]
    assert all(line.startswith("✓") for line in lines)
    result = ran.first
    assert result.status.value == "succeeded" and result.verdict.passed
    assert (result.version.name, result.version.version, result.version.status.value) == ("income", 1, "accepted")
    assert result.report_path.is_file()
    assert ran.second.status.value == "rejected" and not ran.second.verdict.passed
    assert ran.second.version.version == 2 and ran.second.version.alias is None


def test_runs_and_get_run_agree_with_the_cli(ran: Ran) -> None:
    runs = ran.project.runs()  # both project files name the project 'income': newest first
    assert isinstance(runs, RunList)
    assert [r.id for r in runs] == [ran.second.run_id, ran.first.run_id]
    assert [r.id for r in ran.project.runs(limit=1)] == [ran.second.run_id]
    shown = json.loads(_cli(ran, "show", ran.first.run_id, "--json").stdout)
    record = ran.project.get_run(ran.first.run_id[:-2])
    assert isinstance(record, RunRecord) and record.to_json() == shown
    assert [s.name for s in record.stages][-1] == "report"


def test_get_run_refuses_a_run_of_another_project(ran: Ran, tmp_path: Path) -> None:
    path = write_income_project(tmp_path / "other", rows=200)
    text = path.read_text(encoding="utf-8").replace("name: income", "name: other")
    path.write_text(text, encoding="utf-8")
    other = Project.load(path, workspace=ran.root / "ws")
    with pytest.raises(RunNotFound, match="is a run of project 'income', not of 'other'"):
        other.get_run(ran.first.run_id)
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        other.get_run("nope")


def test_report_is_the_runs_html_page_written_again_when_removed(ran: Ran) -> None:
    path = ran.project.report(ran.first.run_id)
    assert path == ran.first.report_path
    assert ran.project.report() == ran.second.report_path  # the newest run's
    before = path.read_bytes()
    path.unlink()
    assert ran.project.report(ran.first.run_id).read_bytes() == before


def test_versions_version_and_promote(ran: Ran) -> None:
    versions = ran.project.versions()
    assert isinstance(versions, VersionList)
    assert [(v.version, v.status.value) for v in versions] == [(1, "accepted"), (2, "rejected")]
    listed = json.loads(_cli(ran, "models", "income", "--json").stdout)
    assert [v.to_json() for v in versions] == listed
    assert ran.project.version().version == 1  # the one that answers, not the newest (rejected) one
    assert ran.project.version(2).status.value == "rejected"
    with pytest.raises(RegistryError, match="model 'income' has no version 7"):
        ran.project.version(7)
    with pytest.raises(AiforgeError, match="failed its KPI gate and cannot become production"):
        ran.project.promote(2, "production")
    with pytest.raises(RegistryError, match="unknown alias 'prod'"):
        ran.project.promote(1, "prod")


def test_compare_sets_versions_side_by_side(ran: Ran) -> None:
    comparison = ran.project.compare()
    assert isinstance(comparison, Comparison)
    assert [v.version for v in comparison.versions] == [1, 2]
    roc = comparison.metrics["roc_auc"]
    assert roc == {1: ran.first.version.metrics["roc_auc"], 2: ran.second.version.metrics["roc_auc"]}
    assert comparison.kpis == {"roc_auc >= 0.8": {1: True, 2: None}, "roc_auc >= 0.999": {1: None, 2: False}}
    assert comparison.best("log_loss") in (1, 2) and comparison.best("no_such_metric") is None
    assert [v.version for v in ran.project.compare(2).versions] == [2]


def test_predict_scores_as_aiforge_predict_does(ran: Ran) -> None:
    rows = _rows(40)
    scored = ran.project.predict(rows)
    assert list(scored.columns) == [*rows.columns, "prediction", "probability_<=50K", "probability_>50K"]
    assert len(scored) == 40 and set(scored["prediction"]) <= {"<=50K", ">50K"}
    np.testing.assert_allclose(scored["probability_<=50K"] + scored["probability_>50K"], 1.0)
    rows.to_csv(ran.root / "rows.csv", index=False)
    _cli(ran, "predict", "--model", "income", "--input", str(ran.root / "rows.csv"), "--output",
         str(ran.root / "scored.parquet"))
    batch = pd.read_parquet(ran.root / "scored.parquet")
    assert scored["prediction"].tolist() == batch["prediction"].tolist()
    np.testing.assert_allclose(scored["probability_>50K"], batch["probability_>50K"], rtol=1e-9)
    one = ran.project.predict(rows.iloc[0].to_dict())
    records = ran.project.predict(rows.head(3).to_dict("records"))
    assert one["prediction"].tolist() == scored["prediction"].tolist()[:1]
    assert records["prediction"].tolist() == scored["prediction"].tolist()[:3]


@pytest.mark.parametrize(("records", "version", "error", "message"), [
    pytest.param(lambda rows: rows.drop(columns=["age", "sex"]), None, DataError,
                 r"the DataFrame lacks 2 input column\(s\) of the model", id="missing-columns"),
    pytest.param(lambda rows: rows.head(0), None, DataError, "no records to score", id="empty"),
    pytest.param(lambda rows: "age=39", None, DataError, "records must be a DataFrame", id="text"),
    pytest.param(lambda rows: [1, 2], None, DataError, "records must be a DataFrame", id="not-dicts"),
    pytest.param(lambda rows: rows, 2, AiforgeError, "income v2 failed its KPI gate and may not score", id="rejected"),
])
def test_predict_refuses_bad_records_and_rejected_versions(ran: Ran, records: object, version: int | None,
                                                           error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        ran.project.predict(records(_rows(5)), version=version)  # type: ignore[operator]


def test_drift_of_rows_against_the_versions_reference(ran: Ran) -> None:
    same = ran.project.drift(_rows(2000))
    assert isinstance(same, DriftReport) and same.rows == 2000 and same.drifted == []
    shifted = _rows(2000)
    shifted["age"] = shifted["age"] + 15
    moved = ran.project.drift(shifted)
    assert moved.drifted == ["age"]
    assert ran.project.drift(shifted, threshold=5.0).drifted == []  # the settings reach the measure
    with pytest.raises(DataError, match=r"the records lack 1 input column\(s\) of income v1"):
        ran.project.drift(shifted.drop(columns=["age"]))


def test_monitor_reads_the_logged_predictions(ran: Ran) -> None:
    with pytest.raises(AiforgeError, match="no logged predictions of income v1"):
        ran.project.monitor(window="1d")
    rows = _rows(1000)
    rows["age"] = rows["age"] + 15
    log = PredictionLog(ran.root / "ws" / "predictions", flush_seconds=0.1)
    log.append(model="income", version=1, ids=[f"p{i}" for i in range(len(rows))],
               columns={c: rows[c].tolist() for c in rows.columns if c != "income"}, labels=["<=50K"] * len(rows),
               probabilities=np.tile([0.8, 0.2], (len(rows), 1)), classes=("<=50K", ">50K"), values=None,
               latency_ms=1.0)
    log.close()
    report = ran.project.monitor(window="1d")
    assert isinstance(report, MonitorReport) and len(report.window) == 1000 and "age" in report.drift.drifted
    assert len(ran.project.monitor(last=10).window) == 10
    html = report._repr_html_()
    assert "Drift of income v1" in html and "1000 predictions" in html and "<svg" not in html


def test_what_a_run_returns_renders_in_jupyter(ran: Ran) -> None:
    html = ran.first._repr_html_()
    assert "succeeded" in html and "income v1" in html and "KPI gate" in html and "roc_auc" in html
    assert isinstance(ran.first.verdict, GateVerdict) and "roc_auc" in ran.first.verdict._repr_html_()
    version = ran.project.version()
    assert isinstance(version, ModelVersion) and "Lineage" in version._repr_html_()
    record = ran.project.get_run(ran.first.run_id)
    shown = record._repr_html_()
    assert "KPI gate" in shown and "register" in shown and "Stages" in shown
    listed = ran.project.runs()[1]._repr_html_()
    assert "Not read with this run" in listed and "<h2>KPI gate</h2>" not in listed
    assert ran.first.run_id in ran.project.runs()._repr_html_()
    assert "rejected" in ran.project.versions()._repr_html_()
    rejected = ran.project.compare()._repr_html_()
    assert "<b>FAIL</b>" in rejected and "2 versions compared" in rejected
