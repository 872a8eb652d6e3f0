"""Reading run records back: lists for 'aiforge runs', one run with its stages for 'aiforge show'."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from aiforge.errors import AiforgeError
from aiforge.pipeline._runner import mark_interrupted_runs
from aiforge.workspace import RunRow, StageRow, Workspace

__all__ = ["RunNotFound", "RunRecord", "StageRecord", "count_runs", "get_run", "list_runs", "report_file", "run_trials"]


class RunNotFound(AiforgeError):
    code = "run"
    http_status = 404


@dataclass(frozen=True)
class StageRecord:
    name: str
    status: str
    input_hash: str | None
    started_at: datetime | None
    ended_at: datetime | None
    outputs: dict[str, Any]
    error: str | None

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "status": self.status, "input_hash": self.input_hash,
            "started_at": _iso(self.started_at), "ended_at": _iso(self.ended_at), "seconds": self.seconds,
            "outputs": {k: v for k, v in self.outputs.items() if not k.startswith("_")}, "error": self.error,
        }


@dataclass(frozen=True)
class RunRecord:
    id: str
    project: str
    status: str
    spec_path: str
    spec_hash: str
    started_at: datetime
    ended_at: datetime | None
    code_version: str
    error: str | None
    summary: dict[str, Any]
    stages: list[StageRecord]

    @property
    def seconds(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None

    def to_json(self, *, stages: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "project": self.project, "status": self.status, "spec_path": self.spec_path,
            "spec_hash": self.spec_hash, "started_at": _iso(self.started_at), "ended_at": _iso(self.ended_at),
            "seconds": self.seconds, "code_version": self.code_version, "error": self.error,
            "summary": self.summary,
        }
        if stages:
            out["stages"] = [s.to_json() for s in self.stages]
        return out

    def _repr_html_(self) -> str:
        """The run as Jupyter shows it: status, KPI gate, stages, metrics."""
        from aiforge.evaluate import html
        from aiforge.pipeline._html import run_html

        return html.fragment(run_html(self))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _record(row: RunRow, stages: list[StageRow]) -> RunRecord:
    return RunRecord(
        id=row.id, project=row.project, status=row.status, spec_path=row.spec_path, spec_hash=row.spec_hash,
        started_at=row.started_at, ended_at=row.ended_at, code_version=row.code_version, error=row.error,
        summary=row.summary or {},
        stages=[StageRecord(s.name, s.status, s.input_hash, s.started_at, s.ended_at, s.outputs or {}, s.error)
                for s in stages],
    )


def list_runs(workspace: Workspace, *, limit: int = 50, project: str | None = None, offset: int = 0) -> list[RunRecord]:
    """Newest first, without stages; ``offset`` runs skipped (a page of a long list)."""
    mark_interrupted_runs(workspace)
    with workspace.session() as s:
        # the page's ids first, ordered on two small columns; then only their rows (summaries are large JSON:
        # sorting whole rows made page 1 of 10,000 runs cost ~130 ms, this ~15 ms)
        ids = select(RunRow.id).order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(limit).offset(offset)
        if project:
            ids = ids.where(RunRow.project == project)
        page = list(s.scalars(ids))
        rows = {r.id: r for r in s.scalars(select(RunRow).where(RunRow.id.in_(page)))}
        return [_record(rows[i], []) for i in page if i in rows]


def count_runs(workspace: Workspace, *, project: str | None = None) -> int:
    """How many runs are recorded (of ``project``, when given)."""
    with workspace.session() as s:
        query = select(func.count()).select_from(RunRow)
        if project:
            query = query.where(RunRow.project == project)
        return int(s.scalar(query) or 0)


def get_run(workspace: Workspace, run_id: str) -> RunRecord:
    """A run by id or unique id prefix, with its stages in order."""
    mark_interrupted_runs(workspace)
    with workspace.session() as s:
        matches = s.scalars(select(RunRow).where(RunRow.id.startswith(run_id, autoescape=True)).limit(5)).all()
        if len(matches) != 1:
            raise RunNotFound(
                f"no run '{run_id}'" if not matches else f"run id prefix '{run_id}' is ambiguous",
                found=", ".join(m.id for m in matches) or None,
                hint="list runs with 'aiforge runs'",
            )
        row = matches[0]
        stages = s.scalars(select(StageRow).where(StageRow.run_id == row.id).order_by(StageRow.position)).all()
        return _record(row, list(stages))


def run_trials(record: RunRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The search settings and every trial of a run's train stage (cached stages carry them too)."""
    train = next((s for s in record.stages if s.name == "train" and "selection" in s.outputs), None)
    if train is None:
        raise RunNotFound(
            f"run {record.id} has no trials", found=f"status {record.status}",
            hint="trials are recorded when the train stage finishes",
        )
    selection = dict(train.outputs["selection"])
    trials = selection.pop("trials", [])
    return selection, trials


def report_file(workspace: Workspace, record: RunRecord) -> Path:
    """The run's HTML report in the workspace's reports folder, written again from its verified artifact when
    the file is not there (removed, or never kept: an encrypted workspace keeps no plaintext copy)."""
    digest = record.summary.get("report_artifact")
    if not digest:
        raise RunNotFound(f"run {record.id} has no report (status {record.status})",
                          hint="reports are written at the end of a run; rerun the project")
    path = workspace.reports_dir / f"{record.id}.html"
    if not path.exists():
        path.write_bytes(workspace.artifacts.get_bytes(digest))
    return path
