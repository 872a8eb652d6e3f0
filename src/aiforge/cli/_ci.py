"""`aiforge ci`: validate, run, gate and compare with production, for a pull request's check."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from aiforge.cli._common import handles_errors, json_option, settings

__all__ = ["ci"]


@click.command(epilog="""\b
Examples:
  aiforge ci aiforge.yaml
  aiforge ci aiforge.yaml --summary ci-summary.md   # Markdown for a pull-request comment
\b
The comparison scores the candidate and the production version by one metric (ci.metric, else
model.search.metric, else the first KPI's) on the candidate's test split; ci.tolerance is how much worse
the candidate may be. examples/ci/ holds a GitHub Actions workflow that runs this on pull requests.""")
@click.argument("project_file", type=click.Path(path_type=Path), default="aiforge.yaml")
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the outcome as Markdown to this file (also when the input is bad).")
@click.option("--force", is_flag=True, help="Redo every stage instead of reusing cached results.")
@json_option
@click.pass_context
@handles_errors
def ci(ctx: click.Context, project_file: Path, summary: Path | None, force: bool, as_json: bool) -> None:
    """Validate and run PROJECT_FILE, gate the candidate on its KPIs and compare it with production.

    Exit 0 when the candidate passes every KPI and is no worse than production (within ci.tolerance),
    1 when it fails either (it stays registered, as rejected or as a candidate), 2 on bad input (nothing
    was run).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from rich.markup import escape

    from aiforge.cli._console import RichProgress, err, print_json
    from aiforge.errors import AiforgeError
    from aiforge.pipeline import error_markdown, load_project, run_ci

    try:
        project = load_project(project_file)
        outcome = run_ci(project, settings(ctx), force=force, progress=None if as_json else RichProgress())
    except AiforgeError as exc:
        if summary is not None:
            _write(summary, error_markdown(str(project_file), exc))
        raise
    if summary is not None:
        _write(summary, outcome.markdown())
    if as_json:
        print_json(outcome.to_json())
    else:
        v = outcome.run.version
        err.print(f"candidate {v.name} v{v.version} ({v.learner}) registered {v.status.value}", highlight=False)
        c = outcome.comparison
        if c is not None:
            err.print(f"{c.metric}: candidate {c.candidate:.4f}, production v{c.production_version} "
                      f"{c.production:.4f} on {c.rows} held-out rows (tolerance {c.tolerance:g})", highlight=False)
        for problem in outcome.problems:
            err.print(f"[red]failed:[/] {escape(problem)}", markup=True)
        err.print("[green]ci passed[/]" if outcome.passed else "[red]ci failed[/]", markup=True)
    sys.exit(outcome.exit_code)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
