"""The run recorder: stages recorded and cached by input hash, failures kept, dead runs found; run lookup."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aiforge.errors import DataError
from aiforge.pipeline import RunNotFound, RunStatus, StageStatus, count_runs, get_run, list_runs
from aiforge.pipeline._runner import RunRecorder, input_hash, mark_interrupted_runs
from aiforge.spec import ProjectFile, parse_project_text
from aiforge.workspace import RunRow, StageRow, Workspace, WorkspaceSettings

PROJECT = """name: demo
problem: {target: y}
data:
  sources: [{name: main, type: csv, path: data.csv}]
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / ".aiforge"))
    yield ws
    ws.close()


@pytest.fixture
def project(tmp_path: Path) -> ProjectFile:
    return parse_project_text(PROJECT, tmp_path / "aiforge.yaml")


class Counting:
    """A stage function that counts its calls and returns fixed outputs."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self.outputs = outputs
        self.calls = 0

    def __call__(self, step: Callable[[str], None]) -> dict[str, Any]:
        self.calls += 1
        step("working")
        return self.outputs


class Recording:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def stage_started(self, name: str) -> None:
        self.events.append(("started", name))

    def stage_step(self, name: str, message: str) -> None:
        self.events.append(("step", name, message))

    def stage_trial(self, name: str, trial: dict[str, Any]) -> None:
        self.events.append(("trial", name, str(trial["number"])))

    def stage_finished(self, name: str, status: StageStatus, seconds: float, note: str) -> None:
        self.events.append(("finished", name, status.value, note))


def _start(ws: Workspace, project: ProjectFile, **kw: Any) -> RunRecorder:
    return RunRecorder.start(ws, project, code_version="0.1.0+test", **kw)


def _add_run(ws: Workspace, run_id: str, *, pid: int, host: str | None = None, status: str = "running",
             project: str = "demo", started: datetime | None = None) -> None:
    with ws.session() as s:
        s.add(RunRow(id=run_id, project=project, status=status, spec_path="/p/aiforge.yaml", spec_hash="0" * 64,
                     spec={}, started_at=started or datetime.now(UTC), host=host or socket.gethostname(),
                     pid=pid, code_version="t", summary={}))
        s.add(StageRow(run_id=run_id, position=1, name="snapshot", status="succeeded", input_hash="1" * 64,
                       started_at=datetime.now(UTC), ended_at=datetime.now(UTC), outputs={}))
        s.add(StageRow(run_id=run_id, position=2, name="train", status="running", input_hash="2" * 64,
                       started_at=datetime.now(UTC), outputs={}))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_start_records_a_running_run(workspace: Workspace, project: ProjectFile) -> None:
    rec = _start(workspace, project)

    run = get_run(workspace, rec.run_id)
    assert run.status == RunStatus.RUNNING.value
    assert run.project == "demo"
    assert run.spec_hash == project.sha256
    assert run.spec_path == str(project.path.absolute())
    assert run.code_version == "0.1.0+test"
    assert run.ended_at is None and run.stages == []


def _own(outputs: dict[str, Any]) -> dict[str, Any]:
    """A stage's outputs without the cost the recorder adds to them."""
    return {k: v for k, v in outputs.items() if k != "_cost"}


def test_a_computed_stage_is_recorded_with_its_outputs_and_input_hash(
    workspace: Workspace, project: ProjectFile
) -> None:
    progress = Recording()
    rec = _start(workspace, project, progress=progress)
    compute = Counting({"rows": 10, "_artifacts": []})

    out = rec.stage("snapshot", {"source": "abc"}, compute, note=lambda o: f"{o['rows']} rows")
    rec.finish(RunStatus.SUCCEEDED, summary={"model": "v1"})

    cost = out.pop("_cost")
    assert out == {"rows": 10, "_artifacts": []}
    assert set(cost) == {"seconds", "cpu_seconds", "rss_bytes"} and cost["cpu_seconds"] >= 0 < cost["rss_bytes"]
    assert compute.calls == 1
    run = get_run(workspace, rec.run_id)
    assert run.status == "succeeded" and run.summary == {"model": "v1"} and run.ended_at is not None
    [stage] = run.stages
    assert stage.name == "snapshot"
    assert stage.status == StageStatus.SUCCEEDED.value
    assert stage.outputs == {"rows": 10, "_artifacts": [], "_cost": cost}
    assert stage.input_hash == input_hash({"stage": "snapshot", "key": {"source": "abc"}})
    assert stage.error is None and stage.seconds is not None and stage.seconds >= 0
    assert stage.to_json()["outputs"] == {"rows": 10}  # private keys stay private
    assert progress.events == [
        ("started", "snapshot"), ("step", "snapshot", "working"), ("finished", "snapshot", "succeeded", "10 rows"),
    ]


