"""The run recorder: every stage recorded, timed, cached by the hash of its inputs, resumable.

A stage is a function returning JSON-able outputs. Outputs list the artifacts they rely on
under ``"_artifacts"``; a cache entry is reused only while those artifacts are still in the
store. The recorder adds ``"_cost"`` (wall seconds, process CPU seconds of all threads, resident
bytes at the end) to what a stage computed, so a cached stage still carries what it cost to make.
A run killed outright (SIGKILL) is found on the next start and marked interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from aiforge.errors import AiforgeError
from aiforge.spec import ProjectFile
from aiforge.workspace import RunRow, StageCacheRow, StageRow, Workspace, serialize

__all__ = ["Progress", "RunRecorder", "RunStatus", "SilentProgress", "StageStatus", "input_hash"]

Outputs = dict[str, Any]
Step = Callable[[str], None]


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # the model passed its gate and was registered as a candidate
    REJECTED = "rejected"  # the model failed a KPI gate and was registered as rejected
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class StageStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CACHED = "cached"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Progress(Protocol):
    """What a face (CLI, server) shows while a run goes on.

    ``stage_step`` gets a line of text per event (for logs); ``stage_trial`` gets each finished search
    trial as a JSON-able dict, for a live leaderboard: the ``TrialRecord`` fields (number, learner, params,
    status complete|pruned|failed, fold_scores, score, seconds, rounds, error) plus objective,
    higher_is_better, elapsed (seconds since the stage started), budget_seconds and budget_trials (None
    where unset). Both may be called from several threads at once.
    """

    def stage_started(self, name: str) -> None: ...
    def stage_step(self, name: str, message: str) -> None: ...
    def stage_trial(self, name: str, trial: dict[str, Any]) -> None: ...
    def stage_finished(self, name: str, status: StageStatus, seconds: float, note: str) -> None: ...


class SilentProgress:
    def stage_started(self, name: str) -> None:
        pass

    def stage_step(self, name: str, message: str) -> None:
        pass

    def stage_trial(self, name: str, trial: dict[str, Any]) -> None:
        pass

    def stage_finished(self, name: str, status: StageStatus, seconds: float, note: str) -> None:
        pass


def input_hash(material: Any) -> str:
    """SHA-256 of a JSON-able value, independent of key order."""
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    return f"{_now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class RunRecorder:
    """Records one run and its stages in the workspace."""

    def __init__(self, workspace: Workspace, run_id: str, *, force: bool, progress: Progress) -> None:
        self.workspace = workspace
        self.run_id = run_id
        self.force = force
        self.progress = progress
        self._position = 0

    @classmethod
    def start(
        cls, workspace: Workspace, project: ProjectFile, *, code_version: str, force: bool = False,
        progress: Progress | None = None,
    ) -> RunRecorder:
        mark_interrupted_runs(workspace)
        for attempt in range(5):
            run_id = new_run_id()
            try:
                with workspace.session() as s:
                    s.add(RunRow(
                        id=run_id, project=project.spec.name, status=RunStatus.RUNNING.value,
                        spec_path=str(project.path.absolute()), spec_hash=project.sha256,
                        spec=project.spec.model_dump(mode="json"), started_at=_now(), host=socket.gethostname(),
                        pid=os.getpid(), code_version=code_version, summary={},
                    ))
                break
            except IntegrityError:  # another process started a run in the same second with the same suffix
                if attempt == 4:
                    raise
        return cls(workspace, run_id, force=force, progress=progress or SilentProgress())

    def stage(
        self, name: str, key: Any, compute: Callable[[Step], Outputs], *, cacheable: bool = True,
        note: Callable[[Outputs], str] = lambda _o: "",
    ) -> Outputs:
        """Run (or reuse) one stage; its outputs are returned and recorded."""
        digest = input_hash({"stage": name, "key": key})
        self._position += 1
        with self.workspace.session() as s:
            row = StageRow(run_id=self.run_id, position=self._position, name=name,
                           status=StageStatus.RUNNING.value, input_hash=digest, started_at=_now(), outputs={})
            s.add(row)
            s.flush()
            stage_id = row.id
        self.progress.stage_started(name)
        started = time.perf_counter()
        cached = self._cached(digest) if cacheable and not self.force else None
        if cached is not None:
            outputs, status = cached, StageStatus.CACHED
        else:
            cpu_started = time.process_time()
            try:
                outputs = compute(lambda message: self.progress.stage_step(name, message))
            except BaseException as exc:
                status = StageStatus.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else StageStatus.FAILED
                error = exc.render() if isinstance(exc, AiforgeError) else f"{type(exc).__name__}: {exc}"
                self._finish_stage(stage_id, status, {}, error)
                self.progress.stage_finished(name, status, time.perf_counter() - started, error.splitlines()[0])
                raise
            status = StageStatus.SUCCEEDED
            outputs = {**outputs, "_cost": {"seconds": round(time.perf_counter() - started, 4),
                                            "cpu_seconds": round(time.process_time() - cpu_started, 4),
                                            "rss_bytes": resident_bytes()}}
            if cacheable:
                with self.workspace.session() as s:
                    serialize(s, "stage_cache", digest)  # two runs of one project finish a stage at once
                    s.merge(StageCacheRow(key=digest, stage=name, outputs=outputs, run_id=self.run_id,
                                          created_at=_now()))
        self._finish_stage(stage_id, status, outputs, None)
        self.progress.stage_finished(name, status, time.perf_counter() - started, note(outputs))
        return outputs

    def finish(self, status: RunStatus, *, summary: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self.workspace.session() as s:
            row = s.get(RunRow, self.run_id)
            assert row is not None
            row.status = status.value
            row.ended_at = _now()
            row.error = error
            if summary is not None:
                row.summary = summary

    def _cached(self, digest: str) -> Outputs | None:
        with self.workspace.session() as s:
            hit = s.get(StageCacheRow, digest)
            outputs = dict(hit.outputs) if hit else None
        if outputs is None:
            return None
        if not all(self.workspace.artifacts.exists(a) for a in outputs.get("_artifacts", [])):
            return None
        return outputs

    def _finish_stage(self, stage_id: int, status: StageStatus, outputs: Outputs, error: str | None) -> None:
        with self.workspace.session() as s:
            row = s.get(StageRow, stage_id)
            assert row is not None
            row.status = status.value
            row.ended_at = _now()
            row.outputs = outputs
            row.error = error


def resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def mark_interrupted_runs(workspace: Workspace) -> int:
    """Mark runs of dead processes on this host as interrupted (a SIGKILL leaves them 'running')."""
    host = socket.gethostname()
    with workspace.session() as s:
        stale = [
            r.id for r in s.scalars(select(RunRow).where(RunRow.status == RunStatus.RUNNING.value))
            if r.host == host and not _alive(r.pid)
        ]
        if stale:
            s.execute(update(RunRow).where(RunRow.id.in_(stale)).values(
                status=RunStatus.INTERRUPTED.value, ended_at=_now(),
                error="the process running this run stopped without finishing it (killed or crashed)",
            ))
            s.execute(update(StageRow).where(
                StageRow.run_id.in_(stale), StageRow.status == StageStatus.RUNNING.value,
            ).values(status=StageStatus.INTERRUPTED.value, ended_at=_now()))
    return len(stale)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) counts as dead
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True
