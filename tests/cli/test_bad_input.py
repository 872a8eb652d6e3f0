"""Bad input through the real CLI: exit 2, one located error, no traceback, nothing written.

Each case starts from the small income project and breaks one thing. ``aiforge validate`` and
``aiforge run`` must refuse it the same way, before the workspace is created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import AiforgeRunner, write_income_project

ROWS = 200


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _csv(project: Path) -> Path:
    return project.parent / "data" / "adult.csv"


# Each case builds a broken project in a folder and returns (project path to pass, error code,
# regex for the message, text that `where` must contain). Project files get the line as well.
Case = Callable[[Path], tuple[Path, str, str, str]]


def malformed_yaml(folder: Path) -> tuple[Path, str, str, str]:
    project = write_income_project(folder, rows=ROWS)
    _edit(project, "  search: {cv: 3}\n", "  search: {cv: 3\n")
    return project, "spec", r"project file is not valid YAML", f"{project}:"


def unknown_key(folder: Path) -> tuple[Path, str, str, str]:
    project = write_income_project(folder, rows=ROWS)
    _edit(project, "  search: {cv: 3}\n", "  serch: {cv: 3}\n")
    return project, "spec", r"unknown key 'serch'", f"{project}:14 (model.serch)"


def unknown_learner(folder: Path) -> tuple[Path, str, str, str]:
    project = write_income_project(folder, rows=ROWS, learners="[linear, lightgmb]")
    return project, "spec", r"unknown learner 'lightgmb'", f"{project}:13 (model.learners[1])"


def kpi_metric_not_for_task(folder: Path) -> tuple[Path, str, str, str]:
    project = write_income_project(folder, rows=ROWS, kpis="  - {metric: rmse, max: 0.5}")
    return project, "spec", r"metric 'rmse' does not apply to a binary task", f"{project}:7 (kpis[0].metric)"


def missing_project_file(folder: Path) -> tuple[Path, str, str, str]:
    write_income_project(folder, rows=ROWS)
    missing = folder / "aiforge-typo.yaml"
    return missing, "spec", r"project file not found", str(missing)


def target_not_in_data(folder: Path) -> tuple[Path, str, str, str]:
    project = write_income_project(folder, rows=ROWS)
    _edit(project, "  target: income\n", "  target: incme\n")
    return project, "data", r"target column 'incme' is not in the data", f"{project}:4 (problem.target)"


def empty_csv(folder: Path) -> tuple[Path, str, str, str]:
    project = write_income_project(folder, rows=ROWS)
    _csv(project).write_bytes(b"")
    return project, "data", r"CSV file for source 'census' is empty", str(_csv(project))


def header_only_csv(folder: Path) -> tuple[Path, str, str, str]:
    project = write_income_project(folder, rows=ROWS)
    header = _csv(project).read_text(encoding="utf-8").splitlines()[0]
    _csv(project).write_text(header + "\n", encoding="utf-8")
    return project, "data", r"CSV file for source 'census' has a header but no data rows", str(_csv(project))


def latin1_csv(folder: Path) -> tuple[Path, str, str, str]:
    project = write_income_project(folder, rows=ROWS)
    csv = _csv(project)
    lines = csv.read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(b"Private", b"caf\xe9", 1)
    assert b"caf\xe9" in lines[5]
    csv.write_bytes(b"".join(lines))
    return project, "data", r"CSV file for source 'census' is not valid UTF-8", f"{csv}:6"


def missing_data_file(folder: Path) -> tuple[Path, str, str, str]:
    project = write_income_project(folder, rows=ROWS)
    _csv(project).unlink()
    return project, "data", r"data file for source 'census' not found", str(_csv(project))


CASES: list[Case] = [
    malformed_yaml,
    unknown_key,
    unknown_learner,
    kpi_metric_not_for_task,
    missing_project_file,
    target_not_in_data,
    empty_csv,
    header_only_csv,
    latin1_csv,
    missing_data_file,
]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_exits_2_with_one_located_error(
    aiforge: AiforgeRunner, tmp_path: Path, command: str, case: Case
) -> None:
    project, code, message, where = case(tmp_path / "project")
    workspace: Path = aiforge.workspace  # type: ignore[attr-defined]

    proc = aiforge(command, str(project))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error[{code}]: "), proc.stderr
    assert proc.stderr.count("error[") == 1, proc.stderr
    first_line = proc.stderr.splitlines()[0]
    assert re.search(message, first_line), first_line
    assert f"where:    {where}" in proc.stderr, proc.stderr
    assert proc.stdout == ""
    assert not workspace.exists(), f"'{command}' wrote {sorted(p.name for p in workspace.iterdir())}"
    assert not (tmp_path / ".aiforge").exists()

    proc = aiforge(command, "--json", str(project))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    body = json.loads(proc.stdout)
    assert isinstance(body, dict)
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    first = body["error"]["problems"][0]
    assert re.search(message, first["message"]), first
    assert first["where"].startswith(where), first
    assert not workspace.exists()


def test_the_unbroken_project_is_valid(aiforge: AiforgeRunner, tmp_path: Path) -> None:
    """The cases above fail because of what they break, not because the base project is broken."""
    project = write_income_project(tmp_path / "project", rows=ROWS)
    proc = aiforge("validate", "--json", str(project))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["valid"] is True
    assert not aiforge.workspace.exists()  # type: ignore[attr-defined]


def test_every_problem_reaches_the_terminal(aiforge: AiforgeRunner, tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "project", rows=ROWS, learners="[linear, lightgmb]",
                                   kpis="  - {metric: rmse, max: 0.5}")
    proc = aiforge("validate", str(project))
    assert proc.returncode == 2
    assert "1 more problem(s):" in proc.stderr
    assert "unknown learner 'lightgmb'" in proc.stderr
    assert "metric 'rmse' does not apply to a binary task" in proc.stderr

    proc = aiforge("run", "--json", str(project))
    assert proc.returncode == 2
    messages = [p["message"] for p in json.loads(proc.stdout)["error"]["problems"]]
    assert sorted(messages) == ["metric 'rmse' does not apply to a binary task", "unknown learner 'lightgmb'"]
    assert not aiforge.workspace.exists()  # type: ignore[attr-defined]
