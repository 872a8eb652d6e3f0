"""The closed loop: watch a served model, and on an alert that calls for it retrain, gate and roll out.

One *cycle* (``watch_once``; ``aiforge monitor watch`` runs one every ``monitor.every``):

1. monitoring: drift and production KPIs of the version that answers, over ``monitor.drift.window``,
   judged by the alert rules (alerts go to their sinks, deduplicated);
2. if an alert named in ``monitor.retrain.alerts`` was raised, and no rollout of the model is in progress, and
   the last retrain is older than ``cooldown``, and enough outcomes were fed back:
3. retrain: the whole life cycle of the project file (``pipeline.run_project``), on its sources read again
   (fresh rows) plus, with ``feedback: true``, the logged production inputs labelled with their outcomes;
   the newest ``holdout`` share of those is kept out of training;
4. every KPI gate of the project file decides; then the candidate must score no worse than the answering
   version on the held-out production rows (by the search metric, within ``tolerance``);
5. the candidate is rolled out with the project's ``deploy:`` strategy (canary by default); the server
   advances it on its guardrails and promotes it, or rolls it back.

Every step is an event in the workspace's journal (``WatchJournal``; ``aiforge monitor history``), next to
the run record of the retrain, the deployment's own events and the alerts. Before retraining, the answering
version is pinned to the ``production`` alias, so a new version never takes traffic except through the
rollout.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from aiforge.errors import AiforgeError, DataError
from aiforge.evaluate import METRICS, compute_metrics, default_metric
from aiforge.monitor._alerts import StoredAlert, raise_alerts
from aiforge.monitor._drift import DriftSettings
from aiforge.monitor._report import MonitorReport, monitor_report
from aiforge.monitor._window import parse_period, prediction_window
from aiforge.pipeline import Progress, run_project, transform
from aiforge.registry import Alias, DeploymentStore, ModelRegistry, ModelVersion, OutcomeStore
from aiforge.spec import ProjectFile, RetrainSpec, TaskKind
from aiforge.workspace import WatchEventRow, Workspace, WorkspaceSettings

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from aiforge.data import LoadedSource

__all__ = ["ACTIONS", "Comparison", "WatchCycle", "WatchEvent", "WatchJournal", "labelled_production_rows",
           "watch_once"]

ACTOR = "aiforge monitor watch"
MIN_HOLDOUT = 20
ACTIONS = {
    "checked": "monitored; no alert that calls for a retrain",
    "idle": "no predictions to monitor in the window",
    "waiting": "a retrain is due but waits (a rollout in progress, the cooldown, too few outcomes)",
    "retrain": "a retrain started, triggered by alerts",
    "rejected": "the retrained version failed a KPI gate",
    "not_better": "the retrained version scored worse than the answering one on recent production rows",
    "deployed": "the retrained version is rolling out",
    "failed": "the retrain stopped with an error",
    "scheduled": "a schedule of the project file ran (schedules:, aiforge schedule)",
}
RETRAINS = ("retrain",)


@dataclass(frozen=True)
class WatchEvent:
    id: int
    model: str
    at: datetime
    action: str
    version: int | None  # the version that answered
    reason: str
    run_id: str | None = None
    candidate: int | None = None
    deployment: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "at": self.at.isoformat()}


class WatchJournal:
    """The closed loop's events in a workspace, newest first."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def record(self, model: str, action: str, reason: str, *, version: int | None = None, run_id: str | None = None,
               candidate: int | None = None, deployment: str | None = None, details: dict[str, Any] | None = None,
               now: datetime | None = None) -> WatchEvent:
        if action not in ACTIONS:
            raise ValueError(f"unknown watch action {action!r}")
        with self.workspace.session() as s:
            row = WatchEventRow(model=model, at=now or datetime.now(UTC), action=action, version=version,
                                reason=reason, run_id=run_id, candidate=candidate, deployment=deployment,
                                details=_plain(details or {}))
            s.add(row)
            s.flush()
            return _event(row)

    def recent(self, model: str | None = None, limit: int = 50, action: str | None = None) -> list[WatchEvent]:
        with self.workspace.session() as s:
            query = select(WatchEventRow).order_by(WatchEventRow.at.desc(), WatchEventRow.id.desc()).limit(limit)
            if model is not None:
                query = query.where(WatchEventRow.model == model)
            if action is not None:
                query = query.where(WatchEventRow.action == action)
            return [_event(r) for r in s.scalars(query)]

    def last_retrain(self, model: str) -> WatchEvent | None:
        with self.workspace.session() as s:
            row = s.scalars(select(WatchEventRow).where(WatchEventRow.model == model,
                                                        WatchEventRow.action.in_(RETRAINS))
                            .order_by(WatchEventRow.at.desc(), WatchEventRow.id.desc())).first()
            return _event(row) if row is not None else None


