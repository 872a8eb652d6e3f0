"""The search on a Ray cluster: every cross-validation fold of every trial is a Ray task.

Optuna stays on the driver (its sampler and pruner see every result, as they do here), through ask
and tell: the driver asks ``trials_in_flight`` trials at once, runs all their folds as tasks, then
reads the folds of each trial in trial-number order, reporting each to the pruner, and tells the study
each trial's outcome in that order. The sequence of asks, reports and tells therefore depends on the
seed and ``trials_in_flight`` only, never on which task ends first or how many workers there are; with
``trials_in_flight: 1`` it is the local executor's sequence with ``n_jobs: 1``, and so are the results.

The data goes to the cluster once: the labels, each fold's row positions and each fold's encoded
inputs (one per kind of encoding) are put in Ray's object store, and every task refers to them.
"""

from __future__ import annotations

import itertools
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.learn._learners import LEARNERS
from aiforge.learn._resample import split_resample
from aiforge.learn._search import (
    DEFAULT_TRIALS,
    FoldResult,
    SearchContext,
    TrialRecord,
    _completed,
    _enumerated,
    _late,
    fit_fold,
    new_study,
)
from aiforge.spec import SearchSpec, TaskKind
from aiforge.workspace import Executor, connect_ray

if TYPE_CHECKING:
    import numpy as np

__all__ = ["run_search_on_ray"]


def _fold_task(seconds_left: float | None, y: np.ndarray, fold: tuple[np.ndarray, np.ndarray], name: str,
               task: TaskKind, seed: int, threads: int, encoded: tuple[Any, Any, list[int], Any], method: str,
               params: dict[str, Any], score: Any, keep_model: bool) -> FoldResult:
    """One fold in a Ray worker: the driver's deadline arrives as seconds left (clocks differ between hosts)."""
    train, valid = fold
    deadline = None if seconds_left is None else time.perf_counter() + max(0.0, seconds_left)
    return fit_fold(name, task, seed, threads, encoded, y[train], y[valid], method, params, score, deadline,
                    keep_model=keep_model)


