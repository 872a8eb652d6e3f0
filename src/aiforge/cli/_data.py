"""`aiforge data`: the history of a project's snapshots, and what changed between two of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aiforge.cli._common import (
    accept_schema_change_option,
    handles_errors,
    json_option,
    new_pseudonym_key_option,
    settings,
)

__all__ = ["data"]


@click.group()
def data() -> None:
    """The snapshots runs ingested: history with lineage, and differences.

    \b
    aiforge data log                    # every project's snapshots, newest first
    aiforge data log income --json      # one project's, for scripts
    aiforge data diff 3f2a9c 81b0de     # schema and distribution changes between two snapshots
    aiforge data check aiforge.yaml     # the sources, after data.steps, against data.contract
    aiforge data erase income --where "customer_id = 42"   # the right to erasure
    """


@data.command("erase")
@click.argument("project")
@click.option("--where", "where", required=True, help="A SQL condition over the snapshot's columns: the rows to "
              "erase, e.g. \"customer_id = 42\".")
@click.option("--project-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The project file, to name the sources read whole each run (erase there too).")
@click.option("--purge", is_flag=True, help="Also delete the earlier snapshots that held the rows (the versions "
              "trained on them can no longer be reproduced).")
@json_option
@click.pass_context
@handles_errors
def data_erase(ctx: click.Context, project: str, where: str, project_file: Path | None, purge: bool,
               as_json: bool) -> None:
    """Take the rows of PROJECT matching --where out of its data: a new snapshot (the latest without them,
    the project's next runs start from it), recorded in the audit log, with the model versions trained on data
    that held them."""
    from aiforge.cli._common import cli_actor
    from aiforge.cli._console import print_json
    from aiforge.pipeline import erase_rows, load_project
    from aiforge.workspace import Workspace

    spec = load_project(project_file) if project_file is not None else None
    ws = Workspace.open(settings(ctx), create=False)
    try:
        done = erase_rows(ws, project, where, actor=cli_actor(), purge=purge, project_file=spec)
    finally:
        ws.close()
    if as_json:
        print_json(done.to_json())
        return
    if done.snapshot is None:
        click.echo(f"no row of {project}'s latest snapshot matches {where!r}; earlier snapshots holding some: "
                   f"{len(done.holding)}")
    else:
        click.echo(f"erased {done.removed:,} rows of {project}: snapshot {done.snapshot[:12]} (parent "
                   f"{done.parent[:12]}); recorded in the audit log")
    for v in done.versions:
        click.echo(f"trained on data holding them: {v['name']} v{v['version']} ({v['status']}"
                   f"{', ' + v['alias'] if v['alias'] else ''}) — retrain it")
    if done.purged:
        click.echo(f"deleted {len(done.purged)} earlier snapshots and rows artifacts that held them")
    elif done.holding:
        click.echo(f"{len(done.holding)} earlier snapshots still hold them (--purge deletes them)")
    for source in done.sources_to_clean:
        click.echo(f"source read whole each run: {source} — erase the rows there too, or the next run brings "
                   "them back")


@data.command("check")
@click.argument("project_file", type=click.Path(path_type=Path), default="aiforge.yaml")
@accept_schema_change_option
@new_pseudonym_key_option
@json_option
@click.pass_context
@handles_errors
def data_check(ctx: click.Context, project_file: Path, accept_schema_change: bool, new_pseudonym_key: bool,
               as_json: bool) -> None:
    """Read PROJECT_FILE's sources, compare their columns with the last snapshot's, run its data.steps and check
    the result against its data.contract (row counts; per column type, nullable, max_missing, min, max, allowed,
    unique, pattern, freshness), writing nothing. Exit 0 when every rule holds; exit 2 with each broken rule, how
    many rows break it and sample rows, or with the columns changed upstream."""
    import sys

    from aiforge.cli._console import out, print_json, table
    from aiforge.data import ContractError
    from aiforge.pipeline import load_project, preflight_in

    project = load_project(project_file)
    try:
        report = preflight_in(project, lambda: settings(ctx), accept_schema_change=accept_schema_change,
                              new_pseudonym_key=new_pseudonym_key).contract
    except ContractError as exc:
        report = exc.report
    assert report is not None
    if as_json:
        print_json({"project": project.spec.name, **report.to_json()})
    else:
        click.echo(f"{project.spec.name}: {report.rows:,} rows after data.steps; {len(report.checked)} rules checked, "
                   f"{len(report.violations)} broken")
        if report.violations:
            out.print(table("broken rules", ["rule", "rows", "what", "sample"],
                            [[v.rule, f"{v.count:,}", v.message,
                              "; ".join(", ".join(f"{k}={r[k]!r}" for k in list(r)[:5]) for r in v.sample[:2])]
                             for v in report.violations]))
    if not report.passed:
        sys.exit(2)


@data.command("log")
@click.argument("project", required=False)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@json_option
@click.pass_context
@handles_errors
def data_log(ctx: click.Context, project: str | None, limit: int, as_json: bool) -> None:
    """The snapshots of PROJECT (or of every project), newest first: rows, parent, the run that made it, and
    per source its rows, hash and, for incremental sources, the rows added and the watermark reached."""
    from aiforge.cli._console import out, print_json, table
    from aiforge.data import SnapshotLog
    from aiforge.workspace import Workspace

    records = SnapshotLog(Workspace.open(settings(ctx), create=False)).history(project, limit)
    if as_json:
        print_json([r.to_json() for r in records])
        return
    out.print(table("snapshots", ["created", "project", "snapshot", "parent", "rows", "run", "sources"],
                    [[f"{r.created_at:%Y-%m-%d %H:%M:%S}", r.project, r.snapshot[:12], (r.parent or "")[:12],
                      f"{r.rows:,}", r.run_id, "; ".join(_source(s) for s in r.sources)] for r in records]))


def _source(entry: dict[str, Any]) -> str:
    text = f"{entry['name']} {entry['rows']:,} rows"
    if entry.get("added_rows") is not None:
        mark = entry.get("watermark") or {}
        text += f" (+{entry['added_rows']:,}, watermark {mark.get('value', '—')})"
    return text


@data.command("diff")
@click.argument("first")
@click.argument("second")
@click.option("--all-columns", is_flag=True, help="List every common column, not only those that changed.")
@json_option
@click.pass_context
@handles_errors
def data_diff(ctx: click.Context, first: str, second: str, all_columns: bool, as_json: bool) -> None:
    """What changed from snapshot FIRST to SECOND (ids or unique prefixes, see 'aiforge data log'): columns
    added, removed or retyped, rows, and per column the missing rate, the mean and the distribution (PSI and
    Jensen–Shannon; a column counts as changed from PSI 0.1 or 5 points of missing rate)."""
    import io

    import pyarrow.parquet as pq

    from aiforge.cli._console import out, print_json, table
    from aiforge.data import SnapshotLog, diff_tables
    from aiforge.errors import DataError
    from aiforge.workspace import Workspace

    ws = Workspace.open(settings(ctx), create=False)
    known = sorted({r.snapshot for r in SnapshotLog(ws).history(None, 100_000)})

    def resolve(prefix: str) -> str:
        found = [s for s in known if s.startswith(prefix.lower())]
        if len(found) != 1:
            raise DataError(f"no snapshot '{prefix}'" if not found else f"snapshot prefix '{prefix}' is ambiguous",
                            found=", ".join(s[:12] for s in found[:5]) or f"{len(known)} snapshots recorded",
                            hint="see the ids with 'aiforge data log'")
        return found[0]

    a, b = resolve(first), resolve(second)
    diff = diff_tables(pq.read_table(io.BytesIO(ws.artifacts.get_bytes(a))),
                       pq.read_table(io.BytesIO(ws.artifacts.get_bytes(b))), a_id=a, b_id=b)
    if as_json:
        print_json(diff.to_json())
        return
    click.echo(f"{a[:12]} -> {b[:12]}: {diff.rows_a:,} -> {diff.rows_b:,} rows ({diff.rows_b - diff.rows_a:+,})")
    for label, names in (("added", diff.added), ("removed", diff.removed)):
        if names:
            click.echo(f"columns {label}: {', '.join(names)}")
    for name, was, now in diff.retyped:
        click.echo(f"column {name}: {was} -> {now}")
    shown = [c for c in diff.columns if all_columns or c.changed]
    out.print(table("columns" if all_columns else "columns that changed",
                    ["column", "kind", "missing", "mean", "PSI", "JS", "most changed shares"],
                    [[c.name, c.kind, f"{c.missing_a:.1%} -> {c.missing_b:.1%}",
                      "" if c.mean_a is None or c.mean_b is None else f"{c.mean_a:.4g} -> {c.mean_b:.4g}",
                      f"{c.psi:.3f}", f"{c.jensen_shannon:.3f}",
                      ", ".join(f"{k} {p:.0%}->{q:.0%}" for k, (p, q) in list(c.shares.items())[:3])]
                     for c in shown]))
    if not shown:
        click.echo("no column changed (PSI < 0.1, missing rate within 5 points)")