def _event(row: WatchEventRow) -> WatchEvent:
    return WatchEvent(row.id, row.model, row.at, row.action, row.version, row.reason, row.run_id, row.candidate,
                      row.deployment, dict(row.details or {}))


@dataclass(frozen=True)
class Comparison:
    """The candidate and the answering version on the same held-out production rows."""

    metric: str
    higher_is_better: bool
    rows: int
    champion: float
    candidate: float
    tolerance: float

    @property
    def passed(self) -> bool:
        if not math.isfinite(self.candidate):
            return False
        if not math.isfinite(self.champion):
            return True
        gap = self.candidate - self.champion if self.higher_is_better else self.champion - self.candidate
        return gap >= -self.tolerance

    def to_json(self) -> dict[str, Any]:
        return {**_plain(vars(self)), "passed": self.passed}


@dataclass(frozen=True)
class WatchCycle:
    model: str
    events: list[WatchEvent]
    alerts: list[StoredAlert]
    report: MonitorReport | None

    @property
    def action(self) -> str:
        return self.events[-1].action

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "action": self.action, "events": [e.to_json() for e in self.events],
                "alerts": [a.to_json() for a in self.alerts],
                "rows": len(self.report.window) if self.report else 0,
                "drifted": self.report.drift.drifted if self.report else []}


def watch_once(project: ProjectFile, settings: WorkspaceSettings, *, progress: Progress | None = None,
               now: datetime | None = None) -> WatchCycle:
    """One cycle of the closed loop for the project's model (see the module's docstring)."""
    spec = project.spec
    name = spec.name
    ws = Workspace.open(settings, create=False)
    try:
        journal = WatchJournal(ws)
        registry = ModelRegistry(ws)
        drift = spec.monitor.drift
        try:
            report = monitor_report(registry, name, period=parse_period(drift.window),
                                    settings=DriftSettings(method=drift.method, threshold=drift.threshold,
                                                           alpha=drift.alpha))
        except AiforgeError as exc:
            if not exc.message.startswith("no logged predictions"):
                raise
            served = _answering(registry, name)
            event = journal.record(name, "idle", f"no predictions of {name} v{served.version} in the last "
                                   f"{drift.window}", version=served.version, now=now)
            return WatchCycle(name, [event], [], None)
        champion = report.version
        raised = raise_alerts(ws, spec.monitor, report)
        retrain = spec.monitor.retrain
        triggers = [a for a in raised if retrain is not None and a.rule in retrain.alerts]
        summary = {"rows": len(report.window), "drifted": report.drift.drifted,
                   "alerts": [{"id": a.id, "rule": a.rule, "message": a.message} for a in raised]}
        if retrain is None or not triggers:
            why = "no alert" if not raised else f"alerts {', '.join(a.rule for a in raised)} do not retrain"
            event = journal.record(name, "checked", f"{len(report.window)} predictions of v{champion.version}; "
                                   f"drifted: {', '.join(report.drift.drifted) or 'none'}; {why}",
                                   version=champion.version, details=summary, now=now)
            return WatchCycle(name, [event], raised, report)
        events = _retrain(project, settings, ws, journal, registry, champion, retrain, triggers, summary, progress,
                          now)
        return WatchCycle(name, events, raised, report)
    finally:
        ws.close()


