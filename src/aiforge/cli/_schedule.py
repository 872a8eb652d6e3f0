"""`aiforge schedule`: the project file's schedules, listed, added, removed, or printed as crontab lines."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from aiforge.cli._common import handles_errors, json_option, settings

__all__ = ["schedule"]

project_argument = click.argument("project_file", type=click.Path(path_type=Path), default="aiforge.yaml")


@click.group(epilog="""\b
Examples:
  aiforge schedule add nightly --cron "0 3 * * *"            # retrain every night at 03:00 UTC
  aiforge schedule add weekly-ci --cron "0 6 * * 1" --action ci
  aiforge schedule list
  aiforge monitor watch aiforge.yaml                          # runs what is due, each cycle
  aiforge schedule crontab | crontab -                        # or the system's cron""")
def schedule() -> None:
    """Schedules in the project file (schedules:): when the project runs by itself. Cron expressions are UTC.
    'aiforge monitor watch' runs the ones due at each cycle; 'aiforge schedule crontab' prints them for cron."""


@schedule.command("list")
@project_argument
@json_option
@click.pass_context
@handles_errors
def schedule_list(ctx: click.Context, project_file: Path, as_json: bool) -> None:
    """The schedules of PROJECT_FILE with their next run (UTC) and, from the workspace, their last run."""
    from aiforge.cli._console import out, print_json, table
    from aiforge.monitor import schedule_states
    from aiforge.spec import load_project_file
    from aiforge.workspace import Workspace

    project = load_project_file(project_file)
    ws_settings = settings(ctx)
    workspace = Workspace.open(ws_settings, create=False) if ws_settings.exists else None
    try:
        states = schedule_states(project, workspace)
    finally:
        if workspace is not None:
            workspace.close()
    if as_json:
        print_json([s.to_json() for s in states])
        return
    rows = [[s.schedule.name, s.schedule.cron, s.schedule.action, f"{s.next_run:%Y-%m-%d %H:%M}",
             f"{s.last_run.at:%Y-%m-%d %H:%M} {s.last_run.details.get('status', '')}" if s.last_run else "never"]
            for s in states]
    out.print(table(f"schedules of {project.spec.name} (UTC)", ["name", "cron", "action", "next run", "last run"],
                    rows))


@schedule.command("add")
@click.argument("name")
@click.option("--cron", required=True, help="Five fields in UTC: minute hour day-of-month month day-of-week, e.g. "
              "'0 3 * * *'.")
@click.option("--action", type=click.Choice(["run", "ci"]), default="run", show_default=True,
              help="run: the life cycle (retrain, gate, register); ci: aiforge ci (also compares with production).")
@click.option("--replace", is_flag=True, help="Replace a schedule of that name instead of refusing.")
@click.option("--project", "project_file", type=click.Path(path_type=Path), default="aiforge.yaml",
              show_default=True, help="The project file to edit.")
@handles_errors
def schedule_add(name: str, cron: str, action: str, replace: bool, project_file: Path) -> None:
    """Add the schedule NAME to the project file (checked first: a bad expression changes nothing)."""
    from aiforge.errors import SpecError
    from aiforge.spec import ScheduleSpec

    project = _load(project_file)
    schedules = list(project.spec.schedules)
    if any(s.name == name for s in schedules) and not replace:
        raise SpecError(f"a schedule named '{name}' exists already", where=project.where(("schedules",)),
                        hint="pass --replace to change it, or choose another name")
    try:
        new = ScheduleSpec(name=name, cron=cron, action=action)
    except ValueError as exc:
        raise SpecError(f"schedule '{name}' is not valid", where=f"{project.path} (schedules)",
                        found=_first_error(exc), hint="e.g. --cron '0 3 * * *' (every day at 03:00 UTC); names: "
                        "lower-case letters, digits, - and _") from exc
    schedules = [new if s.name == name else s for s in schedules] if replace and any(
        s.name == name for s in schedules) else [*schedules, new]
    _write(project, schedules)
    click.echo(f"{project.path}: schedule {name} ({new.cron}, {new.action}) {'replaced' if replace else 'added'}")


@schedule.command("remove")
@click.argument("name")
@click.option("--project", "project_file", type=click.Path(path_type=Path), default="aiforge.yaml",
              show_default=True, help="The project file to edit.")
@handles_errors
def schedule_remove(name: str, project_file: Path) -> None:
    """Remove the schedule NAME from the project file."""
    from aiforge.errors import SpecError

    project = _load(project_file)
    names = [s.name for s in project.spec.schedules]
    if name not in names:
        raise SpecError(f"no schedule named '{name}'", where=str(project.path), found=", ".join(names) or "none",
                        hint="'aiforge schedule list' shows them")
    _write(project, [s for s in project.spec.schedules if s.name != name])
    click.echo(f"{project.path}: schedule {name} removed")


@schedule.command("crontab")
@project_argument
@click.pass_context
@handles_errors
def schedule_crontab(ctx: click.Context, project_file: Path) -> None:
    """Print the schedules as crontab lines (install with: aiforge schedule crontab | crontab -). Each runs
    'aiforge run' (or 'ci') on the project file with this workspace, its output appended to schedules.log there."""
    from aiforge.monitor import crontab_lines
    from aiforge.spec import load_project_file

    project = load_project_file(project_file)
    for line in crontab_lines(project, settings(ctx)):
        click.echo(line)


def _load(project_file: Path) -> Any:
    from aiforge.spec import load_project_file

    return load_project_file(project_file)


def _write(project: Any, schedules: list[Any]) -> None:
    """The project file with ``schedules``, validated before it replaces the old one (atomically)."""
    from aiforge.spec import parse_project_text, with_schedules

    text = with_schedules(project.text, schedules)
    parse_project_text(text, project.path)
    tmp = project.path.with_name(f".{project.path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, project.path)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)
