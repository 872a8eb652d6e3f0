"""Loading a project: the spec's own checks, then the names it uses checked against each registry."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

from aiforge.errors import Problem, SpecError
from aiforge.evaluate import CHECK_METRICS, METRICS, metrics_for
from aiforge.learn import LEARNERS
from aiforge.pipeline._augmentation import augmentation_problems
from aiforge.pipeline._compression import compression_problems
from aiforge.pipeline._decision import project_decision_problems
from aiforge.spec import FieldPath, ProjectFile, TaskKind, load_project_file

__all__ = ["check_metrics_for_task", "load_project", "sensitive_attributes"]


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
    problems += _generation_problems(project)
    problems += _privacy_problems(project)
    problems += compression_problems(project)
    problems += augmentation_problems(project)
    problems += project_decision_problems(project)
    seen: set[str] = set()
    for i, name in enumerate(spec.model.learners):
        if name in seen:
            problems.append(project.problem(("model", "learners", i), f"learner '{name}' is listed twice",
                                            hint="list each learner once"))
        seen.add(name)
    named = _named_metrics(project)
    kpi_paths = {("kpis", i, "metric") for i in range(len(spec.kpis))}
    for path, metric in named:
        known = METRICS if path not in kpi_paths else {**METRICS, **CHECK_METRICS}
        if metric not in known:
            problems.append(project.problem(
                path, f"unknown metric '{metric}'", expected=f"one of {', '.join(sorted(known))}",
                found=metric, hint=_did_you_mean(metric, known),
            ))
        elif metric in CHECK_METRICS and path not in kpi_paths:
            problems.append(project.problem(
                path, f"'{metric}' is a figure of the {CHECK_METRICS[metric].check} check, not a model metric",
                expected=f"one of {', '.join(sorted(METRICS))}", found=metric,
                hint="gate on it with a KPI instead",
            ))
    for i, kpi in enumerate(spec.kpis):
        check = CHECK_METRICS.get(kpi.metric)
        if check is not None and check.per_attribute and kpi.sensitive is None:
            problems.append(project.problem(
                ("kpis", i), f"KPI '{kpi.metric}' is measured per sensitive attribute, but names none",
                hint=f"add the column, e.g. {{metric: {kpi.metric}, sensitive: sex, max: ...}}",
            ))
        elif kpi.sensitive is not None and not (check is not None and check.per_attribute):
            problems.append(project.problem(
                ("kpis", i, "sensitive"), f"KPI '{kpi.metric}' is not measured per sensitive attribute",
                expected="a fairness metric: " + ", ".join(sorted(m.name for m in CHECK_METRICS.values()
                                                                  if m.per_attribute)),
                found=kpi.metric, hint="remove 'sensitive:' from this KPI, or gate on a fairness metric",
            ))
        if check is not None:
            section = getattr(spec.checks, check.check, None)
            if section is not None and not getattr(section, "enabled", True):
                problems.append(project.problem(
                    ("kpis", i, "metric"), f"KPI '{kpi.metric}' needs the {check.check} check, which is disabled",
                    hint=f"remove checks.{check.check}.enabled: false, or drop this KPI",
                ))
    return problems


def _generation_problems(project: ProjectFile) -> list[Problem]:
    """``problem.task: text_generation`` takes the seq2seq learner and its checkpoint (``model.seq2seq``); the
    seq2seq learner takes that task; every other learner predicts a label or a number from a table."""
    spec = project.spec
    task = spec.problem.task
    problems = []
    generating = [n for n, learner in LEARNERS.items() if TaskKind.TEXT_GENERATION in learner.tasks]
    for i, name in enumerate(spec.model.learners):
        tasks = LEARNERS[name].tasks if name in LEARNERS else frozenset({task})
        if task in tasks or (task is TaskKind.AUTO and tasks - {TaskKind.TEXT_GENERATION}):
            continue  # auto is settled to binary, multiclass or regression, never to text_generation
        if task is TaskKind.TEXT_GENERATION:
            problems.append(project.problem(
                ("model", "learners", i), f"learner '{name}' does not generate text", expected=f"for problem.task: "
                f"text_generation, one of {', '.join(generating)}", found=name,
                hint="set model.learners: [seq2seq] (it generates with the checkpoint model.seq2seq names)"))
        else:
            kinds = ", ".join(sorted(t.value for t in tasks))
            problems.append(project.problem(
                ("model", "learners", i), f"learner '{name}' is for {kinds} tasks, but problem.task is "
                f"'{task.value}'", expected=f"problem.task: {kinds}", found=f"problem.task: {task.value}",
                hint=f"set problem.task: {kinds} (never detected: name it), or remove '{name}' from model.learners"))
    if task is TaskKind.TEXT_GENERATION and spec.model.seq2seq is None:
        problems.append(project.problem(
            ("model",), "problem.task: text_generation needs model.seq2seq.checkpoint", expected="model.seq2seq: "
            "{checkpoint: FOLDER}, a local seq2seq model (T5, BART, Marian...) as save_pretrained writes it",
            found="no model.seq2seq section", hint="add model.seq2seq: {checkpoint: models/my-t5}"))
    checkpoint = spec.model.seq2seq.checkpoint if spec.model.seq2seq is not None else None
    if task is TaskKind.TEXT_GENERATION and checkpoint and not (Path(checkpoint) / "config.json").is_file():
        problems.append(project.problem(
            ("model", "seq2seq", "checkpoint"), f"model.seq2seq.checkpoint '{checkpoint}' is not a local model folder",
            expected="a folder holding config.json, the weights and the tokenizer files (what save_pretrained "
            "writes), relative to where aiforge runs", found="no such folder" if not Path(checkpoint).exists()
            else "no config.json in it", hint="models are never downloaded: save one with save_pretrained on a "
            "machine that has it, and point checkpoint at that folder"))
    if task is TaskKind.TEXT_GENERATION and not spec.data.text_columns:
        problems.append(project.problem(
            ("data",), "problem.task: text_generation needs data.text_columns: the source text", expected="data."
            "text_columns: [column, ...], the columns the generator reads (several are joined with ' | ')",
            found="no data.text_columns", hint="add data.text_columns: [source]"))
    if task is TaskKind.TEXT_GENERATION and importlib.util.find_spec("sacrebleu") is None:
        problems.append(project.problem(
            ("problem", "task"), "text_generation is scored with sacrebleu (chrF, BLEU), which is not installed",
            hint="pip install 'aiforge[transformers]'"))
    return problems


def _privacy_problems(project: ProjectFile) -> list[Problem]:
    """``model.privacy`` trains every learner privately: each must be able to, with what it needs installed."""
    if project.spec.model.privacy is None:
        return []
    problems = []
    learners = [n for n in project.spec.model.learners if n in LEARNERS]
    private = sorted(n for n, learner in LEARNERS.items() if learner.private)
    cannot = [n for n in learners if not LEARNERS[n].private]
    if cannot:
        problems.append(project.problem(
            ("model", "privacy"), f"model.privacy trains every learner with differential privacy, but "
            f"{', '.join(repr(n) for n in cannot)} cannot train privately", expected=f"learners that can: "
            f"{', '.join(private)}", found=", ".join(cannot),
            hint="remove them from model.learners, or remove model.privacy"))
    for name in learners:
        needs = LEARNERS[name].private_requires
        if LEARNERS[name].private and needs is not None and importlib.util.find_spec(needs) is None:
            problems.append(project.problem(
                ("model", "privacy"), f"learner '{name}' trains privately with the optional package '{needs}', "
                "which is not installed", hint=f"pip install 'aiforge[privacy]', or remove '{name}' from "
                "model.learners"))
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


def sensitive_attributes(project: ProjectFile) -> list[str]:
    """The attributes the fairness check audits: checks.fairness.sensitive, then each KPI's sensitive:."""
    spec = project.spec
    names = list(spec.checks.fairness.sensitive)
    names += [k.sensitive for k in spec.kpis if k.sensitive is not None and k.sensitive not in names]
    attribute = spec.checks.fairness.attribute
    if attribute is not None and attribute not in names:
        names.append(attribute)
    return list(dict.fromkeys(names))


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
    if spec.ci.metric is not None:
        named.append((("ci", "metric"), spec.ci.metric))
    return named


def _did_you_mean(name: str, options: object) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)  # type: ignore[call-overload]
    return f"did you mean '{close[0]}'?" if close else "use one of the listed names"