def test_input_hash_ignores_key_order() -> None:
    assert input_hash({"a": 1, "b": [1, 2]}) == input_hash({"b": [1, 2], "a": 1})
    assert input_hash({"a": 1}) != input_hash({"a": 2})


def test_stages_are_recorded_in_order(workspace: Workspace, project: ProjectFile) -> None:
    rec = _start(workspace, project)
    for name in ("snapshot", "split", "train"):
        rec.stage(name, name, Counting({"name": name}))

    assert [s.name for s in get_run(workspace, rec.run_id).stages] == ["snapshot", "split", "train"]


def test_the_same_key_in_a_later_run_is_reused(workspace: Workspace, project: ProjectFile) -> None:
    artifact = workspace.artifacts.put_bytes(b"snapshot bytes")
    first = _start(workspace, project)
    first.stage("snapshot", {"v": 1}, Counting({"id": artifact, "_artifacts": [artifact]}))
    first.finish(RunStatus.SUCCEEDED)

    second = _start(workspace, project)
    compute = Counting({"id": "should not be used"})
    out = second.stage("snapshot", {"v": 1}, compute)

    assert compute.calls == 0
    assert _own(out) == {"id": artifact, "_artifacts": [artifact]}
    [stage] = get_run(workspace, second.run_id).stages
    assert stage.status == StageStatus.CACHED.value
    assert stage.outputs == out


def test_a_different_key_or_stage_name_is_not_reused(workspace: Workspace, project: ProjectFile) -> None:
    first = _start(workspace, project)
    first.stage("snapshot", {"v": 1}, Counting({"n": 1}))

    second = _start(workspace, project)
    other_key, other_name = Counting({"n": 2}), Counting({"n": 3})
    second.stage("snapshot", {"v": 2}, other_key)
    second.stage("split", {"v": 1}, other_name)

    assert (other_key.calls, other_name.calls) == (1, 1)


def test_force_recomputes_a_cached_stage(workspace: Workspace, project: ProjectFile) -> None:
    _start(workspace, project).stage("train", "k", Counting({"score": 1}))

    forced = _start(workspace, project, force=True)
    compute = Counting({"score": 2})
    out = forced.stage("train", "k", compute)

    assert compute.calls == 1 and _own(out) == {"score": 2}
    assert get_run(workspace, forced.run_id).stages[0].status == StageStatus.SUCCEEDED.value
    # the fresh outputs replaced the cache entry
    later = Counting({"score": 3})
    assert _own(_start(workspace, project).stage("train", "k", later)) == {"score": 2}
    assert later.calls == 0


def test_a_stage_that_is_not_cacheable_always_runs(workspace: Workspace, project: ProjectFile) -> None:
    compute = Counting({"x": 1})
    _start(workspace, project).stage("register", "k", compute, cacheable=False)
    _start(workspace, project).stage("register", "k", compute, cacheable=False)

    assert compute.calls == 2


def test_a_cache_entry_whose_artifact_is_gone_is_recomputed(workspace: Workspace, project: ProjectFile) -> None:
    kept = workspace.artifacts.put_bytes(b"kept")
    lost = workspace.artifacts.put_bytes(b"lost")
    _start(workspace, project).stage("split", "k", Counting({"_artifacts": [kept, lost]}))
    workspace.artifacts.path(lost).unlink()

    rec = _start(workspace, project)
    compute = Counting({"_artifacts": [kept], "again": True})
    out = rec.stage("split", "k", compute)

    assert compute.calls == 1
    assert _own(out) == {"_artifacts": [kept], "again": True}
    assert get_run(workspace, rec.run_id).stages[0].status == StageStatus.SUCCEEDED.value