def _retrain(project: ProjectFile, settings: WorkspaceSettings, ws: Workspace, journal: WatchJournal,
             registry: ModelRegistry, champion: ModelVersion, retrain: RetrainSpec, triggers: list[StoredAlert],
             summary: dict[str, Any], progress: Progress | None, now: datetime | None) -> list[WatchEvent]:
    spec = project.spec
    name = spec.name
    at = now or datetime.now(UTC)
    because = "; ".join(f"{a.rule}: {a.message}" for a in triggers)
    active = DeploymentStore(ws).active(name)
    if active:
        d = active[0]
        return [journal.record(name, "waiting", f"retrain due ({because}), but deployment {d.id} of v{d.challenger} "
                               "is rolling out", version=champion.version, deployment=d.id, details=summary, now=now)]
    last = journal.last_retrain(name)
    cooldown = parse_period(retrain.cooldown)
    if last is not None and at - last.at < cooldown:
        return [journal.record(name, "waiting", f"retrain due ({because}), but the last one started at "
                               f"{last.at:%Y-%m-%d %H:%M} UTC, within the cooldown of {retrain.cooldown}",
                               version=champion.version, details=summary, now=now)]
    sources = _project_sources(project)
    extra: list[LoadedSource] = []
    holdout: pd.DataFrame | None = None
    feedback_rows = 0
    if retrain.feedback:
        labelled = labelled_production_rows(ws, name, period=parse_period(retrain.feedback_window), now=at)
        if len(labelled) < retrain.min_feedback:
            return [journal.record(name, "waiting", f"retrain due ({because}), but only {len(labelled)} production "
                                   f"predictions have an outcome within {retrain.feedback_window} (min_feedback: "
                                   f"{retrain.min_feedback})", version=champion.version, details=summary, now=now)]
        held = int(len(labelled) * retrain.holdout) if len(labelled) * retrain.holdout >= MIN_HOLDOUT else 0
        train_rows = labelled.iloc[:len(labelled) - held]
        holdout = labelled.iloc[len(labelled) - held:] if held else None
        feedback_rows = len(train_rows)
        if len(train_rows):
            extra.append(feedback_source(train_rows, spec.problem.target, transform(project, sources).schema, name,
                                         retrain.feedback_window))
    _pin(registry, champion)
    details = {**summary, "triggers": [a.id for a in triggers], "feedback_rows": feedback_rows,
               "holdout_rows": 0 if holdout is None else len(holdout),
               "sources": [{"name": s.name, "rows": s.table.num_rows, "sha256": s.content_hash} for s in sources]}
    events = [journal.record(name, "retrain", f"retraining {name} ({because}) on "
                             f"{sum(s.table.num_rows for s in sources)} source rows + {feedback_rows} labelled "
                             f"production rows", version=champion.version, details=details, now=now)]
    try:
        result = run_project(project, settings, progress=progress, extra_sources=extra)
    except AiforgeError as exc:
        events.append(journal.record(name, "failed", exc.render().splitlines()[0], version=champion.version,
                                     details={"error": exc.render()}))
        return events
    candidate = result.version
    gate = {"passed": result.verdict.passed, "summary": result.verdict.summary()}
    if not result.verdict.passed:
        events.append(journal.record(name, "rejected", f"v{candidate.version} failed the gate: "
                                     f"{result.verdict.summary()}", version=champion.version, run_id=result.run_id,
                                     candidate=candidate.version, details={"gate": gate}))
        return events
    comparison = None
    if holdout is not None:
        comparison = compare_on(registry, champion, candidate, holdout, spec.problem.target,
                                _metric_name(project, result.task.kind), retrain.tolerance)
        if not comparison.passed:
            events.append(journal.record(
                name, "not_better", f"v{candidate.version} passed the gate but scored {comparison.metric} "
                f"{comparison.candidate:.4f} on the {comparison.rows} newest labelled production rows, against "
                f"{comparison.champion:.4f} for v{champion.version}", version=champion.version,
                run_id=result.run_id, candidate=candidate.version,
                details={"gate": gate, "comparison": comparison.to_json()}))
            return events
    deploy = spec.deploy
    deployment = DeploymentStore(ws).create(
        name, candidate.version, deploy.strategy, actor=ACTOR, steps=deploy.steps if deploy.strategy == "canary"
        else None, guardrails=deploy.guardrail_texts(), min_requests=deploy.min_requests, split=deploy.split)
    versus = "" if comparison is None else (f"; {comparison.metric} {comparison.candidate:.4f} vs "
                                            f"{comparison.champion:.4f} on {comparison.rows} recent production rows")
    events.append(journal.record(
        name, "deployed", f"v{candidate.version} passed every KPI gate{versus}; {deploy.strategy} deployment "
        f"{deployment.id} started against v{champion.version}", version=champion.version, run_id=result.run_id,
        candidate=candidate.version, deployment=deployment.id,
        details={"gate": gate, "comparison": comparison.to_json() if comparison else None,
                 "deployment": deployment.to_json()}))
    return events


def _answering(registry: ModelRegistry, name: str) -> ModelVersion:
    from aiforge.registry import served_version

    served = served_version(registry.versions(name))
    if served is None:
        raise AiforgeError(f"model '{name}' has no version that answers", hint=f"run the project to register {name}")
    return served


def _pin(registry: ModelRegistry, champion: ModelVersion) -> None:
    """The answering version takes ``production`` (if it answers by another alias), so that the retrained
    version cannot take its traffic but through the rollout."""
    if champion.alias is not Alias.PRODUCTION:
        registry.promote(champion.name, champion.version, Alias.PRODUCTION)


def _project_sources(project: ProjectFile) -> list[LoadedSource]:
    from aiforge.data import read_source

    return [read_source(s, project.base_dir) for s in project.spec.data.sources]


