"""Preflight: read the project's data and check it against the project file, writing nothing.

Everything that can be wrong with the user's input is found here, before the workspace is
touched. It needs no pandas, no scikit-learn and no database, so 'aiforge validate' is instant.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiforge.data import (
    ContractError,
    ContractReport,
    LoadedSource,
    PiiReport,
    SnapshotLog,
    SnapshotRecord,
    check_contract,
    combine_sources,
    mask_violations,
    protect,
    read_sources,
    resumes,
)
from aiforge.errors import DataError
from aiforge.evaluate import METRICS, Metric, default_metric
from aiforge.learn import FeatureSet, TaskInfo, choose_features, resolve_task
from aiforge.pipeline._decision import project_decision_problems
from aiforge.pipeline._project import _raise, check_metrics_for_task, sensitive_attributes
from aiforge.spec import FieldPath, ProjectFile, TaskKind

if TYPE_CHECKING:
    import pyarrow as pa

    from aiforge.workspace import Workspace, WorkspaceSettings

__all__ = ["Preflight", "preflight", "preflight_in", "transform"]


@dataclass(frozen=True)
class Preflight:
    """The project file and its data, read and checked, before anything is written."""

    project: ProjectFile
    sources: list[LoadedSource]
    table: pa.Table
    task: TaskInfo
    features: FeatureSet
    objective: Metric
    previous: SnapshotRecord | None = None  # the project's latest snapshot, where incremental sources resume
    contract: ContractReport | None = None  # data.contract, checked (it passed)
    pii: PiiReport | None = None  # personal data found, data.pii applied, data.k_anonymity checked



def preflight(project: ProjectFile, extra: Sequence[LoadedSource] = (), *, previous: SnapshotRecord | None = None,
              load: Callable[[str], bytes] | None = None, accept_schema_change: bool = False) -> Preflight:
    """Read every source and check the target, task, KPIs and features. Writes nothing. ``extra``: sources
    read elsewhere (labelled production rows, for a retrain) stacked after the project's own; ``previous``:
    the project's latest snapshot, from whose watermarks incremental sources are read (``load`` fetches the
    rows they ingested before), and whose record of each source's columns they are checked against (a column
    gone or retyped upstream raises ``SchemaChanged`` unless ``accept_schema_change``)."""
    spec = project.spec
    own = read_sources(spec.data.sources, project.base_dir, previous, load, accept_schema_change=accept_schema_change)
    table, pii = _protected(project, _steps(project, own))
    sources = [*own, *extra]
    if extra:  # rows logged in production are model inputs already: stacked after the steps
        table = combine_sources([LoadedSource("data", table, "", "the sources after data.steps"), *extra])
    contract = mask_violations(check_contract(table, spec.data.contract), pii)
    if not contract.passed:
        raise ContractError(contract, where=project.where(("data", "contract")))
    task = resolve_task(spec.problem, table, where=project.where(("problem", "target")))
    check_metrics_for_task(project, task.kind)
    _check_cv_columns(project, table, task)
    _check_fairness(project, table, task)
    _raise(project_decision_problems(project, table, regression=task.kind is TaskKind.REGRESSION))
    search = spec.model.search
    exclude = {search.group_column: "it holds the cross-validation groups"} if search.group_column else {}
    _check_text_columns(project, table)
    features = _text_for_learners(project, choose_features(table, spec.problem.target, exclude,
                                                           spec.data.text_columns))
    if task.kind is TaskKind.TEXT_GENERATION:  # a generator reads its source text, nothing else
        from dataclasses import replace

        why = "text generation reads data.text_columns only"
        features = replace(features, numeric=[], categorical=[], ignored={
            **features.ignored, **{name: why for name in [*features.numeric, *features.categorical]}})
    if not features.columns:
        raise DataError(
            "no usable input columns besides the target",
            where=", ".join(s.location for s in sources),
            found="; ".join(f"{k}: {v}" for k, v in features.ignored.items()) or "only the target column",
            hint="add feature columns to the data",
        )
    labelled = table.num_rows - task.dropped_rows
    folds = 2 if spec.model.search.cv == "auto" else spec.model.search.cv
    if labelled < 2 * folds:
        raise DataError(
            f"too few labelled rows ({labelled}) for {folds}-fold cross-validation",
            where=", ".join(s.location for s in sources), hint="add rows or lower model.search.cv",
        )
    return Preflight(project, sources, table, task, features, _objective(project, task), previous, contract, pii)


def preflight_in(project: ProjectFile, settings: Callable[[], WorkspaceSettings],
                 extra: Sequence[LoadedSource] = (), *, history: bool = True,
                 accept_schema_change: bool = False, new_pseudonym_key: bool = False) -> Preflight:
    """``preflight`` against the project's latest snapshot in a workspace: sources that resume (incremental ones,
    streams) are read from there on, every source is checked against the columns recorded of it there (a schema
    change upstream), and data.pii's pseudonymisation key against the key of the last snapshot made with one (a
    wrong key gives other tokens; ``new_pseudonym_key``: it was replaced on purpose). Read only. ``history=False``:
    the workspace is consulted (``settings`` called and the database opened) only for a project whose sources
    resume, so checking any other stays light ('aiforge validate'). A workspace that does not exist yet holds no
    snapshot; one that cannot be opened (a missing or wrong encryption key) is an error."""
    if not history and not any(resumes(s) for s in project.spec.data.sources):
        return preflight(project, extra, accept_schema_change=accept_schema_change)
    from aiforge.workspace import Workspace

    chosen = settings()
    if not chosen.exists:
        return preflight(project, extra, accept_schema_change=accept_schema_change)  # everything is new
    ws = Workspace.open(chosen, create=False)
    try:
        checked = preflight(project, extra, previous=SnapshotLog(ws).latest(project.spec.name),
                            load=ws.artifacts.get_bytes, accept_schema_change=accept_schema_change)
        if checked.pii is not None and checked.pii.key_id is not None and not new_pseudonym_key:
            _check_pseudonym_key(project, checked.pii.key_id, _pseudonym_key_before(ws, project.spec.name))
        return checked
    finally:
        ws.close()


def _pseudonym_key_before(ws: Workspace, project: str) -> tuple[str, str] | None:
    """The fingerprint of the pseudonymisation key of the project's latest snapshot made with one, and that
    snapshot (from its ingest stage's record; snapshots made without a run, by an erasure, are passed over)."""
    from sqlalchemy import select

    from aiforge.workspace import StageRow

    for record in SnapshotLog(ws).history(project, limit=20):
        with ws.session() as s:
            outputs = s.scalars(select(StageRow.outputs).where(StageRow.run_id == record.run_id,
                                                               StageRow.name == "ingest")).first()
        snapshot = (outputs or {}).get("snapshot") or {}
        if snapshot.get("id") == record.snapshot:
            key = (snapshot.get("pii") or {}).get("key_id")
            return (key, record.snapshot) if key else None
    return None


def _check_pseudonym_key(project: ProjectFile, key: str, before: tuple[str, str] | None) -> None:
    if before is None or before[0] == key:
        return
    index, action = next((i, a) for i, a in enumerate(project.spec.data.pii) if a.action == "pseudonymise")
    raise DataError(
        f"the pseudonymisation key in {action.key_env} is not the one the last snapshot was made with",
        where=project.where(("data", "pii", index, "key_env")),
        expected=f"the key with fingerprint {before[0]} (snapshot {before[1][:12]})",
        found=f"a key with fingerprint {key}",
        hint=f"export the key used before in {action.key_env}: another key gives every value another token, so "
        "tokens no longer match across snapshots and joined tables; if it was replaced on purpose, rerun with "
        "--new-pseudonym-key")


def transform(project: ProjectFile, sources: Sequence[LoadedSource]) -> pa.Table:
    """The sources stacked (those no join names), then ``data.steps`` run in DuckDB, then ``data.pii``."""
    table = _steps(project, sources)
    if not project.spec.data.pii:
        return table
    data = project.spec.data.model_copy(update={"k_anonymity": None})  # the same columns, nothing checked
    return protect(table, data, os.environ, where=project.where, detect=False).table


def _protected(project: ProjectFile, table: pa.Table) -> tuple[pa.Table, PiiReport]:
    """``table`` with data.pii applied, and what was found and done: before any contract or snapshot sees it."""
    protected = protect(table, project.spec.data, os.environ, where=project.where)
    return protected.table, protected.report


def _steps(project: ProjectFile, sources: Sequence[LoadedSource]) -> pa.Table:
    from aiforge.spec import JoinStep

    steps = project.spec.data.steps
    joined = {step.join.source for step in steps if isinstance(step, JoinStep)}
    table = combine_sources([s for s in sources if s.name not in joined])
    if not steps:
        return table
    from aiforge.data import run_steps

    return run_steps(table, {s.name: s.table for s in sources if s.name in joined}, steps,
                     base_dir=project.base_dir).table


def _objective(project: ProjectFile, task: TaskInfo) -> Metric:
    spec = project.spec
    if spec.model.search.metric:
        return METRICS[spec.model.search.metric]
    tuned = spec.model.threshold is not None  # decisions are tuned later: rank by a threshold-free metric
    for kpi in spec.kpis:
        metric = METRICS.get(kpi.metric)
        if metric is not None and task.kind in metric.tasks and not (tuned and metric.labels):
            return metric
    return default_metric(task.kind)


def _check_cv_columns(project: ProjectFile, table: pa.Table, task: TaskInfo) -> None:
    search = project.spec.model.search
    for field_name, column in (("group_column", search.group_column), ("time_column", search.time_column)):
        if column is not None and column not in table.column_names:
            raise DataError(
                f"{field_name} '{column}' is not a column of the data",
                where=project.where(("model", "search", field_name)),
                expected=f"one of {', '.join(table.column_names[:30])}", found=column,
            )
    if search.cv_strategy == "stratified" and not task.kind.is_classification:
        raise DataError(
            "cv_strategy: stratified needs a classification task", where=project.where(("model", "search",
            "cv_strategy")), found=f"a {task.kind.value} task", hint="use cv_strategy: kfold or auto",
        )


def _check_text_columns(project: ProjectFile, table: pa.Table) -> None:
    """``data.text_columns`` names string input columns of the data."""
    from aiforge.nlp._columns import is_string_type

    for i, name in enumerate(project.spec.data.text_columns or []):
        where = project.where(("data", "text_columns", i))
        if name not in table.column_names:
            raise DataError(f"text column '{name}' is not a column of the data", where=where,
                            expected=f"one of {', '.join(table.column_names[:30])}", found=name,
                            hint="name a column of the data after data.steps")
        if name == project.spec.problem.target:
            raise DataError(f"text column '{name}' is the target", where=where, hint="name an input column")
        if not is_string_type(table.column(name).type):
            raise DataError(f"text column '{name}' does not hold text", where=where, expected="a string column",
                            found=f"a column of type {table.column(name).type}",
                            hint="remove it from data.text_columns, or cast it to text (a cast step)")


def _text_for_learners(project: ProjectFile, features: FeatureSet) -> FeatureSet:
    """Text columns, when no candidate learner reads text, are ignored (saying which learners do)."""
    from dataclasses import replace

    from aiforge.learn import LEARNERS

    if not features.text or any(n in LEARNERS and LEARNERS[n].reads_text for n in project.spec.model.learners):
        return features
    task = project.spec.problem.task  # the readers that take this task (auto: a label or a number)
    readers = sorted(n for n, cls in LEARNERS.items() if cls.reads_text and (
        task in cls.tasks or task is TaskKind.AUTO and cls.tasks - {TaskKind.TEXT_GENERATION}))
    why = f"free text, and no learner in model.learners reads text (add one of: {', '.join(readers)})"
    return replace(features, ignored={**features.ignored, **{name: why for name in features.text}}, text=(),
                   text_reasons=())


def _check_fairness(project: ProjectFile, table: pa.Table, task: TaskInfo) -> None:
    fairness = project.spec.checks.fairness
    for name in sensitive_attributes(project):
        if name not in table.column_names:
            path: FieldPath = next((("kpis", i, "sensitive") for i, k in enumerate(project.spec.kpis)
                                    if k.sensitive == name), ("checks", "fairness", "sensitive"))
            raise DataError(
                f"sensitive attribute '{name}' is not a column of the data", where=project.where(path),
                expected=f"one of {', '.join(table.column_names[:30])}", found=name,
                hint="name the column that holds the attribute (it need not be a model input)",
            )
        if name == project.spec.problem.target:
            raise DataError(f"sensitive attribute '{name}' is the target", where=project.where(
                ("checks", "fairness", "sensitive")), hint="name an input column")
    if fairness.mitigation == "none":
        return
    where = project.where(("checks", "fairness", "mitigation"))
    if not sensitive_attributes(project):
        raise DataError(f"mitigation: {fairness.mitigation} needs a sensitive attribute to protect", where=where,
                        hint="set checks.fairness.sensitive: [column]")
    if not task.kind.is_classification or (fairness.mitigation != "reweighing" and task.kind.value != "binary"):
        needs = "a classification" if fairness.mitigation == "reweighing" else "a binary"
        raise DataError(f"mitigation: {fairness.mitigation} needs {needs} task", where=where,
                        found=f"a {task.kind.value} task", hint="set checks.fairness.mitigation: none")
