"""The project file's ``schedules:`` run by ``aiforge monitor watch``, or printed as crontab lines.

A schedule is due when its cron expression (UTC) has a fire time after the one it last ran for (recorded in the
watch journal as a ``scheduled`` event), and, for a schedule that never ran, within the last ``monitor.every``:
a watch started now does not replay last night's run, and missed fire times are caught up once, not one by one.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiforge.errors import AiforgeError
from aiforge.monitor._watch import WatchEvent, WatchJournal
from aiforge.monitor._window import parse_period
from aiforge.pipeline import Progress, run_ci, run_project
from aiforge.spec import ProjectFile, ScheduleSpec
from aiforge.workspace import Workspace, WorkspaceSettings

__all__ = ["ScheduleState", "crontab_lines", "due_fire_time", "fire_times", "run_due_schedules", "schedule_states"]

SCHEDULED = "scheduled"
JOURNAL_LOOKBACK = 500


def fire_times(cron: str, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` fire times of ``cron`` (UTC) after ``after``."""
    from croniter import croniter

    it = croniter(cron, after.astimezone(UTC))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]


def due_fire_time(cron: str, now: datetime, last: datetime | None, lookback: timedelta) -> datetime | None:
    """The fire time a schedule should run for at ``now``: the latest one at or before ``now``, if it is after
    ``last`` (the fire time it last ran for) or, never run, within ``lookback``; else ``None``."""
    from croniter import croniter

    latest = croniter(cron, now.astimezone(UTC) + timedelta(microseconds=1)).get_prev(datetime).astimezone(UTC)
    floor = last if last is not None else now - lookback
    return latest if latest > floor else None


@dataclass(frozen=True)
class ScheduleState:
    """A schedule with its next fire time and the last time it ran (``None``: never, in this workspace)."""

    schedule: ScheduleSpec
    next_run: datetime
    last_run: WatchEvent | None

    def to_json(self) -> dict[str, Any]:
        return {**self.schedule.model_dump(mode="json"), "next_run": self.next_run.isoformat(),
                "last_run": self.last_run.to_json() if self.last_run else None}


def schedule_states(project: ProjectFile, workspace: Workspace | None, now: datetime | None = None
                    ) -> list[ScheduleState]:
    """Every schedule of the project with its next fire time and last run (from ``workspace``'s journal)."""
    at = now or datetime.now(UTC)
    last = _last_runs(WatchJournal(workspace), project.spec.name) if workspace is not None else {}
    return [ScheduleState(s, fire_times(s.cron, at)[0], last.get(s.name)) for s in project.spec.schedules]


def run_due_schedules(project: ProjectFile, settings: WorkspaceSettings, *, now: datetime | None = None,
                      progress: Progress | None = None) -> list[WatchEvent]:
    """Run every schedule of the project that is due (``run``: the life cycle; ``ci``: aiforge ci), each recorded
    as a ``scheduled`` event whatever its outcome (a failed run is not retried before its next fire time)."""
    if not project.spec.schedules:
        return []
    at = now or datetime.now(UTC)
    name = project.spec.name
    lookback = parse_period(project.spec.monitor.every)
    ws = Workspace.open(settings)
    try:
        journal = WatchJournal(ws)
        last = _last_runs(journal, name)
        events = []
        for schedule in project.spec.schedules:
            previous = last.get(schedule.name)
            fire = due_fire_time(schedule.cron, at, _fire_time(previous), lookback)
            if fire is None:
                continue
            details: dict[str, Any] = {"schedule": schedule.name, "cron": schedule.cron, "action": schedule.action,
                                       "fire_time": fire.isoformat()}
            run_id = candidate = None
            try:
                if schedule.action == "ci":
                    outcome = run_ci(project, settings, progress=progress)
                    run, passed = outcome.run, outcome.passed
                    details["problems"] = outcome.problems
                else:
                    run = run_project(project, settings, progress=progress)
                    passed = run.verdict.passed
                run_id, candidate = run.run_id, run.version.version
                details["status"] = "passed" if passed else "failed"
                failures = "; ".join(details.get("problems") or [run.verdict.summary()])
                reason = (f"{_label(schedule, fire)}: {schedule.action} registered {name} v{candidate} "
                          f"{run.version.status.value}" + ("" if passed else f", failed: {failures}"))
            except AiforgeError as exc:
                details |= {"status": "error", "error": exc.render()}
                reason = f"{_label(schedule, fire)}: {schedule.action} stopped: {exc.message}"
            events.append(journal.record(name, SCHEDULED, reason, run_id=run_id, candidate=candidate,
                                         details=details, now=at))
        return events
    finally:
        ws.close()


def crontab_lines(project: ProjectFile, settings: WorkspaceSettings, executable: str | None = None) -> list[str]:
    """The project's schedules as lines of a crontab: each runs ``aiforge run`` (or ``ci``) on the project file with
    its workspace, appending output to the workspace's ``schedules.log``. The expressions are UTC: ``CRON_TZ=UTC``
    says so to the crons that read it (cronie); set the machine's time zone to UTC for the others."""
    exe = executable or str(Path(sys.executable).with_name("aiforge"))
    path = project.path.absolute()
    log = settings.root.absolute() / "schedules.log"
    env = f"AIFORGE_WORKSPACE={shlex.quote(str(settings.root.absolute()))}"
    if settings.db_url and not settings.db_url.startswith("sqlite"):
        env += " AIFORGE_DB_URL=\"$AIFORGE_DB_URL\""
    if settings.artifacts_url:  # (the bucket's credentials: the AWS profile or role of the cron's user)
        env += f" AIFORGE_ARTIFACTS_URL={shlex.quote(settings.artifacts_url)}"
    if settings.s3_endpoint_url:
        env += f" AIFORGE_S3_ENDPOINT_URL={shlex.quote(settings.s3_endpoint_url)}"
    lines = [f"# aiforge schedules of {project.spec.name} ({path}); cron expressions in UTC", "CRON_TZ=UTC"]
    for s in project.spec.schedules:
        lines.append(f"{s.cron} cd {shlex.quote(str(path.parent))} && {env} {shlex.quote(exe)} {s.action} "
                     f"{shlex.quote(str(path))} >> {shlex.quote(str(log))} 2>&1  # {s.name}")
    return lines


def _label(schedule: ScheduleSpec, fire: datetime) -> str:
    return f"schedule {schedule.name} ({schedule.cron}, due {fire:%Y-%m-%d %H:%M} UTC)"


def _last_runs(journal: WatchJournal, model: str) -> dict[str, WatchEvent]:
    """The newest ``scheduled`` event of each schedule of ``model``."""
    last: dict[str, WatchEvent] = {}
    for event in journal.recent(model, limit=JOURNAL_LOOKBACK, action=SCHEDULED):
        last.setdefault(str(event.details.get("schedule")), event)
    return last


def _fire_time(event: WatchEvent | None) -> datetime | None:
    if event is None or not event.details.get("fire_time"):
        return None
    return datetime.fromisoformat(event.details["fire_time"])
