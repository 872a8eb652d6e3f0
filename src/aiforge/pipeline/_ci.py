"""``aiforge ci``: the life cycle as a pull request's check.

The project is validated and run (its KPI gate decides, as always); then the candidate and the version that
holds ``production`` are scored by one metric on the same held-out rows, the candidate's own test split, and
the candidate may score at most ``ci.tolerance`` worse. The outcome renders as Markdown for a pull-request
comment. The production model never saw those rows only if it was trained on the same snapshot and split
seed; with data that changed since, its score may be optimistic, which makes the comparison stricter, never
laxer, for the candidate.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

from aiforge.errors import AiforgeError
from aiforge.evaluate import METRICS, compute_metrics, default_metric
from aiforge.pipeline._lifecycle import RunResult, run_project
from aiforge.pipeline._runner import Progress
from aiforge.pipeline._runs import get_run
from aiforge.registry import Alias, ModelRegistry, ModelVersion
from aiforge.spec import ProjectFile, TaskKind
from aiforge.workspace import Workspace, WorkspaceSettings

__all__ = ["CiOutcome", "ProductionComparison", "comparison_metric", "error_markdown", "run_ci"]


@dataclass(frozen=True)
class ProductionComparison:
    """The candidate and the production version scored by ``metric`` on the same ``rows`` held-out rows."""

    metric: str
    higher_is_better: bool
    rows: int
    production_version: int
    production: float
    candidate: float
    tolerance: float

    @property
    def difference(self) -> float:
        """How much better the candidate scores (negative: worse), in the metric's direction."""
        gap = self.candidate - self.production
        return gap if self.higher_is_better else -gap

    @property
    def passed(self) -> bool:
        if not math.isfinite(self.candidate):
            return False
        return not math.isfinite(self.production) or self.difference >= -self.tolerance

    def to_json(self) -> dict[str, Any]:
        def plain(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {"metric": self.metric, "higher_is_better": self.higher_is_better, "rows": self.rows,
                "production_version": self.production_version, "production": plain(self.production),
                "candidate": plain(self.candidate), "difference": plain(self.difference),
                "tolerance": self.tolerance, "passed": self.passed}


@dataclass(frozen=True)
class CiOutcome:
    """A CI run: the run (gate included), the comparison with production (``None`` when there is none), and
    why it fails besides the gate (``problems``)."""

    project: str
    run: RunResult
    comparison: ProductionComparison | None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.run.verdict.passed and not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "passed": self.passed, "run_id": self.run.run_id,
                "model": self.run.version.to_json(), "gate": self.run.verdict.to_json(),
                "comparison": self.comparison.to_json() if self.comparison else None, "problems": self.problems,
                "report": str(self.run.report_path)}

    def markdown(self) -> str:
        """The outcome as a pull-request comment (GitHub-flavoured Markdown)."""
        v = self.run.version
        head = "passed" if self.passed else "failed"
        lines = [f"## aiforge ci: {self.project} {head} {'✅' if self.passed else '❌'}", "",
                 f"Candidate **{v.name} v{v.version}** ({v.learner}), registered **{v.status.value}**, "
                 f"run `{self.run.run_id}`.", ""]
        lines += [f"- ❌ {p}" for p in self.problems]
        if self.problems:
            lines.append("")
        lines += ["### KPI gate", ""]
        results = self.run.verdict.results
        if results:
            lines += ["| KPI | value | bound | result |", "|---|---:|---|---|"]
            for r in results:
                value = "—" if r.value is None else f"{r.value:.4f}"
                result = "✅ pass" if r.passed else "❌ fail"
                lines.append(f"| {r.kpi} | {value} | {r.bound} {r.threshold:g} | {result} |")
        else:
            lines.append(self.run.verdict.summary())
        lines += ["", "### Against production", ""]
        c = self.comparison
        if c is None:
            lines.append("No version holds `production`: the KPI gate alone decides.")
        else:
            def shown(x: float) -> str:
                return f"{x:.4f}" if math.isfinite(x) else "n/a"

            lines += [f"| metric | production v{c.production_version} | candidate v{v.version} | difference | "
                      "tolerance | result |", "|---|---:|---:|---:|---:|---|",
                      f"| {c.metric} ({'higher' if c.higher_is_better else 'lower'} is better) | "
                      f"{shown(c.production)} | {shown(c.candidate)} | {shown(c.difference)} | {c.tolerance:g} | "
                      f"{'✅ pass' if c.passed else '❌ fail'} |", "",
                      f"Both scored on the same {c.rows} held-out rows (the candidate's test split)."]
        metrics = self.run.evaluation.metrics
        if metrics:
            lines += ["", "<details><summary>Test metrics of the candidate</summary>", "",
                      "| metric | value |", "|---|---:|"]
            lines += [f"| {k} | {val:.4f} |" for k, val in metrics.items() if math.isfinite(val)]
            lines += ["", "</details>"]
        return "\n".join(lines) + "\n"


