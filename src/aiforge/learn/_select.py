"""Algorithm selection: every candidate learner is cross-validated on the training split, the best refit."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.errors import AiforgeError
from aiforge.learn._learners import LEARNERS
from aiforge.learn._model import FeatureSet, TabularModel, build_preprocessor, encode_labels
from aiforge.learn._task import TaskInfo
from aiforge.spec import ModelSpec, TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["CandidateResult", "Objective", "SelectionReport", "TrainingFailed", "select_and_fit"]

StepCallback = Callable[[str], None]


class TrainingFailed(AiforgeError):
    """No candidate learner could be trained."""

    code = "train"
    exit_code = 1


@dataclass(frozen=True)
class Objective:
    """What candidates are ranked by: a score of (encoded truth, model output)."""

    name: str
    higher_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class CandidateResult:
    learner: str
    status: str  # ok | failed | skipped
    fold_scores: list[float] = field(default_factory=list)
    mean: float | None = None
    std: float | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class SelectionReport:
    """How the model was chosen: the leaderboard, the winner and the settings that made it."""

    objective: str
    higher_is_better: bool
    cv_folds: int
    seed: int
    best: str
    candidates: list[CandidateResult]
    features: dict[str, Any]
    fit_seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SelectionReport:
        return cls(**{**data, "candidates": [CandidateResult(**c) for c in data["candidates"]]})


def resolve_n_jobs(n_jobs: int) -> int:
    cores = os.cpu_count() or 1
    return cores if n_jobs in (-1, 0) else max(1, min(n_jobs, cores))


def select_and_fit(
    X: pd.DataFrame,
    y: pd.Series,
    task: TaskInfo,
    features: FeatureSet,
    spec: ModelSpec,
    objective: Objective,
    *,
    on_step: StepCallback | None = None,
) -> tuple[TabularModel, SelectionReport]:
    """Cross-validate each candidate in ``spec.learners``, refit the best on all of ``X``."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    step = on_step or (lambda _msg: None)
    n_jobs = resolve_n_jobs(spec.n_jobs)
    y_enc = y.to_numpy(dtype=float) if task.kind is TaskKind.REGRESSION else encode_labels(y, task.classes)
    if task.kind.is_classification:
        folds = StratifiedKFold(n_splits=spec.search.cv, shuffle=True, random_state=spec.seed)
    else:
        folds = KFold(n_splits=spec.search.cv, shuffle=True, random_state=spec.seed)
    splits = list(folds.split(np.zeros(len(y_enc)), y_enc))
    budget = spec.search.budget
    started = time.perf_counter()
    results: list[CandidateResult] = []
    for index, name in enumerate(spec.learners):
        out_of_time = budget.seconds is not None and time.perf_counter() - started > budget.seconds
        out_of_trials = budget.trials is not None and index >= budget.trials
        if results and any(r.status == "ok" for r in results) and (out_of_time or out_of_trials):
            why = "time budget spent" if out_of_time else "trial budget spent"
            results.append(CandidateResult(name, "skipped", error=why))
            step(f"{name}: skipped ({why})")
            continue
        t0 = time.perf_counter()
        scores: list[float] = []
        try:
            for k, (tr, va) in enumerate(splits):
                pipe, fit_kw = _pipeline(name, task.kind, features, spec.seed, n_jobs)
                pipe.fit(X.iloc[tr][features.columns], y_enc[tr], **fit_kw)
                scores.append(float(objective.fn(y_enc[va], _output(pipe, task.kind, X.iloc[va][features.columns]))))
                step(f"{name}: fold {k + 1}/{len(splits)} {objective.name}={scores[-1]:.4f}")
        except Exception as exc:  # a learner that fails is reported, not fatal
            results.append(CandidateResult(name, "failed", scores, seconds=time.perf_counter() - t0,
                                           error=f"{type(exc).__name__}: {exc}"))
            step(f"{name}: failed ({type(exc).__name__})")
            continue
        results.append(CandidateResult(name, "ok", scores, float(np.mean(scores)), float(np.std(scores)),
                                       time.perf_counter() - t0))
    ok = [r for r in results if r.status == "ok"]
    if not ok:
        errors = "; ".join(f"{r.learner}: {r.error}" for r in results)
        raise TrainingFailed("every candidate learner failed", found=errors,
                             hint="check the data types of the input columns, or try other learners")
    sign = 1.0 if objective.higher_is_better else -1.0
    best = max(ok, key=lambda r: (sign * (r.mean or 0.0), -spec.learners.index(r.learner)))
    t0 = time.perf_counter()
    pipe, fit_kw = _pipeline(best.learner, task.kind, features, spec.seed, n_jobs)
    pipe.fit(X[features.columns], y_enc, **fit_kw)
    step(f"refit {best.learner} on the whole training split")
    model = TabularModel(pipe, task.kind, task.classes, features, best.learner, target=str(y.name))
    report = SelectionReport(
        objective=objective.name, higher_is_better=objective.higher_is_better, cv_folds=spec.search.cv,
        seed=spec.seed, best=best.learner, candidates=results,
        features={"numeric": features.numeric, "categorical": features.categorical,
                  "ignored": features.ignored},
        fit_seconds=time.perf_counter() - t0,
    )
    return model, report


def _pipeline(name: str, task: TaskKind, features: FeatureSet, seed: int, n_jobs: int) -> tuple[Any, dict]:
    from sklearn.pipeline import Pipeline

    learner = LEARNERS[name]()
    pre, categorical = build_preprocessor(features, encoding=learner.encoding, scale=learner.scale)
    estimator = learner.build(task, seed, n_jobs, categorical)
    fit_kw = {f"model__{k}": v for k, v in learner.fit_params(categorical).items()}
    return Pipeline([("prep", pre), ("model", estimator)]), fit_kw


def _output(pipe: Any, task: TaskKind, X: pd.DataFrame) -> np.ndarray:
    return pipe.predict(X) if task is TaskKind.REGRESSION else pipe.predict_proba(X)
