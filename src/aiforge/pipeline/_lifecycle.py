"""The tabular life cycle: ingest -> validate -> split -> train -> evaluate -> gate -> register -> report.

``preflight`` checks the input first, so a bad project file or bad data changes nothing.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.data import (
    DatasetSnapshot,
    DataSplit,
    LoadedSource,
    SnapshotLog,
    make_split,
    source_records,
    write_snapshot,
)
from aiforge.errors import AiforgeError
from aiforge.evaluate import (
    METRICS,
    CheckContext,
    CheckResult,
    Evaluation,
    GateVerdict,
    Metric,
    decided,
    evaluate_gate,
    evaluate_model,
    run_checks,
)
from aiforge.learn import SelectionReport, TaskInfo, ThresholdGoal, TrialRecord, select_and_fit
from aiforge.pipeline._preflight import Preflight, preflight_in
from aiforge.pipeline._project import sensitive_attributes
from aiforge.pipeline._reference import reference_document
from aiforge.pipeline._runner import Progress, RunRecorder, RunStatus
from aiforge.registry import ModelRegistry, ModelVersion
from aiforge.spec import ModelSpec, ProjectFile
from aiforge.workspace import Executor, Workspace, WorkspaceSettings

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["RunResult", "code_version", "library_versions", "run_project"]

_LIBRARIES = ("numpy", "pandas", "pyarrow", "scikit-learn", "lightgbm", "joblib", "torch")  # torch: the deep extra


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: RunStatus
    task: TaskInfo
    selection: SelectionReport
    evaluation: Evaluation
    verdict: GateVerdict
    version: ModelVersion
    report_path: Path
    checks: dict[str, CheckResult]

    def _repr_html_(self) -> str:
        """The run's outcome as Jupyter shows it: status, then the registered version and its KPI gate."""
        from aiforge.evaluate import html
        from aiforge.pipeline._html import result_html

        return html.fragment(result_html(self))


