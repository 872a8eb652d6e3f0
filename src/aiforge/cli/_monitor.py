"""`aiforge monitor`: watch what the served models see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aiforge.cli._common import handles_errors, json_option, settings
from aiforge.cli._completion import complete_model_names

__all__ = ["alerts", "monitor"]


@click.group()
def monitor() -> None:
    """Drift of production traffic against each version's training reference.

    \b
    aiforge monitor report income --window 1d          # the last day of predictions, HTML + summary
    aiforge monitor report income --last 10000 --json  # the last 10,000, for scripts
    aiforge monitor labels outcomes.csv --model income # delayed labels, by prediction id
    aiforge monitor check aiforge.yaml                 # the project's alert rules, once (cron)
    aiforge monitor watch aiforge.yaml                 # the closed loop: alerts -> retrain -> gate -> canary
    aiforge monitor history income                     # what the loop did, newest first
    """


@monitor.command("report")
@click.argument("name", shell_complete=complete_model_names)
@click.option("--window", "period", default=None, help="The period to look back: 30m, 6h, 1d, 2w.")
@click.option("--last", type=click.IntRange(1), default=None, help="The newest N predictions (with --window: "
              "the newest N within it).")
@click.option("--version", "version", type=int, default=None, help="Compare this version's predictions with "
              "its reference (default: the version that answers now).")
@click.option("--method", type=click.Choice(["auto", "psi", "jensen_shannon", "wasserstein", "ks"]), default="auto",
              show_default=True, help="The effect size that decides drift (auto: Wasserstein/σ for numbers, "
              "Jensen–Shannon for categories).")
@click.option("--threshold", type=click.FloatRange(0, min_open=True), default=None,
              help="The effect size from which a column drifts (default 0.1; PSI 0.2).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="The significance level the test must also reach.")
@click.option("--every", default=None, help="Also score the outcomes per period of this length: 1h, 1d.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the HTML report (default: the workspace's reports folder).")
@json_option
@click.pass_context
@handles_errors
def monitor_report(ctx: click.Context, name: str, period: str | None, last: int | None, version: int | None,
                   method: str, threshold: float | None, alpha: float, every: str | None, output: Path | None,
                   as_json: bool) -> None:
    """Drift of NAME's logged predictions against its training reference: per column PSI, Jensen–Shannon,
    Kolmogorov–Smirnov, Wasserstein and chi-squared, a domain classifier, and plots (an HTML page)."""
    import time

    from aiforge.cli._console import out, print_json, table
    from aiforge.monitor import DriftSettings, monitor_report, parse_period, render_monitor_report
    from aiforge.registry import ModelRegistry
    from aiforge.workspace import Workspace

    ws = Workspace.open(settings(ctx), create=False)
    report = monitor_report(ModelRegistry(ws), name, period=parse_period(period) if period else None, last=last,
                            version=version, settings=DriftSettings(method=method, threshold=threshold, alpha=alpha),
                            every=parse_period(every) if every else None)
    path = output or ws.reports_dir / f"monitor-{name}-v{report.version.version}-{time.strftime('%Y%m%d-%H%M%S')}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_monitor_report(report), encoding="utf-8")
    tmp.replace(path)
    if as_json:
        print_json({**report.to_json(), "report": str(path)})
        return
    d = report.drift
    out.print(table(f"drift of {name} v{report.version.version}: {len(report.window)} predictions",
                    ["column", "kind", "PSI", "JS", "KS", "W/σ", "p", "drift"],
                    [[c.name, c.kind, f"{c.psi:.3f}", f"{c.jensen_shannon:.3f}",
                      "" if c.ks is None else f"{c.ks:.3f}", "" if c.wasserstein is None else f"{c.wasserstein:.3f}",
                      f"{c.p_value:.2g}",
                      "DRIFT" if c.drifted else ""] for c in [*d.columns, *([d.prediction] if d.prediction else [])]]))
    if d.domain and d.domain.get("auc") is not None:
        click.echo(f"domain classifier AUC {d.domain['auc']:.3f} ({'drift' if d.domain['drifted'] else 'no drift'})")
    perf = report.performance
    if perf is not None and perf.metrics:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in list(perf.metrics.items())[:4])
        click.echo(f"production ({perf.labelled} labelled): {shown}")
        for breach in perf.breaches:
            click.echo(f"KPI BREACHED: {breach['message']}")
    decided = report.decisions
    if decided is not None:
        shares = ", ".join(f"{a} {s:.0%} (reference {decided.reference_shares[a]:.0%})"
                           for a, s in decided.shares.items())
        rates = ", ".join(f"{r} {v:.0%}" for r, v in decided.firing_rates.items())
        click.echo(f"decisions ({decided.records}): {shares}; PSI {decided.psi:.3f}"
                   f"{' DECISION DRIFT' if decided.drifted else ''}; rules fired: {rates or 'none'}")
    click.echo(f"drifted: {', '.join(d.drifted) or 'none'}; report: {path}")


@monitor.command("labels")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "name", required=True, shell_complete=complete_model_names,
              help="The model whose predictions the outcomes belong to.")
@click.option("--id-column", default="id", show_default=True, help="The column of prediction ids.")
@click.option("--outcome-column", default="outcome", show_default=True,
              help="The column of outcomes (true labels, or numbers).")
@json_option
@click.pass_context
@handles_errors
def monitor_labels(ctx: click.Context, file: Path, name: str, id_column: str, outcome_column: str,
                   as_json: bool) -> None:
    """Feed back outcomes (delayed labels) from FILE (.csv, .parquet, .jsonl): one row per prediction id.
    'aiforge monitor report' then scores the production predictions and checks the KPIs."""
    from aiforge.cli._console import print_json
    from aiforge.monitor import load_outcomes
    from aiforge.registry import OutcomeStore
    from aiforge.workspace import Workspace

    pairs = load_outcomes(file, id_column=id_column, outcome_column=outcome_column)
    stored = OutcomeStore(Workspace.open(settings(ctx), create=False)).record(name, pairs)
    if as_json:
        print_json({"stored": stored})
    else:
        click.echo(f"stored {stored} outcomes of {name}")


@monitor.command("check")
@click.argument("project_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--window", "period", default=None, help="Override the project's monitor.drift.window.")
@json_option
@click.pass_context
@handles_errors
def monitor_check(ctx: click.Context, project_file: Path, period: str | None, as_json: bool) -> None:
    """Check the project's model once: drift and production KPIs over its window, against the alert rules
    in PROJECT_FILE (monitor.alerts); new alerts go to their sinks. Exit 0: no alert, 1: alerts raised.
    Run it from cron (or a scheduler) to watch a model."""
    import sys

    from aiforge.cli._console import print_json
    from aiforge.monitor import DriftSettings, monitor_report, parse_period, raise_alerts
    from aiforge.registry import ModelRegistry
    from aiforge.spec import load_project_file
    from aiforge.workspace import Workspace

    spec = load_project_file(project_file).spec
    drift = spec.monitor.drift
    ws = Workspace.open(settings(ctx), create=False)
    report = monitor_report(ModelRegistry(ws), spec.name, period=parse_period(period or drift.window),
                            settings=DriftSettings(method=drift.method, threshold=drift.threshold, alpha=drift.alpha))
    raised = raise_alerts(ws, spec.monitor, report)
    if as_json:
        print_json({"model": spec.name, "version": report.version.version, "rows": len(report.window),
                    "drifted": report.drift.drifted, "alerts": [a.to_json() for a in raised]})
    else:
        click.echo(f"{spec.name} v{report.version.version}: {len(report.window)} predictions, drifted: "
                   f"{', '.join(report.drift.drifted) or 'none'}")
        for a in raised:
            sent = "; ".join(f"{k} {v}" for k, v in a.deliveries.items()) if a.new else \
                f"repeat #{a.count}, not sent again"
            click.echo(f"ALERT [{a.severity}] {a.rule}: {a.message} ({sent})")
    sys.exit(1 if raised else 0)


@monitor.command("watch", epilog="""\b
Examples:
  aiforge monitor watch aiforge.yaml              # forever, every monitor.every (Ctrl-C stops between cycles)
  aiforge monitor watch aiforge.yaml --once       # one cycle (cron, CI); exit 0 whatever it did
  aiforge monitor watch aiforge.yaml --once --json