def labelled_production_rows(workspace: Workspace, model: str, *, period: Any, now: datetime | None = None
                             ) -> pd.DataFrame:
    """The logged inputs of ``model``'s answered predictions within ``period`` that have an outcome fed back,
    oldest first, with the outcome in column ``__outcome__`` and the prediction time in ``__time__``."""
    import pandas as pd

    at = now or datetime.now(UTC)
    outcomes = OutcomeStore(workspace).of_model(model, since=at - period)
    if not outcomes:
        return pd.DataFrame()
    window = prediction_window(workspace.root / "predictions", model, period=period, now=at)
    if not len(window):
        return pd.DataFrame()
    known = window.log["id"].isin(list(outcomes)).to_numpy()
    rows = window.inputs.loc[known].reset_index(drop=True)
    log = window.log.loc[known].reset_index(drop=True)
    rows["__outcome__"] = [outcomes[i] for i in log["id"]]
    rows["__time__"] = log["time"].to_numpy()
    return rows.sort_values("__time__", kind="stable").reset_index(drop=True)


def feedback_source(rows: pd.DataFrame, target: str, schema: pa.Schema, model: str, window: str) -> LoadedSource:
    """Labelled production rows as one more source, their columns cast to the project's data types (``schema``:
    the sources after ``data.steps``; the logged inputs are model inputs, already through the steps)."""
    import hashlib

    import pyarrow as pa

    from aiforge.data import LoadedSource
    frame = rows.drop(columns=["__outcome__", "__time__"]).copy()
    frame[target] = rows["__outcome__"].to_numpy()
    columns = [c for c in frame.columns if c in schema.names]
    table = pa.Table.from_pandas(frame[columns], preserve_index=False)
    table = pa.table([_cast(table.column(c), schema.field(c).type, c, target) for c in columns], names=columns)
    digest = hashlib.sha256(json.dumps(frame[columns].astype(str).to_numpy().tolist()).encode()).hexdigest()
    return LoadedSource("feedback", table, digest,
                        f"prediction log of {model}: {table.num_rows} labelled rows of the last {window}")


def _cast(column: pa.ChunkedArray, to: pa.DataType, name: str, target: str) -> pa.ChunkedArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.type == to:
        return column
    try:
        if pa.types.is_integer(to) and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.float64())  # "1" and "1.0" alike
        return pc.cast(column, to, safe=not pa.types.is_integer(to))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        what = "the outcomes fed back" if name == target else f"the logged input '{name}'"
        raise DataError(f"{what} cannot be read as the data's {to} column '{name}'", found=str(exc).splitlines()[0],
                        hint="feed back outcomes in the target's own values (e.g. the class labels)") from exc


def compare_on(registry: ModelRegistry, champion: ModelVersion, candidate: ModelVersion, rows: pd.DataFrame,
               target: str, metric: str, tolerance: float) -> Comparison:
    """Both versions scored by ``metric`` on the same labelled ``rows`` (``__outcome__`` holds the truth)."""
    import pandas as pd

    scores = []
    for version in (champion, candidate):
        model = registry.load_model(version)
        X = rows[[c for c in model.input_columns if c in rows.columns]]
        truth = pd.Series(rows["__outcome__"].to_numpy(), name=target)
        scores.append(_score(model, X, truth, metric))
    spec = METRICS[metric]
    return Comparison(metric, spec.higher_is_better, len(rows), scores[0], scores[1], tolerance)


def _score(model: Any, X: pd.DataFrame, truth: pd.Series, metric: str) -> float:
    import numpy as np

    try:
        if model.task is TaskKind.REGRESSION:
            y = truth.astype(float).to_numpy()
        else:
            index = {str(c): i for i, c in enumerate(model.classes)}
            keep = np.asarray([str(t) in index for t in truth])
            X, truth = X.loc[keep], truth.loc[keep]
            y = np.asarray([index[str(t)] for t in truth])
            if len(set(y.tolist())) < 2 and metric in ("roc_auc", "log_loss", "average_precision"):
                return float("nan")
        figures = compute_metrics(model.task, y, model.raw_output(X), getattr(model, "threshold", 0.5))
    except (ValueError, KeyError, TypeError):
        return float("nan")
    return float(figures.get(metric, float("nan")))


def _metric_name(project: ProjectFile, task: TaskKind) -> str:
    """The search metric, else the first KPI metric that scores ``task``, else the task's default."""
    chosen = project.spec.model.search.metric
    if chosen:
        return chosen
    for kpi in project.spec.kpis:
        metric = METRICS.get(kpi.metric)
        if metric is not None and task in metric.tasks:
            return metric.name
    return default_metric(task).name


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
