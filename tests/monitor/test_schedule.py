"""Schedules: cron fire times and when one is due, the project file edited from the CLI (comments kept, bad
input refused with the file unchanged), crontab lines, and a due schedule run by `aiforge monitor watch`."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import EXE, FAST_CHECKS, serve_env, write_income_project

from aiforge.errors import SpecError
from aiforge.monitor import due_fire_time, fire_times, run_due_schedules
from aiforge.spec import load_project_file, parse_project_text
from aiforge.workspace import WorkspaceSettings

NIGHT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def test_a_schedule_is_due_once_per_fire_time_and_catches_up_once() -> None:
    ten = timedelta(minutes=10)
    assert due_fire_time("0 3 * * *", NIGHT + timedelta(minutes=5), None, ten) == NIGHT
    assert due_fire_time("0 3 * * *", NIGHT, None, ten) == NIGHT  # at the fire time itself
    assert due_fire_time("0 3 * * *", NIGHT + timedelta(minutes=11), None, ten) is None  # a new watch: no replay
    assert due_fire_time("0 3 * * *", NIGHT + timedelta(minutes=5), NIGHT, ten) is None  # ran for it already
    # missed three nights: one run, for the latest fire time
    assert due_fire_time("0 3 * * *", NIGHT + timedelta(hours=2), NIGHT - timedelta(days=3), ten) == NIGHT
    assert fire_times("*/30 * * * 1-5", NIGHT, 2) == [NIGHT + timedelta(minutes=30), NIGHT + timedelta(minutes=60)]
    assert fire_times("0 6 * * 1", NIGHT)[0] == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # a Friday -> Monday


@pytest.mark.parametrize(("schedules", "message", "line"), [
    ('  - {name: nightly, cron: "0 25 * * *"}\n', "not a valid cron expression", 2),
    ('  - {name: nightly, cron: "0 3 * *"}\n', "has 5 fields", 2),
    ('  - {name: a, cron: "0 3 * * *"}\n  - {name: a, cron: "0 4 * * *"}\n', "names must be unique", 1),
    ('  - {name: a, cron: "0 3 * * *", action: deploy}\n', "run", 2),
])
def test_bad_schedules_in_the_project_file_are_located(tmp_path: Path, schedules: str, message: str,
                                                        line: int) -> None:
    text = "name: x\nproblem: {target: y}\ndata: {sources: [{name: s, type: csv, path: d.csv}]}\nschedules:\n"
    with pytest.raises(SpecError, match=message) as caught:
        parse_project_text(text + schedules, tmp_path / "aiforge.yaml")
    assert f"aiforge.yaml:{3 + line}" in (caught.value.where or "")


def test_crontab_lines_carry_the_artifact_store(tmp_path: Path) -> None:
    from aiforge.monitor import crontab_lines

    text = ("name: x\nproblem: {target: y}\ndata: {sources: [{name: s, type: csv, path: d.csv}]}\nschedules:\n"
            '  - {name: nightly, cron: "0 3 * * *"}\n')
    project = parse_project_text(text, tmp_path / "aiforge.yaml")
    settings = WorkspaceSettings(root=tmp_path / "ws", artifacts_url="s3://team bucket/aiforge",
                                 s3_endpoint_url="http://minio:9000")

    (line,) = [x for x in crontab_lines(project, settings, "aiforge") if x.startswith("0 3")]

    assert " AIFORGE_ARTIFACTS_URL='s3://team bucket/aiforge' AIFORGE_S3_ENDPOINT_URL=http://minio:9000 " in line
    assert "AIFORGE_ARTIFACTS_URL" not in "".join(crontab_lines(project, WorkspaceSettings(root=tmp_path), "aiforge"))


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_schedules_are_edited_from_the_cli_and_printed_for_cron(tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "income", rows=300, learners="[linear]", checks=FAST_CHECKS,
                                   extra="# the team's note, kept\n")
    env = serve_env(tmp_path / "ws")
    added = _cli(env, tmp_path, "schedule", "add", "nightly", "--cron", "0  3 * * *", "--project", str(project))
    assert added.returncode == 0, added.stderr
    assert _cli(env, tmp_path, "schedule", "add", "weekly", "--cron", "0 6 * * 1", "--action", "ci", "--project",
                str(project)).returncode == 0
    before = project.read_text()
    assert "# the team's note, kept\n" in before and 'cron: "0 3 * * *"' in before
    for args, message in ((["nightly", "--cron", "0 4 * * *"], "exists already"),
                          (["later", "--cron", "0 3 * *"], "has 5 fields")):
        refused = _cli(env, tmp_path, "schedule", "add", *args, "--project", str(project))
        assert refused.returncode == 2 and message in refused.stderr
    assert project.read_text() == before
    listed = json.loads(_cli(env, tmp_path, "schedule", "list", str(project), "--json").stdout)
    assert [(s["name"], s["action"], s["last_run"]) for s in listed] == [("nightly", "run", None),
                                                                          ("weekly", "ci", None)]
    assert listed[0]["next_run"].endswith("T03:00:00+00:00")
    crontab = _cli(env, tmp_path, "schedule", "crontab", str(project)).stdout.splitlines()
    assert crontab[1] == "CRON_TZ=UTC"
    assert crontab[2].startswith("0 3 * * * cd ") and f" run {project}" in crontab[2]
    assert f"AIFORGE_WORKSPACE={tmp_path / 'ws'}" in crontab[2] and crontab[3].startswith("0 6 * * 1 ")
    assert " ci " in crontab[3]
    assert _cli(env, tmp_path, "schedule", "remove", "weekly", "--project", str(project)).returncode == 0
    assert [s.name for s in load_project_file(project).spec.schedules] == ["nightly"]
    assert "# the team's note, kept\n" in project.read_text()


def test_monitor_watch_runs_a_due_schedule_once(tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "income", rows=300, learners="[linear]", checks=FAST_CHECKS,
                                   extra='schedules:\n  - {name: often, cron: "* * * * *"}\n',
                                   kpis="  - {metric: roc_auc, min: 0.5}")
    env = serve_env(tmp_path / "ws")
    proc = _cli(env, tmp_path, "monitor", "watch", str(project), "--once", "--json")
    decoder, text, docs = json.JSONDecoder(), proc.stdout.strip(), []
    while text:
        doc, end = decoder.raw_decode(text)
        docs.append(doc)
        text = text[end:].strip()
    assert proc.returncode == 0, proc.stderr
    scheduled = docs[0]
    assert scheduled["action"] == "scheduled" and scheduled["details"]["schedule"] == "often"
    assert scheduled["details"]["status"] == "passed" and scheduled["candidate"] == 1 and scheduled["run_id"]
    assert docs[1]["action"] == "idle"  # then the watch cycle itself: v1 has no predictions yet
    models = json.loads(_cli(env, tmp_path, "models", "--json").stdout)
    assert [(m["version"], m["run_id"]) for m in models] == [(1, scheduled["run_id"])]
    fired = datetime.fromisoformat(scheduled["details"]["fire_time"])
    settings = WorkspaceSettings(root=tmp_path / "ws")
    again = run_due_schedules(load_project_file(project), settings, now=fired + timedelta(seconds=30))
    assert again == []  # already ran for that fire time