def test_a_stage_that_raises_is_recorded_failed_and_the_error_propagates(
    workspace: Workspace, project: ProjectFile
) -> None:
    progress = Recording()
    rec = _start(workspace, project, progress=progress)

    def boom(_step: Callable[[str], None]) -> dict[str, Any]:
        raise ValueError("the data went away")

    with pytest.raises(ValueError, match="the data went away"):
        rec.stage("train", "k", boom)

    [stage] = get_run(workspace, rec.run_id).stages
    assert stage.status == StageStatus.FAILED.value
    assert stage.error == "ValueError: the data went away"
    assert stage.outputs == {} and stage.ended_at is not None
    assert progress.events[-1] == ("finished", "train", "failed", "ValueError: the data went away")
    # nothing was cached: the next run computes
    compute = Counting({"ok": True})
    _start(workspace, project).stage("train", "k", compute)
    assert compute.calls == 1


def test_an_aiforge_error_is_recorded_as_rendered(workspace: Workspace, project: ProjectFile) -> None:
    rec = _start(workspace, project)
    error = DataError("target column 'y' has no values", where="aiforge.yaml:2", hint="check the export")

    def fail(_step: Callable[[str], None]) -> dict[str, Any]:
        raise error

    with pytest.raises(DataError):
        rec.stage("task", "k", fail)

    assert get_run(workspace, rec.run_id).stages[0].error == error.render()


def test_a_keyboard_interrupt_marks_the_stage_interrupted(workspace: Workspace, project: ProjectFile) -> None:
    rec = _start(workspace, project)

    def stop(_step: Callable[[str], None]) -> dict[str, Any]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rec.stage("train", "k", stop)

    assert get_run(workspace, rec.run_id).stages[0].status == StageStatus.INTERRUPTED.value


def test_a_run_whose_process_died_is_marked_interrupted(workspace: Workspace) -> None:
    _add_run(workspace, "dead-run", pid=_dead_pid())

    assert mark_interrupted_runs(workspace) == 1

    run = get_run(workspace, "dead-run")
    assert run.status == RunStatus.INTERRUPTED.value
    assert run.ended_at is not None
    assert "stopped without finishing" in (run.error or "")
    assert [(s.name, s.status) for s in run.stages] == [("snapshot", "succeeded"), ("train", "interrupted")]
    assert run.stages[1].ended_at is not None
    assert mark_interrupted_runs(workspace) == 0  # idempotent


def test_a_run_whose_process_lives_is_left_alone(workspace: Workspace) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _add_run(workspace, "live-run", pid=live.pid)
        _add_run(workspace, "own-run", pid=os.getpid())
        _add_run(workspace, "dead-run", pid=_dead_pid())

        assert mark_interrupted_runs(workspace) == 1

        assert get_run(workspace, "live-run").status == "running"
        assert get_run(workspace, "live-run").stages[1].status == "running"
        assert get_run(workspace, "own-run").status == "running"
        assert get_run(workspace, "dead-run").status == "interrupted"
    finally:
        live.kill()
        live.wait()


def test_runs_of_other_hosts_and_finished_runs_are_left_alone(workspace: Workspace) -> None:
    pid = _dead_pid()
    _add_run(workspace, "elsewhere", pid=pid, host="another-machine.example")
    _add_run(workspace, "finished", pid=pid, status="succeeded")

    assert mark_interrupted_runs(workspace) == 0

    assert get_run(workspace, "elsewhere").status == "running"
    assert get_run(workspace, "finished").status == "succeeded"
    assert get_run(workspace, "finished").stages[1].status == "running"


def test_starting_a_run_marks_earlier_dead_runs(workspace: Workspace, project: ProjectFile) -> None:
    _add_run(workspace, "dead-run", pid=_dead_pid())

    _start(workspace, project)

    with workspace.session() as s:
        assert s.get(RunRow, "dead-run").status == "interrupted"  # type: ignore[union-attr]