\b
A cycle checks the model that answers (drift and production KPIs over monitor.drift.window) and raises
the alerts of monitor.alerts. An alert named in monitor.retrain.alerts retrains: the project is run again on
its sources (read afresh) plus the production rows that have an outcome fed back; if every KPI gate
passes and the new version scores no worse than the answering one on the newest labelled rows, it is
rolled out with the deploy: section (canary by default) and the server promotes or rolls it back.
Before each cycle, the project's schedules (schedules:, aiforge schedule) that are due run.
Every step is recorded: aiforge monitor history NAME.""")
@click.argument("project_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="Run one cycle and exit.")
@click.option("--every", default=None, help="Override monitor.every: the time between cycles (30s, 10m, 1h).")
@click.option("--cycles", type=click.IntRange(1), default=None, help="Stop after this many cycles.")
@json_option
@click.pass_context
@handles_errors
def monitor_watch(ctx: click.Context, project_file: Path, once: bool, every: str | None, cycles: int | None,
                  as_json: bool) -> None:
    """Watch the project's model and close the loop: on an alert that calls for it, retrain, gate and roll
    the new version out (monitor.retrain and deploy: in PROJECT_FILE)."""
    import time

    from aiforge.cli._console import RichProgress, err, print_json
    from aiforge.errors import AiforgeError
    from aiforge.monitor import parse_period, run_due_schedules, watch_once
    from aiforge.spec import load_project_file

    project = load_project_file(project_file)
    pause = parse_period(every or project.spec.monitor.every).total_seconds()
    limit = 1 if once else cycles
    done = 0
    while True:
        done += 1
        try:
            for event in run_due_schedules(project, settings(ctx), progress=None if as_json else RichProgress()):
                if as_json:
                    print_json(event.to_json())
                else:
                    _echo_event(event)
            cycle = watch_once(project, settings(ctx), progress=None if as_json else RichProgress())
        except AiforgeError as exc:
            if limit == 1:
                raise
            # a long-running watch outlives one bad cycle (a locked database, a source being rewritten)
            err.print(f"cycle {done} failed, next in {pause:g} s:\n{exc.render()}", highlight=False)
        else:
            if as_json:
                print_json(cycle.to_json())
            else:
                for event in cycle.events:
                    _echo_event(event)
        if limit is not None and done >= limit:
            return
        time.sleep(pause)


def _echo_event(event: Any) -> None:
    extra = "".join(f" {k} {v}" for k, v in (("run", event.run_id), ("candidate v", event.candidate),
                                             ("deployment", event.deployment)) if v is not None)
    click.echo(f"{event.at:%Y-%m-%d %H:%M:%S} {event.model} [{event.action}]{extra}: {event.reason}")


@monitor.command("history")
@click.argument("name", required=False, shell_complete=complete_model_names)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="Newest events to show.")
@json_option
@click.pass_context
@handles_errors
def monitor_history(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """What the closed loop (aiforge monitor watch) did, newest first: checks, retrains, gate verdicts,
    rollouts — of model NAME, or of every model."""
    from aiforge.cli._console import out, print_json, table
    from aiforge.monitor import WatchJournal
    from aiforge.workspace import Workspace

    events = WatchJournal(Workspace.open(settings(ctx), create=False)).recent(name, limit)
    if as_json:
        print_json([e.to_json() for e in events])
        return
    out.print(table("closed loop", ["at", "model", "action", "answering", "run", "candidate", "deployment", "reason"],
                    [[f"{e.at:%Y-%m-%d %H:%M:%S}", e.model, e.action, "" if e.version is None else f"v{e.version}",
                      e.run_id or "", "" if e.candidate is None else f"v{e.candidate}", e.deployment or "", e.reason]
                     for e in events]))


@click.command()
@click.option("--model", "name", default=None, shell_complete=complete_model_names, help="Only this model's alerts.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="Newest alerts to show.")
@json_option
@click.pass_context
@handles_errors
def alerts(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """The alerts monitoring raised, newest first: rule, severity, how often, and what each sink did."""
    from aiforge.cli._console import out, print_json, table
    from aiforge.monitor import AlertStore
    from aiforge.workspace import Workspace

    found = AlertStore(Workspace.open(settings(ctx), create=False)).recent(limit, name)
    if as_json:
        print_json([a.to_json() for a in found])
        return
    out.print(table("alerts", ["id", "last", "severity", "rule", "model", "count", "message", "sinks"],
                    [[a.id, f"{a.last_at:%Y-%m-%d %H:%M}", a.severity, a.rule, f"{a.model} v{a.version}", a.count,
                      a.message, "; ".join(f"{k}: {v.split(':')[0]}" for k, v in a.deliveries.items())]
                     for a in found]))
