"""What each page shows, read through the same library calls as the CLI (`aiforge runs`, `show`, `data log`,
`data diff`, `models`, `compare`, `deployments show`, `monitor report`, `keys list`): plain values for the
templates, no HTML. Lists are read a page at a time."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from aiforge.errors import AiforgeError, DataError, RegistryError
from aiforge.workspace import Workspace

__all__ = ["PAGE_SIZE", "Page", "compare_page", "data_page", "deployment_page", "deployments_page", "diff_page",
           "model_page", "models_page", "monitoring_page", "run_page", "runs_page", "snapshot_page"]

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    """Which page of a list: its number (from 1), its size and how many items the list holds."""

    number: int
    size: int
    total: int

    @classmethod
    def of(cls, number: int, total: int, size: int = PAGE_SIZE) -> Page:
        last = max(1, math.ceil(total / size))
        return cls(min(max(1, number), last), size, total)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        return max(1, math.ceil(self.total / self.size))


def runs_page(ws: Workspace, number: int, project: str | None) -> dict[str, Any]:
    from aiforge.pipeline import count_runs, list_runs

    page = Page.of(number, count_runs(ws, project=project))
    runs = list_runs(ws, limit=page.size, offset=page.offset, project=project)
    return {"runs": runs, "page": page, "project": project}


def run_page(ws: Workspace, run_id: str) -> dict[str, Any]:
    from aiforge.evaluate import GateVerdict
    from aiforge.pipeline import get_run
    from aiforge.ui._charts import timeline_figure

    record = get_run(ws, run_id)
    verdict = next((s.outputs.get("verdict") for s in record.stages if s.name == "gate" and s.outputs), None)
    return {"run": record, "gate": GateVerdict.from_json(verdict) if verdict else None,
            "metrics": sorted((record.summary.get("metrics") or {}).items()),
            "timeline": timeline_figure(record), "has_report": bool(record.summary.get("report_artifact"))}


def run_report(ws: Workspace, run_id: str) -> bytes:
    """The run's HTML report (its plots, tables and model card) from its artifact, hash verified (and decrypted in
    an encrypted workspace): unlike `aiforge report`, no plaintext copy is written to the reports folder."""
    from aiforge.pipeline import RunNotFound, get_run

    record = get_run(ws, run_id)
    digest = record.summary.get("report_artifact")
    if not digest:
        raise RunNotFound(f"run {record.id} has no report (status {record.status})",
                          hint="reports are written at the end of a run; rerun the project")
    return ws.artifacts.get_bytes(digest)


def data_page(ws: Workspace, number: int, project: str | None) -> dict[str, Any]:
    from aiforge.data import SnapshotLog

    log = SnapshotLog(ws)
    # the snapshot log has no count: the page after this one is known to exist when one more record is there
    records = log.history(project, limit=number * PAGE_SIZE + 1)
    page = Page.of(number, len(records))
    return {"snapshots": records[page.offset:page.offset + PAGE_SIZE], "page": page, "project": project,
            "more": len(records) > number * PAGE_SIZE}


def snapshot_page(ws: Workspace, snapshot: str) -> dict[str, Any]:
    """A snapshot's profile: as recorded by the ingest stage of the run that wrote it."""
    from aiforge.data import DatasetSnapshot
    from aiforge.pipeline import get_run

    record = _snapshot_record(ws, snapshot)
    ingest = next((s for s in get_run(ws, record.run_id).stages if s.name == "ingest" and s.outputs.get("snapshot")),
                  None)
    profile = DatasetSnapshot.from_json(ingest.outputs["snapshot"]) if ingest is not None else None
    return {"record": record, "profile": profile}