def run_project(
    project: ProjectFile, settings: WorkspaceSettings, *, force: bool = False, progress: Progress | None = None,
    extra_sources: Sequence[LoadedSource] = (), accept_schema_change: bool = False, new_pseudonym_key: bool = False,
) -> RunResult:
    """Run the whole life cycle; the model is registered as candidate or, if a KPI fails, rejected.
    ``extra_sources``: rows read elsewhere (a retrain's labelled production rows), stacked after the
    project's sources and recorded in the snapshot's lineage. A source whose columns changed since the last
    snapshot stops the run before anything is written (``data.SchemaChanged``), unless ``accept_schema_change``; so
    does a pseudonymisation key other than the last snapshot's, unless ``new_pseudonym_key``."""
    checked = preflight_in(project, lambda: settings, extra_sources, accept_schema_change=accept_schema_change,
                           new_pseudonym_key=new_pseudonym_key)
    workspace = Workspace.open(settings)
    try:
        recorder = RunRecorder.start(workspace, project, code_version=code_version(), force=force,
                                     progress=progress)
        try:
            result = _stages(checked, workspace, recorder)
        except KeyboardInterrupt:
            recorder.finish(RunStatus.INTERRUPTED, error="interrupted by the user")
            raise
        except AiforgeError as exc:
            recorder.finish(RunStatus.FAILED, error=exc.render())
            raise
        except BaseException as exc:
            recorder.finish(RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
            raise
        return result
    finally:
        workspace.close()


def _stages(pf: Preflight, ws: Workspace, rec: RunRecorder) -> RunResult:
    spec = pf.project.spec
    store = ws.artifacts
    target = spec.problem.target

    def ingest(step: Any) -> dict[str, Any]:
        snap = write_snapshot(pf.table, pf.sources, store, pii=pf.pii)
        sources = source_records(pf.sources, store)
        log = SnapshotLog(ws)
        latest = log.latest(spec.name)
        if latest is None or latest.snapshot != snap.id:
            log.record(spec.name, snap.id, run_id=rec.run_id, rows=snap.n_rows, sources=sources,
                       parent=latest.snapshot if latest is not None else None)
        for source in pf.sources:  # durable now: a stream may acknowledge what it read
            if source.commit is not None:
                source.commit()
        rows = [s["rows_artifact"] for s in sources if s.get("rows_artifact")]
        return {"snapshot": snap.to_json(), "sources": sources, "_artifacts": [snap.id, *rows]}

    ingest_key = {"sources": [s.content_hash for s in pf.sources],
                  "spec": [s.model_dump(mode="json") for s in spec.data.sources]}
    if spec.data.steps:
        ingest_key["steps"] = [s.model_dump(mode="json") for s in spec.data.steps]
    if spec.data.pii or pf.pii is not None and pf.pii.findings:  # what is kept of personal data, and its report
        ingest_key["pii"] = {"actions": [a.model_dump(mode="json") for a in spec.data.pii],
                             "policy": spec.data.pii_policy.model_dump(mode="json"),
                             "key": pf.pii.key_id if pf.pii is not None else None}
    if len(pf.sources) > len(spec.data.sources):
        ingest_key["extra"] = [s.location for s in pf.sources[len(spec.data.sources):]]
    ingested = rec.stage(
        "ingest", ingest_key, ingest, note=lambda o: f"snapshot {o['snapshot']['id'][:12]}, "
        f"{o['snapshot']['n_rows']} rows")
    snap = DatasetSnapshot.from_json(ingested["snapshot"])

    validate_key = {"snapshot": snap.id, "problem": spec.problem.model_dump(mode="json")}
    rec.stage("validate", validate_key, lambda step: {"task": pf.task.to_json(),
              "features": {"numeric": pf.features.numeric, "categorical": pf.features.categorical,
                           "ignored": pf.features.ignored, "text": dict(pf.features.text_reasons)}},
              note=lambda o: o["task"]["reason"])

    frame: pd.DataFrame | None = None

    def labelled() -> pd.DataFrame:
        nonlocal frame
        if frame is None:
            data = snap.load(store)
            frame = data[data[target].notna()].reset_index(drop=True)
        return frame

    split_key = {"snapshot": snap.id, "split": spec.data.split.model_dump(mode="json"),
                 "target": target, "task": pf.task.to_json()}

    def do_split(step: Any) -> dict[str, Any]:
        s = make_split(labelled()[target], spec.data.split, classification=pf.task.kind.is_classification,
                       store=store)
        return {"split": s.to_json(), "_artifacts": [s.artifact]}

    split = DataSplit.from_json(rec.stage(
        "split", split_key, do_split,
        note=lambda o: f"{o['split']['n_train']} train / {o['split']['n_test']} test rows")["split"])

    train_key = {**split_key, "split_artifact": split.artifact, "model": spec.model.model_dump(mode="json"),
                 "features": pf.features.columns, "objective": pf.objective.name,
                 "libraries": library_versions(), "code": code_version()}

    def train(step: Any) -> dict[str, Any]:
        import joblib

        started = time.perf_counter()
        budget = spec.model.search.budget
        shown = {"objective": pf.objective.name, "higher_is_better": pf.objective.higher_is_better,
                 "budget_seconds": budget.seconds, "budget_trials": budget.trials}

        def on_trial(record: TrialRecord) -> None:
            rec.progress.stage_trial("train", {**record.to_json(), **shown,
                                               "elapsed": time.perf_counter() - started})

        train_idx, _ = split.indices(store)
        data = labelled().iloc[train_idx]
        where = spec.workspace  # the environment's AIFORGE_EXECUTOR / AIFORGE_RAY_ADDRESS over the project file's
        executor = Executor.choose(ws.settings, where.executor, where.address, where.trials_in_flight,
                                   where.cpus_per_task)
        model, selection = select_and_fit(data, data[target], pf.task, pf.features, spec.model,
                                          pf.objective.objective(), threshold_goal=threshold_goal(spec.model),
                                          on_step=step, on_trial=on_trial, executor=executor)
        buf = io.BytesIO()
        joblib.dump(model, buf)
        digest = store.put_bytes(buf.getvalue())
        return {"model": digest, "selection": selection.to_json(), "trained_in_run": rec.run_id,
                "_artifacts": [digest]}

    trained = rec.stage("train", train_key, train,
                        note=lambda o: f"best {o['selection']['best']} "
                        f"({o['selection']['objective']} {o['selection']['best_score']:.4f} in CV, "
                        f"{len(o['selection']['trials'])} trials)")
    selection = SelectionReport.from_json(trained["selection"])
    fairness = spec.checks.fairness
    sensitive = sensitive_attributes(pf.project)
    served = trained["model"]  # the artifact registered: the trained model, or its compressed or mitigated version
    compressed: dict[str, Any] | None = None
    compress_spec = spec.model.compress
    if compress_spec is not None:  # the compressed network is then the model evaluated, gated and registered
        from aiforge.pipeline._compression import compress_stage, compression_note

        def compress(step: Any) -> dict[str, Any]:
            train_idx, test_idx = split.indices(store)
            data = labelled()
            return compress_stage(store.get_bytes(trained["model"]), compress_spec, data.iloc[train_idx],
                                  data.iloc[test_idx], target, pf.objective, spec.model.seed, store.put_bytes, step)

        compress_key = {"model": trained["model"], "split": split.artifact, "objective": pf.objective.name,
                        "compress": compress_spec.model_dump(mode="json"), "libraries": library_versions(),
                        "code": code_version()}
        compressed = rec.stage("compress", compress_key, compress, note=compression_note)
        served = compressed["model"] or served
    mitigated: dict[str, Any] | None = None
    if fairness.mitigation != "none":
        attribute = fairness.attribute or sensitive[0]

        def mitigate(step: Any) -> dict[str, Any]:
            import joblib

            from aiforge.learn import mitigate as mitigate_model

            model = joblib.load(io.BytesIO(store.get_bytes(trained["model"])))
            train_idx, _ = split.indices(store)
            data = labelled().iloc[train_idx]
            fair = mitigate_model(model, data, data[target], method=fairness.mitigation,
                                  constraint=fairness.constraint, attribute=attribute, eps=fairness.eps,
                                  seed=spec.model.seed, n_jobs=spec.model.n_jobs, on_step=step)
            buf = io.BytesIO()
            joblib.dump(fair, buf)
            digest = store.put_bytes(buf.getvalue())
            return {"model": digest, "learner": fair.learner, "method": fairness.mitigation,
                    "attribute": attribute, "_artifacts": [digest]}

        mitigate_key = {"model": trained["model"], "split": split.artifact, "attribute": attribute,
                        "fairness": fairness.model_dump(mode="json"), "code": code_version()}
        mitigated = rec.stage("mitigate", mitigate_key, mitigate,
                              note=lambda o: f"{o['learner']} protects {o['attribute']}")
        served = mitigated["model"]
    learner_name = mitigated["learner"] if mitigated else selection.best

    def evaluate(step: Any) -> dict[str, Any]:
        import joblib

        model = joblib.load(io.BytesIO(store.get_bytes(served)))
        train_idx, test_idx = split.indices(store)
        data = labelled()
        test = data.iloc[test_idx]
        ev = evaluate_model(model, test, test[target], data.iloc[train_idx][target], primary=pf.objective,
                            importance=spec.checks.importance, seed=spec.model.seed)
        inference, onnx = _inference_path(model, test, store)
        reference = store.put_bytes(reference_document(model, data.iloc[train_idx], test, model.input_columns))
        return {"evaluation": ev.to_json(), "inference": inference, "input_columns": model.input_columns,
                "reference": reference, "_artifacts": [reference, *([onnx] if onnx else [])],
                **({"onnx": onnx} if onnx else {})}

    eval_key = {"model": served, "split": split.artifact,
                "checks": spec.checks.importance.model_dump(mode="json"), "objective": pf.objective.name,
                "inference": _inference_key(), "reference": REFERENCE_FORMAT}
    evaluated = rec.stage(
        "evaluate", eval_key, evaluate,
        note=lambda o: ", ".join(f"{k} {v:.4f}" for k, v in list(o["evaluation"]["metrics"].items())[:3]))
    evaluation = Evaluation.from_json(evaluated["evaluation"])
    compared = _compare(pf, rec, store, served, trained["model"], selection, split, labelled) \
        if spec.model.compare else None
    decided_bundle = _decide(pf, rec, store, served, split, labelled) if spec.decision is not None else None
    costs = {name: out["_cost"] for name, out in (("ingest", ingested), ("train", trained), ("compress", compressed),
                                                   ("mitigate", mitigated), ("evaluate", evaluated))
             if out and "_cost" in out}

    def run_trust_checks(step: Any) -> dict[str, Any]:
        import joblib

        model = joblib.load(io.BytesIO(store.get_bytes(served)))
        reference = joblib.load(io.BytesIO(store.get_bytes(trained["model"]))) if mitigated else None
        train_idx, test_idx = split.indices(store)
        data = labelled()
        ctx = CheckContext(model=model, train=data.iloc[train_idx], test=data.iloc[test_idx], target=target,
                           task=pf.task.kind, primary=pf.objective, seed=spec.model.seed, checks=spec.checks,
                           sensitive=sensitive, reference=reference, stages=costs,
                           extra={"trials": selection.trials, "cv_folds": selection.cv_folds})
        results = run_checks(ctx, on_step=step)
        return {"checks": {name: r.to_json() for name, r in results.items()}}

    checks_key = {"model": served, "split": split.artifact, "checks": spec.checks.model_dump(mode="json"),
                  "sensitive": sensitive, "objective": pf.objective.name, "code": code_version()}
    checked = rec.stage("checks", checks_key, run_trust_checks, note=lambda o: _checks_note(o["checks"]))
    checks = {name: CheckResult.from_json(r) for name, r in checked["checks"].items()}
    if compressed is not None:  # measured by the compress stage; shown, gated and carried like a check
        checks["compression"] = CheckResult.from_json(compressed["check"])
    figures = {**evaluation.metrics, **{k: v for r in checks.values() for k, v in r.metrics.items()}}

    verdict = GateVerdict.from_json(rec.stage(
        "gate", None, lambda step: {"verdict": evaluate_gate(spec.kpis, figures).to_json()},
        cacheable=False, note=lambda o: GateVerdict.from_json(o["verdict"]).summary())["verdict"])

    refitted = _refit_full(pf, rec, store, served, selection, split, labelled) \
        if spec.model.refit_full and verdict.passed else None
    inference = refitted or evaluated  # how the registered model is served: the refit's own record
    lineage = {
        "project_file": str(pf.project.path.absolute()), "spec_hash": pf.project.sha256,
        "snapshot": snap.id, "split": split.artifact, "code_version": code_version(),
        "libraries": library_versions(), "seeds": {"split": spec.data.split.seed, "model": spec.model.seed},
        "parent_run": trained["trained_in_run"], "run": rec.run_id,
        "inference": inference.get("inference"),
    }
    if refitted is not None:
        lineage["refit_full"] = {"evaluated_model": served, "rows": refitted["rows"],
                                 "training_rows": split.n_train}
    if compressed is not None:
        lineage["compression"] = compressed["record"]
    if decided_bundle is not None:
        lineage["decision"] = {"networks": decided_bundle["networks"], "reference": decided_bundle["reference"]}
    registry = ModelRegistry(ws)

    def card(number: int) -> dict[str, str]:
        from aiforge.evaluate import ModelCard, render_model_card

        markdown, html = render_model_card(ModelCard(
            name=spec.name, version=str(number), status="accepted" if verdict.passed else "rejected",
            learner=learner_name, task=pf.task.kind.value, target=target, description=spec.problem.description,
            created_at=f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC",
            positive_class=str(pf.task.classes[1]) if pf.task.kind.value == "binary" else None,
            data={"snapshot": snap.id, "rows": snap.n_rows, "columns_used": pf.features.columns,
                  "columns_ignored": pf.features.ignored, "split": {"train": split.n_train, "test": split.n_test}},
            metrics=evaluation.metrics, baseline=evaluation.baseline, gate=verdict.to_json(),
            checks={name: r.to_json() for name, r in checks.items()}, lineage=lineage,
        ))
        return {"card_md": store.put_bytes(markdown.encode()), "card_html": store.put_bytes(html.encode()),
                "background": background, **({"onnx": inference["onnx"]} if inference.get("onnx") else {}),
                **({"reference": evaluated["reference"]} if evaluated.get("reference") else {}),
                **({"decision": decided_bundle["bundle"]} if decided_bundle is not None else {})}

    # once, before registering: only the card needs the version number
    background = store.put_bytes(_background_rows(evaluated.get("input_columns", pf.features.columns), split,
                                                  store, labelled(), spec.model.seed))

    def register(step: Any) -> dict[str, Any]:
        v = registry.register(name=spec.name, run_id=rec.run_id, artifact=refitted["model"] if refitted else served,
                              learner=learner_name, metrics=figures, gate=verdict.to_json(),
                              lineage=lineage, accepted=verdict.passed, documents=card)
        return {"name": v.name, "version": v.version, "status": v.status.value,
                "alias": v.alias.value if v.alias else None, "documents": v.documents}

    registered = rec.stage("register", None, register, cacheable=False,
                           note=lambda o: f"{o['name']} v{o['version']} {o['status']}")
    version = registry.get(registered["name"], registered["version"])

    def report(step: Any) -> dict[str, Any]:
        from aiforge.evaluate import ReportInput, render_report

        html = render_report(ReportInput(
            project=spec.name, description=spec.problem.description, run_id=rec.run_id,
            started_at=f"{version.created_at:%Y-%m-%d %H:%M:%S} UTC", target=target, task=pf.task,
            snapshot=snap, split=split, selection=selection, evaluation=evaluation, verdict=verdict,
            model=registered, lineage=lineage, checks=checks, mitigation=mitigated,
            comparison=compared["comparison"] if compared else None,
        )).encode()
        digest = store.put_bytes(html)
        path = ws.reports_dir / f"{rec.run_id}.html"
        if not ws.encrypted:  # an encrypted workspace keeps no plaintext copy; 'aiforge report' writes one on request
            _write_atomically(path, html)
        return {"artifact": digest, "path": str(path)}

    reported = rec.stage("report", None, report, cacheable=False, note=lambda o: o["path"])
    status = RunStatus.SUCCEEDED if verdict.passed else RunStatus.REJECTED
    rec.finish(status, summary={
        "task": pf.task.kind.value, "learner": learner_name, "metrics": figures,
        "passed": verdict.passed, "gate": verdict.summary(), "model": registered,
        "report": reported["path"], "report_artifact": reported["artifact"],
    })
    return RunResult(rec.run_id, status, pf.task, selection, evaluation, verdict, version,
                     Path(reported["path"]), checks)


def _compare(pf: Preflight, rec: RunRecorder, store: Any, served: str, trained: str, selection: SelectionReport,
             split: DataSplit, labelled: Callable[[], pd.DataFrame]) -> dict[str, Any]:
    """The ``compare`` stage (``model.compare``): every learner's best trial refit and measured beside the rest."""
    from aiforge.pipeline._comparison import compare_stage, comparison_note

    spec, target = pf.project.spec, pf.project.spec.problem.target

    def compare(step: Any) -> dict[str, Any]:
        train_idx, test_idx = split.indices(store)
        data = labelled()
        return compare_stage(spec, selection, store.get_bytes(served),
                             served == trained and selection.best in spec.model.learners,
                             data.iloc[train_idx], data.iloc[test_idx], target, pf.task, pf.features, pf.objective,
                             step)

    key = {"model": served, "trained": trained, "split": split.artifact, "objective": pf.objective.name,
           "energy": spec.checks.energy.model_dump(mode="json"), "libraries": library_versions(),
           "code": code_version()}
    return rec.stage("compare", key, compare, note=comparison_note)


def _decide(pf: Preflight, rec: RunRecorder, store: Any, served: str, split: DataSplit,
            labelled: Callable[[], pd.DataFrame]) -> dict[str, Any]:
    """The ``decide`` stage (``decision:`` in the project file): networks fitted, the held-out rows decided."""
    from aiforge.pipeline._decision import decide_stage, decision_note

    spec = pf.project.spec

    def decide(step: Any) -> dict[str, Any]:
        train_idx, test_idx = split.indices(store)
        data = labelled()
        return decide_stage(store.get_bytes(served), pf.project, data.iloc[train_idx], data.iloc[test_idx],
                            store.put_bytes)

    key = {"model": served, "split": split.artifact, "decision": spec.decision.model_dump(mode="json")
           if spec.decision else None, "libraries": library_versions(), "code": code_version()}
    return rec.stage("decide", key, decide, note=decision_note)


BACKGROUND_ROWS = 100
REFERENCE_FORMAT = 1  # the evaluate stage's cache key: a cached evaluation without a reference is redone
PARITY_ROWS = 2000


def _refit_full(pf: Preflight, rec: RunRecorder, store: Any, served: str, selection: SelectionReport,
                split: DataSplit, labelled: Callable[[], pd.DataFrame]) -> dict[str, Any]:
    """The ``refit`` stage (``model.refit_full``): the evaluated model's configuration refit on the training
    and test rows, with its own serving path chosen on test rows as the evaluated model's was."""
    spec = pf.project.spec

    def refit(step: Any) -> dict[str, Any]:
        import joblib

        from aiforge.learn import refit_full

        model = joblib.load(io.BytesIO(store.get_bytes(served)))
        data = labelled()
        train_idx, test_idx = split.indices(store)
        step(f"refit {model.learner} on {len(data):,} rows (training {split.n_train:,} + test {split.n_test:,})")
        full = refit_full(model, selection, data, data[spec.problem.target], pf.task, spec.model,
                          fitted_rows=len(train_idx))
        buf = io.BytesIO()
        joblib.dump(full, buf)
        digest = store.put_bytes(buf.getvalue())
        inference, onnx = _inference_path(full, data.iloc[test_idx], store)
        return {"model": digest, "rows": len(data), "inference": inference,
                "_artifacts": [digest, *([onnx] if onnx else [])], **({"onnx": onnx} if onnx else {})}

    key = {"model": served, "split": split.artifact, "model_spec": spec.model.model_dump(mode="json"),
           "inference": _inference_key(), "libraries": library_versions(), "code": code_version()}
    return rec.stage("refit", key, refit, note=lambda o: f"registered model refit on {o['rows']:,} rows")


def _inference_path(model: Any, test: pd.DataFrame, store: Any) -> tuple[dict[str, Any], str | None]:
    """How the model will be served (ONNX Runtime, the compiled fast path, or the native one), chosen on
    test rows by parity with the native model and latency (``learn.plan_inference``): the record is
    registered with the version, so serving is known to be faithful; with the digest of the ONNX model
    stored when ONNX Runtime serves."""
    from aiforge.learn import plan_inference

    plan = plan_inference(model, test.head(PARITY_ROWS))
    return plan.record, store.put_bytes(plan.onnx) if plan.onnx is not None else None


def _inference_key() -> dict[str, Any]:
    """What the choice of a serving path depends on besides the model and the rows: the ONNX packages."""
    from aiforge.learn import onnx_versions

    return {"onnx": onnx_versions() or "not installed"}


def _background_rows(columns: list[str], split: DataSplit, store: Any, data: pd.DataFrame, seed: int) -> bytes:
    """A seeded sample of training rows (the model's input ``columns``) as Parquet: what explanations of a
    registered model compare a record with ("column unknown")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    train_idx, _ = split.indices(store)
    rows = data.iloc[train_idx][columns]
    sample = rows.sample(n=min(BACKGROUND_ROWS, len(rows)), random_state=seed)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(sample, preserve_index=False), buf)
    return buf.getvalue()


def _checks_note(checks: dict[str, Any]) -> str:
    parts = []
    for name, r in checks.items():
        if r["status"] == "ok":
            parts.append(name)
        elif r["status"] == "failed":
            parts.append(f"{name} FAILED")
    skipped = [n for n, r in checks.items() if r["status"] == "skipped"]
    return ", ".join(parts) + (f" (skipped: {', '.join(skipped)})" if skipped else "")


def threshold_goal(model: ModelSpec) -> ThresholdGoal | None:
    """The project's threshold section as scores of (truth, positive probability, threshold)."""
    spec = model.threshold
    if spec is None:
        return None
    target = METRICS[spec.maximise]

    def at(metric: Metric) -> Callable[[np.ndarray, np.ndarray, float], float]:
        import numpy as np

        return lambda y, p, t: metric(y, decided(np.column_stack([1 - p, p]), t))

    bound = spec.subject_to
    return ThresholdGoal(
        label=spec.maximise, score=at(target),
        constraint=at(METRICS[bound.metric]) if bound else None,
        minimum=bound.min if bound else None, maximum=bound.max if bound else None,
        constraint_label=f"{bound.metric} {'>= ' + str(bound.min) if bound.min is not None else ''}"
        f"{' <= ' + str(bound.max) if bound.max is not None else ''}".strip() if bound else None,
    )


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


_CODE_VERSION: str | None = None


def code_version() -> str:
    """aiforge's version, plus the git commit of its source tree when it runs from a checkout."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        version = metadata.version("aiforge")
        src = Path(__file__).resolve().parents[1]
        try:
            commit = subprocess.run(
                ["git", "-C", str(src), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                timeout=5, check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
        _CODE_VERSION = f"{version}+g{commit}" if commit else version
    return _CODE_VERSION
