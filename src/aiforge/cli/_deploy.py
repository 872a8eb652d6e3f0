"""`aiforge deploy`, `aiforge deployments`, `aiforge rollback`: roll a challenger out against the champion."""

from __future__ import annotations

from typing import Any

import click

from aiforge.cli._common import cli_actor, handles_errors, json_option, settings
from aiforge.cli._completion import complete_model_names

__all__ = ["deploy", "deployments", "rollback"]


def _store(ctx: click.Context) -> Any:
    from aiforge.registry import DeploymentStore
    from aiforge.workspace import Workspace

    return DeploymentStore(Workspace.open(settings(ctx), create=False))


def _steps(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected percents separated by commas, e.g. 10,50,100; got {value!r}") from None


@click.command(epilog="""\b
Examples:
  aiforge deploy income --version 3 --strategy canary --steps 10,50,100 \\
      --guardrail "error_rate<0.01" --guardrail "p99_latency_ms<50" --min-requests 200
  aiforge deploy income --version 3 --strategy shadow --guardrail "error_rate<0.05"
  aiforge deploy income --version 3 --strategy ab --split 50 --metric outcome
\b
Running servers pick the deployment up within --refresh-seconds. The champion is the version that
answers now; it holds the production alias for the whole rollout. Guardrail metrics: error_rate,
p50_latency_ms, p95_latency_ms, p99_latency_ms, mean_latency_ms (of the challenger, per window of
--min-requests requests). A canary advances a step when a window holds every guardrail, becomes
production after the last step, and is rolled back at once on a breach.""")
@click.argument("name", shell_complete=complete_model_names)
@click.option("--version", "version", type=int, required=True, help="The challenger: an accepted version of NAME.")
@click.option("--strategy", type=click.Choice(["canary", "shadow", "ab"]), default="canary", show_default=True,
              help="canary: growing share of traffic; shadow: a copy of the traffic, only the champion "
              "answers; ab: a fixed split, sticky by X-Request-Key, with a significance test.")
@click.option("--steps", callback=_steps, default=None, help="Canary: the challenger's share at each step, in "
              "percent, ending at 100 (default 10,50,100).")
@click.option("--guardrail", "guardrails", multiple=True, help="A bound the challenger must keep, e.g. "
              "'error_rate<0.01' (repeat for more).")
@click.option("--min-requests", type=click.IntRange(1), default=100, show_default=True,
              help="Challenger requests per window before a step advances (guardrails are judged per window).")
@click.option("--split", type=click.IntRange(1, 99), default=None, help="A/B: the challenger's percent of "
              "request keys (default 50).")
@click.option("--metric", type=click.Choice(["outcome", "accuracy"]), default="outcome", show_default=True,
              help="A/B: compare the mean outcome fed back (POST /v1/models/NAME/feedback), or accuracy when "
              "the outcomes are the true labels.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="A/B: the significance level of the test.")
@json_option
@click.pass_context
@handles_errors
def deploy(ctx: click.Context, name: str, version: int, strategy: str, steps: list[int] | None,
           guardrails: tuple[str, ...], min_requests: int, split: int | None, metric: str, alpha: float,
           as_json: bool) -> None:
    """Roll version VERSION of model NAME out against the version that answers now."""
    from aiforge.cli._console import print_json

    deployment = _store(ctx).create(name, version, strategy, actor=cli_actor(), steps=steps, guardrails=guardrails,
                                    min_requests=min_requests, split=split, metric=metric, alpha=alpha)
    if as_json:
        print_json(deployment.to_json())
        return
    plan = {"canary": f"steps {','.join(map(str, deployment.steps))}%", "shadow": "a copy of every request",
            "ab": f"{deployment.traffic}% of request keys"}[deployment.strategy.value]
    rails = ", ".join(str(g) for g in deployment.guardrails) or "no guardrails"
    click.echo(f"deployment {deployment.id}: {name} v{version} ({deployment.strategy.value}, {plan}) against "
               f"champion v{deployment.champion}; {rails}; windows of {deployment.min_requests} requests")


@click.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also the deployments that ended.")
@json_option
@click.pass_context
@handles_errors
def deployments(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List the active deployments (with --all, the ended ones too). `aiforge deployments show NAME` tells
    one deployment's steps, events and results; `aiforge deployments promote NAME` ends it early."""
    if ctx.invoked_subcommand is not None:
        return
    from aiforge.cli._console import out, print_json, table

    store = _store(ctx)
    found = store.recent() if show_all else store.active()
    if as_json:
        print_json([d.to_json() for d in found])
        return
    out.print(table("deployments", ["id", "model", "strategy", "champion", "challenger", "state", "traffic",
                                    "guardrails", "updated"],
                    [[d.id, d.name, d.strategy.value, f"v{d.champion}", f"v{d.challenger}", d.state.value,
                      f"{d.traffic}%", ", ".join(map(str, d.guardrails)), f"{d.updated_at:%Y-%m-%d %H:%M:%S}"]
                     for d in found]))


@deployments.command("show")
@click.argument("name", shell_complete=complete_model_names)
@json_option
@click.pass_context
@handles_errors
def deployments_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """The latest deployment of NAME: its state, its events, and per arm the predictions logged, latency,
    shadow agreement or the A/B test on the outcomes fed back."""
    from aiforge.cli._console import out, print_json, table
    from aiforge.registry import DeploymentError, OutcomeStore
    from aiforge.serve._experiment import deployment_report

    store = _store(ctx)
    found = store.recent(name, limit=1)
    if not found:
        raise DeploymentError(f"{name} has never been deployed", hint=f"aiforge deploy {name} --version V")
    deployment = found[0]
    events = store.events(deployment.id)
    report = deployment_report(deployment, store.workspace.root / "predictions", OutcomeStore(store.workspace))
    if as_json:
        print_json({**deployment.to_json(), "events": [e.to_json() for e in events], "report": report})
        return
    click.echo(f"{deployment.id}: {name} v{deployment.challenger} against v{deployment.champion} "
               f"({deployment.strategy.value}) is {deployment.state.value}, challenger traffic {deployment.traffic}%"
               + (f" — {deployment.reason}" if deployment.reason else ""))
    out.print(table("events", ["time", "event", "traffic", "actor", "why"],
                    [[f"{e.at:%Y-%m-%d %H:%M:%S}", e.kind, f"{e.traffic}%", e.actor, e.details.get("reason", "")]
                     for e in events]))
    out.print(table("arms", ["role", "version", "predictions", "p50 ms", "p99 ms"],
                    [[role, f"v{a['version']}", a["predictions"], a["p50_latency_ms"], a["p99_latency_ms"]]
                     for role, a in report["arms"].items()]))
    if "agreement" in report:
        click.echo(f"shadow label agreement: {report['agreement']['label_agreement']} over "
                   f"{report['agreement']['pairs']} requests")
    if "test" in report:
        test = report["test"]
        click.echo(f"A/B {test['metric']}: champion {test['champion']}, challenger {test['challenger']}; "
                   f"{test['verdict']}")


@deployments.command("promote")
@click.argument("name", shell_complete=complete_model_names)
@click.option("--reason", default="promoted by an operator", show_default=True, help="Why, for the record.")
@json_option
@click.pass_context
@handles_errors
def deployments_promote(ctx: click.Context, name: str, reason: str, as_json: bool) -> None:
    """End NAME's active deployment now: the challenger becomes production."""
    from aiforge.cli._console import print_json

    done = _store(ctx).promote(name, actor=cli_actor(), reason=reason)
    if as_json:
        print_json(done.to_json())
    else:
        click.echo(f"{name} v{done.challenger} is production; v{done.champion} is archived ({done.id})")


@click.command()
@click.argument("name", shell_complete=complete_model_names)
@click.option("--reason", default="rolled back by an operator", show_default=True, help="Why, for the record.")
@json_option
@click.pass_context
@handles_errors
def rollback(ctx: click.Context, name: str, reason: str, as_json: bool) -> None:
    """Roll back NAME's active deployment: the challenger is archived and the champion answers alone
    (running servers follow within --refresh-seconds)."""
    from aiforge.cli._console import print_json

    done = _store(ctx).rollback(name, actor=cli_actor(), reason=reason)
    if as_json:
        print_json(done.to_json())
    else:
        click.echo(f"rolled back {name} v{done.challenger}; v{done.champion} answers ({done.id})")