def diff_page(ws: Workspace, first: str, second: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from aiforge.data import diff_tables

    a, b = _snapshot_record(ws, first).snapshot, _snapshot_record(ws, second).snapshot
    diff = diff_tables(pq.read_table(io.BytesIO(ws.artifacts.get_bytes(a))),
                       pq.read_table(io.BytesIO(ws.artifacts.get_bytes(b))), a_id=a, b_id=b)
    return {"diff": diff, "a": a, "b": b}


def _snapshot_record(ws: Workspace, prefix: str) -> Any:
    from aiforge.data import SnapshotLog

    prefix = prefix.strip().lower()
    found = {r.snapshot: r for r in SnapshotLog(ws).history(None, 100_000) if r.snapshot.startswith(prefix)}
    if len(found) != 1 or not prefix:
        raise DataError(f"no snapshot '{prefix}'" if not found else f"snapshot prefix '{prefix}' is ambiguous",
                        found=", ".join(s[:12] for s in list(found)[:5]) or None,
                        hint="pick a snapshot from the data page")
    return next(iter(found.values()))


def models_page(ws: Workspace, number: int, name: str | None) -> dict[str, Any]:
    from aiforge.registry import ModelRegistry

    registry = ModelRegistry(ws)
    page = Page.of(number, registry.count(name))
    names = registry.names()
    held = registry.holders()
    holders = {n: {a.value: v for a, v in held.get(n, {}).items()} for n in ([name] if name else names)}
    return {"versions": registry.page(offset=page.offset, limit=page.size, name=name), "page": page,
            "name": name, "names": names, "holders": holders}


def model_page(ws: Workspace, name: str, number: int) -> dict[str, Any]:
    from aiforge.registry import DeploymentStore, ModelRegistry

    registry = ModelRegistry(ws)
    version = registry.get(name, number)
    lineage = version.lineage or {}
    nodes: list[tuple[str, str, str | None]] = []
    if lineage.get("spec_hash"):
        nodes.append(("project file", str(lineage["spec_hash"])[:12], None))
    if lineage.get("snapshot"):
        nodes.append(("data snapshot", str(lineage["snapshot"])[:12], f"/data/{lineage['snapshot']}"))
    if lineage.get("parent_run") and lineage.get("parent_run") != version.run_id:
        nodes.append(("trained in run", str(lineage["parent_run"])[:12], f"/runs/{lineage['parent_run']}"))
    nodes.append(("run", version.run_id[:20], f"/runs/{version.run_id}"))
    nodes.append(("model version", f"{name} v{number}", None))
    deployments = [d for d in DeploymentStore(ws).recent(name, limit=20) if number in (d.champion, d.challenger)]
    if deployments:
        nodes.append(("deployment", f"{deployments[0].strategy.value} {deployments[0].state.value}",
                      f"/deployments/{name}"))
    others = [v.version for v in registry.page(name=name, limit=20) if v.version != number]
    return {"version": version, "lineage": lineage, "nodes": nodes, "others": others,
            "gate": version.gate.get("results", [])}


def compare_page(ws: Workspace, name: str, first: int, second: int) -> dict[str, Any]:
    from aiforge.project._views import Comparison
    from aiforge.registry import ModelRegistry
    from aiforge.ui._charts import comparison_figure

    registry = ModelRegistry(ws)
    versions = [registry.get(name, first), registry.get(name, second)]
    comparison = Comparison(versions)
    numbers = [v.version for v in versions]
    metrics = comparison.metrics
    return {"versions": versions, "kpis": comparison.kpis, "metrics": metrics,
            "best": {m: comparison.best(m) for m in metrics},
            "chart": comparison_figure(metrics, numbers)}


def deployments_page(ws: Workspace) -> dict[str, Any]:
    from aiforge.registry import DeploymentStore

    store = DeploymentStore(ws)
    return {"active": store.active(), "recent": store.recent(limit=PAGE_SIZE)}


def deployment_page(ws: Workspace, name: str) -> dict[str, Any]:
    from aiforge.registry import DeploymentError, DeploymentStore, OutcomeStore
    from aiforge.serve._experiment import deployment_report

    store = DeploymentStore(ws)
    found = store.recent(name, limit=1)
    if not found:
        raise DeploymentError(f"{name} has never been deployed", hint=f"aiforge deploy {name} --version V")
    deployment = found[0]
    try:
        report: dict[str, Any] | None = deployment_report(deployment, ws.root / "predictions", OutcomeStore(ws))
    except AiforgeError:
        report = None
    return {"deployment": deployment, "events": store.events(deployment.id), "report": report}


def monitoring_page(ws: Workspace, name: str | None, window: str, every: str) -> dict[str, Any]:
    from aiforge.monitor import AlertStore, monitor_report, parse_period
    from aiforge.registry import ModelRegistry
    from aiforge.ui._charts import drift_figure, performance_figure

    registry = ModelRegistry(ws)
    names = registry.names()
    context: dict[str, Any] = {"names": names, "name": name, "window": window, "every": every, "report": None,
                               "error": None, "alerts": AlertStore(ws).recent(limit=PAGE_SIZE, model=name)}
    if name is None:
        return context
    if name not in names:
        raise RegistryError(f"no model named '{name}'", found=", ".join(names) or "no registered models")
    try:
        report = monitor_report(registry, name, period=parse_period(window), every=parse_period(every), domain=False)
    except AiforgeError as exc:  # no predictions logged yet: the page says so, with the alerts
        context["error"] = exc
        return context
    threshold = report.drift.columns[0].threshold if report.drift.columns else None
    context.update(report=report, drift=drift_figure(report.series or [], threshold),
                   performance=performance_figure(report.performance.series) if report.performance else None)
    return context
