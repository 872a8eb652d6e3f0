"""Loading a project: the spec's own checks, then the names it uses checked against each registry."""

from __future__ import annotations

import difflib
from pathlib import Path

from aiforge.errors import Problem, SpecError
from aiforge.evaluate import METRICS, metrics_for
from aiforge.learn import LEARNERS
from aiforge.spec import FieldPath, ProjectFile, TaskKind, load_project_file

__all__ = ["check_metrics_for_task", "load_project"]


def load_project(path: str | Path) -> ProjectFile:
    """Read, validate and cross-check a project file; raise SpecError listing every problem."""
    project = load_project_file(path)
    problems = _check_names(project)
    if project.spec.problem.task is not TaskKind.AUTO:
        problems += _metric_task_problems(project, project.spec.problem.task)
    _raise(problems)
    return project


def check_metrics_for_task(project: ProjectFile, task: TaskKind) -> None:
    """For ``task: auto``: once the task is known, every KPI metric must apply to it."""
    _raise(_metric_task_problems(project, task))


def _raise(problems: list[Problem]) -> None:
    if problems:
        first, *rest = problems
        raise SpecError(first.message, where=first.where, expected=first.expected, found=first.found,
                        hint=first.hint, more=rest)


def _check_names(project: ProjectFile) -> list[Problem]:
    spec = project.spec
    problems: list[Problem] = []
    for i, name in enumerate(spec.model.learners):
        if name not in LEARNERS:
            problems.append(project.problem(
                ("model", "learners", i), f"unknown learner '{name}'",
                expected=f"one of {', '.join(sorted(LEARNERS))}", found=name, hint=_did_you_mean(name, LEARNERS),
            ))
        elif not LEARNERS[name].available():
            missing = LEARNERS[name].missing_message()
            problems.append(project.problem(("model", "learners", i), missing.message, hint=missing.hint))
    seen: set[str] = set()
    for i, name in enumerate(spec.model.learners):
        if name in seen:
            problems.append(project.problem(("model", "learners", i), f"learner '{name}' is listed twice",
                                            hint="list each learner once"))
        seen.add(name)
    named = _named_metrics(project)
    for path, metric in named:
        if metric not in METRICS:
            problems.append(project.problem(
                path, f"unknown metric '{metric}'", expected=f"one of {', '.join(sorted(METRICS))}",
                found=metric, hint=_did_you_mean(metric, METRICS),
            ))
    for i, kpi in enumerate(spec.kpis):
        if kpi.sensitive is not None:
            problems.append(project.problem(
                ("kpis", i, "sensitive"), f"KPI '{kpi.metric}' names a sensitive attribute, "
                "but no fairness metric is available in this version",
                hint="remove 'sensitive:' from this KPI",
            ))
    return problems


def _metric_task_problems(project: ProjectFile, task: TaskKind) -> list[Problem]:
    spec = project.spec
    valid = [m.name for m in metrics_for(task)]
    named = _named_metrics(project)
    problems = []
    threshold = spec.model.threshold
    if threshold is not None:
        if task is not TaskKind.BINARY:
            problems.append(project.problem(("model", "threshold"), f"a decision threshold applies to binary "
                                            f"tasks, but this is a {task.value} task", hint="remove model.threshold"))
        elif threshold.maximise in METRICS and not METRICS[threshold.maximise].labels:
            labels = [m.name for m in metrics_for(task) if m.labels]
            problems.append(project.problem(
                ("model", "threshold", "maximise"), f"'{threshold.maximise}' does not depend on the threshold",
                expected=f"a metric of decisions: {', '.join(labels)}", found=threshold.maximise,
            ))
    return problems + [
        project.problem(
            path, f"metric '{metric}' does not apply to a {task.value} task",
            expected=f"a {task.value} metric: {', '.join(valid)}", found=metric,
            hint="pick a metric from the list, or check problem.task",
        )
        for path, metric in named
        if metric in METRICS and task not in METRICS[metric].tasks
    ]


def _named_metrics(project: ProjectFile) -> list[tuple[FieldPath, str]]:
    """Every metric name the project file uses, with where it is written."""
    spec = project.spec
    named: list[tuple[FieldPath, str]] = [(("kpis", i, "metric"), k.metric) for i, k in enumerate(spec.kpis)]
    if spec.model.search.metric is not None:
        named.append((("model", "search", "metric"), spec.model.search.metric))
    if spec.model.threshold is not None:
        named.append((("model", "threshold", "maximise"), spec.model.threshold.maximise))
        if spec.model.threshold.subject_to is not None:
            named.append((("model", "threshold", "subject_to", "metric"), spec.model.threshold.subject_to.metric))
    return named


def _did_you_mean(name: str, options: object) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)  # type: ignore[call-overload]
    return f"did you mean '{close[0]}'?" if close else "use one of the listed names"