def error_markdown(project: str, error: AiforgeError) -> str:
    """A CI run stopped by bad input, as a pull-request comment."""
    return (f"## aiforge ci: {project} stopped ❌\n\nNothing was run or registered: the input is not valid.\n\n"
            f"```\n{error.render()}\n```\n")


def comparison_metric(project: ProjectFile, task: TaskKind) -> str:
    """``ci.metric``, else the search metric, else the first KPI metric that scores ``task``, else the task's
    default."""
    spec = project.spec
    for chosen in (spec.ci.metric, spec.model.search.metric):
        if chosen:
            return chosen
    for kpi in spec.kpis:
        metric = METRICS.get(kpi.metric)
        if metric is not None and task in metric.tasks:
            return metric.name
    return default_metric(task).name


def run_ci(project: ProjectFile, settings: WorkspaceSettings, *, force: bool = False,
           progress: Progress | None = None) -> CiOutcome:
    """Run the project (validate, train, gate, register), then compare the candidate with production."""
    run = run_project(project, settings, force=force, progress=progress)
    spec = project.spec
    ws = Workspace.open(settings, create=False)
    try:
        registry = ModelRegistry(ws)
        production = registry.by_alias(spec.name, Alias.PRODUCTION)
        problems = []
        if not run.verdict.passed:
            problems.append(f"KPI gate: {run.verdict.summary()}")
        comparison = None
        if production is None:
            if spec.ci.require_production:
                problems.append(f"no version of {spec.name} holds production (ci.require_production)")
        else:
            comparison = _compare(ws, registry, run, production, project)
            if not comparison.passed:
                problems.append(
                    f"regression: {comparison.metric} {comparison.candidate:.4f} against {comparison.production:.4f} "
                    f"for production v{comparison.production_version} on the same {comparison.rows} rows "
                    f"(difference {comparison.difference:+.4f}, tolerance {comparison.tolerance:g})")
        return CiOutcome(spec.name, run, comparison, problems)
    finally:
        ws.close()


def _compare(ws: Workspace, registry: ModelRegistry, run: RunResult, production: ModelVersion,
             project: ProjectFile) -> ProductionComparison:
    import numpy as np
    import pyarrow.parquet as pq

    target = project.spec.problem.target
    split = next(s.outputs["split"] for s in get_run(ws, run.run_id).stages if s.name == "split")
    data = pq.read_table(io.BytesIO(ws.artifacts.get_bytes(run.version.lineage["snapshot"]))).to_pandas()
    data = data[data[target].notna()].reset_index(drop=True)
    positions = np.frombuffer(ws.artifacts.get_bytes(split["artifact"]), dtype="<i8")
    test = data.iloc[positions[split["n_train"]:]]
    metric = METRICS[comparison_metric(project, run.task.kind)]
    scores = [_score(registry.load_model(v), test, target, metric.name) for v in (production, run.version)]
    return ProductionComparison(metric.name, metric.higher_is_better, len(test), production.version, scores[0],
                                scores[1], project.spec.ci.tolerance)


def _score(model: Any, test: Any, target: str, metric: str) -> float:
    """``metric`` of ``model`` on ``test``; NaN when the model cannot score these rows (other classes or
    columns than it was trained on)."""
    try:
        y = model.encode_target(test[target])
        output = model.raw_output(test[[c for c in model.input_columns]])
        figures = compute_metrics(model.task, y, output, getattr(model, "threshold", 0.5))
    except (KeyError, ValueError, TypeError):
        return float("nan")
    return float(figures.get(metric, float("nan")))