@dataclass
class _Cluster:
    """The search's data in the object store, and the remote fold function."""

    ctx: SearchContext
    ray: Any
    executor: Executor
    deadline: float | None
    remote: Any = None
    y: Any = None
    score: Any = None
    folds: list[Any] = field(default_factory=list)
    encoded: dict[tuple[str, bool, int], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ray = self.ray
        self.remote = ray.remote(_fold_task).options(num_cpus=self.executor.cpus_per_task)
        self.y = ray.put(self.ctx.y)
        self.score = ray.put(self.ctx.score)
        self.folds = [ray.put(fold) for fold in self.ctx.folds]

    @property
    def threads(self) -> int:
        return max(1, int(self.executor.cpus_per_task))

    def encoded_ref(self, name: str, k: int) -> Any:
        learner = LEARNERS[name]
        key = (learner.encoding, learner.scale, k)
        if key not in self.encoded:
            self.encoded[key] = self.ray.put(self.ctx.encoded(learner, k))
        return self.encoded[key]

    def submit(self, number: int, name: str, params: dict[str, Any]) -> _TrialRun:
        """Start every fold of a trial; a configuration that cannot even start is a failed trial."""
        params = {**params, **self.ctx.fixed.get(name, {})}
        try:
            method, fold_params = split_resample(params)
        except ValueError as exc:
            return _TrialRun(number, name, params, [], error=f"{type(exc).__name__}: {exc}"[:500])
        seconds_left = None if self.deadline is None else self.deadline - time.perf_counter()
        keep_model = len(self.ctx.folds) == 1 and self.ctx.keep_oof > 0
        refs = [self.remote.remote(seconds_left, self.y, self.folds[k], name, self.ctx.task, self.ctx.seed,
                                   self.threads, self.encoded_ref(name, k), method, fold_params, self.score,
                                   keep_model)
                for k in range(len(self.ctx.folds))]
        return _TrialRun(number, name, params, refs)

    def collect(self, run: _TrialRun, report: Callable[[float, int], bool] | None,
                anything_done: Callable[[], bool]) -> TrialRecord:
        """The trial's record, its folds read in order: a fold reported as prunable (or one read past the
        deadline, once some trial is complete) cancels the folds after it, as the local executor stops."""
        import numpy as np

        ctx = self.ctx
        started = time.perf_counter()
        scores: list[float] = []
        rounds: list[int] = []
        seconds = predict_seconds = 0.0
        predicted_rows = 0
        predictions: Any = None
        model = None
        if run.error is not None:
            return TrialRecord(run.number, run.name, run.params, "failed", [], None, 0.0, None, run.error)
        for k, ref in enumerate(run.refs):
            try:
                fold: FoldResult = self.ray.get(ref)
            except Exception as exc:  # a configuration that fails is recorded, not fatal
                run.cancel(self.ray, k + 1)
                cause = getattr(exc, "cause", None) or exc
                return TrialRecord(run.number, run.name, run.params, "failed", scores, None,
                                   seconds + time.perf_counter() - started, None,
                                   f"{type(cause).__name__}: {cause}"[:500])
            valid = ctx.folds[k][1]
            seconds += fold.seconds
            predict_seconds += fold.predict_seconds
            predicted_rows += len(valid)
            if fold.rounds is not None:
                rounds.append(fold.rounds)
            if predictions is None:
                predictions = np.full((len(ctx.y), *np.shape(fold.predictions)[1:]), np.nan)
            predictions[valid] = fold.predictions
            model = fold.model
            scores.append(fold.score)
            last = k == len(run.refs) - 1
            why = None
            if not last and report is not None and report(ctx.signed(float(np.mean(scores))), k):
                why = "pruned: worse than other trials after the same folds"
            elif (not last and self.deadline is not None and time.perf_counter() > self.deadline
                  and anything_done()):
                why = "stopped: the time budget ran out"
            if why is not None:
                run.cancel(self.ray, k + 1)
                return TrialRecord(run.number, run.name, run.params, "pruned", scores, None, seconds, None, why)
        ctx._keep(run.number, float(np.mean(scores)), predictions, model)
        return TrialRecord(run.number, run.name, run.params, "complete", scores, float(np.mean(scores)), seconds,
                           int(statistics.median(rounds)) if rounds else None,
                           predict_ms=1000 * predict_seconds / max(1, predicted_rows))


@dataclass
class _TrialRun:
    number: int
    name: str
    params: dict[str, Any]
    refs: list[Any]
    error: str | None = None

    def cancel(self, ray: Any, start: int) -> None:
        for ref in self.refs[start:]:
            ray.cancel(ref)


def in_flight(executor: Executor, cluster_cpus: float, folds: int) -> int:
    """Trials asked at once: ``trials_in_flight``, else as many as keep the cluster's CPUs busy with their folds.

    >>> in_flight(Executor("ray"), cluster_cpus=16, folds=5)
    3
    """
    if executor.trials_in_flight is not None:
        return executor.trials_in_flight
    return max(1, int(cluster_cpus // (executor.cpus_per_task * max(1, folds))))


def run_search_on_ray(ctx: SearchContext, learners: list[str], spec: SearchSpec, *, n_rows: int,
                      deadline: float | None, executor: Executor,
                      on_trial: Callable[[TrialRecord], None]) -> list[TrialRecord]:
    """All trials of the search, run on the Ray cluster ``executor`` names, in the order they were numbered."""
    ray = connect_ray(executor.address)
    cluster = _Cluster(ctx, ray, executor, deadline)
    wave = in_flight(executor, float(ray.cluster_resources().get("CPU", 1)), len(ctx.folds))
    if spec.strategy in ("defaults", "grid"):
        return _listed(cluster, _enumerated(ctx, learners, spec, n_rows), spec.budget.trials, wave, on_trial)
    budget = spec.budget
    n_trials = budget.trials or (None if budget.seconds else DEFAULT_TRIALS)
    return _optuna(cluster, learners, spec, n_rows, n_trials, wave, on_trial)


def _listed(cluster: _Cluster, configs: Iterator[tuple[str, dict[str, Any]]], limit: int | None, wave: int,
            on_trial: Callable[[TrialRecord], None]) -> list[TrialRecord]:
    records: list[TrialRecord] = []
    numbered = enumerate(configs)
    while not (limit is not None and len(records) >= limit) and not _late(cluster.deadline, records):
        size = wave if limit is None else min(wave, limit - len(records))
        runs = [cluster.submit(number, name, params)
                for number, (name, params) in itertools.islice(numbered, size)]
        if not runs:
            break
        for run in runs:
            record = cluster.collect(run, None, lambda: _completed(records))
            records.append(record)
            on_trial(record)
    return sorted(records, key=lambda r: r.number)


def _optuna(cluster: _Cluster, learners: list[str], spec: SearchSpec, n_rows: int, n_trials: int | None,
            wave: int, on_trial: Callable[[TrialRecord], None]) -> list[TrialRecord]:
    import optuna
    from optuna.trial import TrialState

    study, spaces = new_study(cluster.ctx, learners, spec, n_rows=n_rows, parallel=wave)
    records: list[TrialRecord] = []
    asked = 0
    while (n_trials is None or asked < n_trials) and not _late(cluster.deadline, records):
        size = wave if n_trials is None else min(wave, n_trials - asked)
        runs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            for _ in range(size):
                trial = study.ask()
                name = trial.suggest_categorical("learner", learners)
                params = {p: domain.suggest(trial, f"{name}.{p}") for p, domain in spaces[name].items()}
                runs.append((trial, cluster.submit(trial.number, name, params)))
        asked += size
        for trial, run in runs:
            def report(value: float, step: int, trial: Any = trial) -> bool:
                trial.report(value, step)
                return bool(trial.should_prune())

            record = cluster.collect(run, report, lambda: _completed(records))
            records.append(record)
            on_trial(record)
            if record.status == "pruned":
                study.tell(trial, state=TrialState.PRUNED)
            elif record.status == "failed":
                study.tell(trial, float("-inf"))
            else:
                assert record.score is not None
                study.tell(trial, cluster.ctx.signed(record.score))
    return sorted(records, key=lambda r: r.number)
