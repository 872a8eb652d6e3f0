"""What ``model.augment`` and ``model.resample`` need from the rest of the project file."""

from __future__ import annotations

from aiforge.errors import Problem
from aiforge.learn import LEARNERS
from aiforge.spec import ProjectFile, TaskKind

__all__ = ["augmentation_problems"]


def augmentation_problems(project: ProjectFile) -> list[Problem]:
    """``model.augment``: a listed learner that applies each operation asked for (the mlp takes noise; image
    operations need an image learner). ``model.resample``: a classification task (it rebalances classes)."""
    spec = project.spec
    problems: list[Problem] = []
    augment = spec.model.augment
    if augment is not None:
        asked = [*augment.image_operations, *(["noise"] if augment.noise > 0 else [])]
        listed = [LEARNERS[n] for n in spec.model.learners if n in LEARNERS]
        unused = [op for op in asked if not any(op in learner.augments for learner in listed)]
        if unused:
            takers = sorted({f"{n} ({', '.join(sorted(lr.augments))})" for n, lr in LEARNERS.items() if lr.augments})
            problems.append(project.problem(
                ("model", "augment"), f"model.augment asks for {', '.join(unused)}, which no learner in "
                f"model.learners applies", expected="learners that apply them: " + ", ".join(takers),
                found=", ".join(spec.model.learners),
                hint="a table's mlp takes noise only: remove the image operations, or add mlp to model.learners"
                if "noise" not in unused else "add mlp to model.learners, or remove model.augment"))
    if spec.model.resample is not None and spec.problem.task is TaskKind.REGRESSION:
        problems.append(project.problem(
            ("model", "resample"), "model.resample rebalances classes, and a regression task has none",
            expected="a binary or multiclass task", found="task: regression", hint="remove model.resample"))
    return problems