def test_list_runs_is_newest_first_and_filters_by_project(workspace: Workspace) -> None:
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    for i, proj in enumerate(["demo", "other", "demo"]):
        _add_run(workspace, f"run-{i}", pid=os.getpid(), status="succeeded", project=proj,
                 started=t0 + timedelta(minutes=i))

    assert [r.id for r in list_runs(workspace)] == ["run-2", "run-1", "run-0"]
    assert [r.id for r in list_runs(workspace, limit=2)] == ["run-2", "run-1"]
    assert [r.id for r in list_runs(workspace, project="demo")] == ["run-2", "run-0"]
    assert list_runs(workspace, project="nope") == []
    assert all(r.stages == [] for r in list_runs(workspace))


def test_list_runs_pages_through_every_run_once(workspace: Workspace) -> None:
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    for i in range(7):  # two runs share a start time: the id breaks the tie, so no page repeats or skips one
        _add_run(workspace, f"run-{i}", pid=os.getpid(), status="succeeded", project="demo" if i % 2 else "other",
                 started=t0 + timedelta(minutes=min(i, 5)))

    pages = [[r.id for r in list_runs(workspace, limit=3, offset=o)] for o in (0, 3, 6, 9)]
    assert pages == [["run-6", "run-5", "run-4"], ["run-3", "run-2", "run-1"], ["run-0"], []]
    assert [r.id for r in list_runs(workspace, limit=2, offset=1, project="demo")] == ["run-3", "run-1"]
    assert count_runs(workspace) == 7 and count_runs(workspace, project="demo") == 3
    assert count_runs(workspace, project="nope") == 0


def test_list_runs_marks_dead_runs_first(workspace: Workspace) -> None:
    _add_run(workspace, "dead-run", pid=_dead_pid())

    assert [r.status for r in list_runs(workspace)] == ["interrupted"]


def test_get_run_by_full_id_or_unique_prefix(workspace: Workspace) -> None:
    for run_id in ("20240501-120000-aaaa", "20240501-120000-abcd", "20240601-090000-ffff"):
        _add_run(workspace, run_id, pid=os.getpid(), status="succeeded")

    assert get_run(workspace, "20240501-120000-abcd").id == "20240501-120000-abcd"
    assert get_run(workspace, "202406").id == "20240601-090000-ffff"
    assert get_run(workspace, "20240501-120000-ab").id == "20240501-120000-abcd"
    run = get_run(workspace, "20240601")
    assert [s.name for s in run.stages] == ["snapshot", "train"]
    assert run.to_json()["stages"][0]["name"] == "snapshot"


def test_an_ambiguous_prefix_names_the_matches(workspace: Workspace) -> None:
    for run_id in ("20240501-120000-aaaa", "20240501-120000-abcd"):
        _add_run(workspace, run_id, pid=os.getpid(), status="succeeded")

    with pytest.raises(RunNotFound, match="run id prefix '20240501' is ambiguous") as info:
        get_run(workspace, "20240501")
    assert set((info.value.found or "").split(", ")) == {"20240501-120000-aaaa", "20240501-120000-abcd"}


@pytest.mark.parametrize("run_id", ["nope", "2025", "20240501-120000-aaaaX", "%", "_"])
def test_an_unknown_id_is_run_not_found(workspace: Workspace, run_id: str) -> None:
    _add_run(workspace, "20240501-120000-aaaa", pid=os.getpid(), status="succeeded")

    with pytest.raises(RunNotFound, match=f"no run '{run_id}'") as info:
        get_run(workspace, run_id)
    assert info.value.http_status == 404
    assert info.value.found is None


def test_like_wildcards_in_a_prefix_are_literal(workspace: Workspace) -> None:
    _add_run(workspace, "run_a1", pid=os.getpid(), status="succeeded")
    _add_run(workspace, "runXa2", pid=os.getpid(), status="succeeded")

    assert get_run(workspace, "run_").id == "run_a1"
