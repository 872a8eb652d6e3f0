"""The search engine: trials of (learner, configuration) scored by cross-validation.

Strategies: ``defaults`` (each learner's known-good configuration), ``grid``, ``random`` and
``bayesian`` (Optuna TPE), all starting from the known-good configurations. Trials run in
parallel threads when several cores are given; unpromising ones are pruned after their first
folds; the search stops at a time or trial budget. Inputs are encoded once per fold and
encoding, and shared by every trial.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.learn._learners import LEARNERS, Learner, by_priority
from aiforge.learn._model import FeatureSet, build_preprocessor
from aiforge.learn._portfolio import portfolio_configs
from aiforge.learn._resample import is_imbalanced, resample, split_resample
from aiforge.learn._space import Choice, SearchSpace
from aiforge.spec import SearchSpec, TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from aiforge.workspace import Executor

__all__ = ["FoldResult", "SearchContext", "TrialRecord", "fit_fold", "run_search"]

DEFAULT_TRIALS = 30
REFIT_SHARE = 0.15
Score = Callable[["np.ndarray", "np.ndarray"], float]


@dataclass(frozen=True)
class TrialRecord:
    """One configuration tried: its cross-validation scores, time and fate."""

    number: int
    learner: str
    params: dict[str, Any]
    status: str  # complete | pruned | failed
    fold_scores: list[float] = field(default_factory=list)
    score: float | None = None
    seconds: float = 0.0
    rounds: int | None = None  # boosting rounds chosen by early stopping (median over folds)
    error: str | None = None
    predict_ms: float | None = None  # the model's prediction time per 1000 validation rows (encoding apart)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Pruned(Exception):
    pass


@dataclass
class SearchContext:
    """The data and settings every trial shares."""

    X: pd.DataFrame
    y: np.ndarray
    task: TaskKind
    features: FeatureSet
    folds: list[tuple[np.ndarray, np.ndarray]]
    score: Score
    higher_is_better: bool
    seed: int
    threads_per_trial: int
    keep_oof: int = 0  # how many of the best trials keep their out-of-fold predictions (for ensembling)
    fixed: dict[str, dict[str, Any]] = field(default_factory=dict)  # learner -> params the project file sets
    added: dict[str, dict[str, Any]] = field(default_factory=dict)  # learner -> dimensions the project file adds
    resamplers: tuple[str, ...] | None = None  # model.resample: the methods searched (else the learner's own)
    oof: dict[int, tuple[float, Any]] = field(default_factory=dict)  # trial -> (signed score, predictions)
    # with one validation split (a holdout), those trials also keep their fitted pipeline: an ensemble
    # can then be assembled from them when refitting its members would overrun the budget
    models: dict[int, Any] = field(default_factory=dict)
    _encoded: dict[tuple[str, bool, int], tuple[Any, Any, list[int], Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def validated_rows(self) -> np.ndarray:
        """Rows that some fold validates on (all rows, except the earliest ones in time-series CV)."""
        import numpy as np

        return np.unique(np.concatenate([valid for _, valid in self.folds]))

    def _keep(self, number: int, score: float, predictions: Any, model: Any) -> None:
        if self.keep_oof <= 0:
            return
        with self._lock:
            self.oof[number] = (self.signed(score), predictions)
            if model is not None:
                self.models[number] = model
            if len(self.oof) > self.keep_oof:
                worst = min(self.oof, key=lambda n: (self.oof[n][0], -n))
                del self.oof[worst]
                self.models.pop(worst, None)

    def encoded(self, learner: type[Learner], k: int) -> tuple[Any, Any, list[int], Any]:
        """Fold ``k``'s training and validation inputs, encoded the way ``learner`` needs, and the
        fitted encoder (cached)."""
        key = (learner.encoding, learner.scale, k)
        with self._lock:
            hit = self._encoded.get(key)
        if hit is None:
            train, valid = self.folds[k]
            pre, categorical = build_preprocessor(self.features, encoding=learner.encoding, scale=learner.scale)
            columns = self.features.columns
            Xt = pre.fit_transform(self.X.iloc[train][columns])
            Xv = pre.transform(self.X.iloc[valid][columns])
            hit = (Xt, Xv, categorical, pre)
            with self._lock:
                self._encoded[key] = hit
        return hit

    @property
    def imbalanced(self) -> bool:
        return self.task.is_classification and is_imbalanced(self.y)

    def space(self, name: str, n_rows: int) -> dict[str, Any]:
        """The learner's search space for this data, and the dimensions the project file adds: no resampling
        dimension when classes are balanced, unless ``model.resample`` names the methods to search."""
        space = {**LEARNERS[name].search_space(n_rows, self.task), **self.added.get(name, {})}
        if "resample" in space and self.resamplers is not None:
            space["resample"] = Choice(self.resamplers)
        elif not self.imbalanced:
            space.pop("resample", None)
        return space

    def init_config(self, name: str, n_rows: int) -> dict[str, Any]:
        """The learner's known-good configuration, inside ``space``."""
        init = LEARNERS[name].init_config(n_rows, self.task)
        init.update({key: domain.values[0] for key, domain in self.added.get(name, {}).items()})
        if "resample" in init and self.resamplers is not None:
            init["resample"] = "none" if "none" in self.resamplers else self.resamplers[0]
        elif not self.imbalanced:
            init.pop("resample", None)
        return init

    def signed(self, value: float) -> float:
        return value if self.higher_is_better else -value

    def evaluate(self, number: int, name: str, params: dict[str, Any], *, deadline: float | None,
                 report: Callable[[float, int], bool] | None = None,
                 anything_done: Callable[[], bool] = lambda: True) -> TrialRecord:
        """Cross-validate one configuration; ``report(running_score, fold)`` returning True prunes it.

        Learners that grow step by step (boosting, forests) stop a fold at ``deadline`` with what
        they have grown; the trial's later folds then grow to that size, and its record keeps it.
        """
        import numpy as np

        learner = LEARNERS[name]()
        params = {**params, **self.fixed.get(name, {})}
        started = time.perf_counter()
        scores: list[float] = []
        rounds: list[int] = []
        predictions: Any = None
        fold_deadline = deadline
        predict_seconds, predicted_rows = 0.0, 0
        try:
            method, fold_params = split_resample(params)
            for k, (train, valid) in enumerate(self.folds):
                fold = fit_fold(name, self.task, self.seed, self.threads_per_trial, self.encoded(type(learner), k),
                                self.y[train], self.y[valid], method, fold_params, self.score, fold_deadline,
                                keep_model=len(self.folds) == 1 and self.keep_oof > 0)
                if fold.rounds is not None:
                    rounds.append(fold.rounds)
                if fold.cut:
                    # the deadline cut this fold: any later fold grows to the same size, so the folds agree
                    assert learner.size_param is not None and fold.rounds is not None
                    fold_params[learner.size_param] = fold.rounds
                    fold_deadline = None
                predict_seconds += fold.predict_seconds
                predicted_rows += len(valid)
                if predictions is None:
                    predictions = np.full((len(self.y), *np.shape(fold.predictions)[1:]), np.nan,
                                          dtype=object if self.task.is_generation else float)
                predictions[valid] = fold.predictions
                scores.append(fold.score)
                last = k == len(self.folds) - 1
                if not last and report is not None and report(self.signed(float(np.mean(scores))), k):
                    raise _Pruned("pruned: worse than other trials after the same folds")
                if not last and deadline is not None and time.perf_counter() > deadline and anything_done():
                    raise _Pruned("stopped: the time budget ran out")
        except _Pruned as why:
            return TrialRecord(number, name, params, "pruned", scores, None, time.perf_counter() - started,
                               None, str(why))
        except Exception as exc:  # a configuration that fails is recorded, not fatal
            return TrialRecord(number, name, params, "failed", scores, None, time.perf_counter() - started,
                               None, f"{type(exc).__name__}: {exc}"[:500])
        self._keep(number, float(np.mean(scores)), predictions, fold.model)
        return TrialRecord(number, name, params, "complete", scores, float(np.mean(scores)),
                           time.perf_counter() - started, int(statistics.median(rounds)) if rounds else None,
                           predict_ms=1000 * predict_seconds / max(1, predicted_rows))


@dataclass(frozen=True)
class FoldResult:
    """One configuration trained on one fold's training rows and scored on its validation rows."""

    score: float
    predictions: Any  # the model's output on the validation rows
    rounds: int | None  # boosting rounds early stopping kept, or the size a deadline cut the fit at
    cut: bool  # whether ``deadline`` cut the fit (a learner that grows step by step)
    predict_seconds: float
    seconds: float = 0.0  # fitting and scoring, as the process that ran it measured
    model: Any = None  # the fitted encoder and estimator (a Pipeline), when asked for


def fit_fold(name: str, task: TaskKind, seed: int, threads: int, encoded: tuple[Any, Any, list[int], Any],
             y_train: np.ndarray, y_valid: np.ndarray, method: str, params: dict[str, Any], score: Score,
             deadline: float | None, *, keep_model: bool = False) -> FoldResult:
    """Fit learner ``name`` with ``params`` on a fold's ``encoded`` inputs (training, validation, categorical
    columns, encoder) and score it: the unit of work, the same in a thread here or in a Ray task elsewhere."""
    started = time.perf_counter()
    Xt, Xv, categorical, pre = encoded
    learner = LEARNERS[name]()
    Xt, yt = resample(method, Xt, y_train, categorical, seed)
    estimator = learner.build(task, seed, learner.threads_for(threads, Xt), categorical, dict(params))
    fitted = learner.fit(estimator, Xt, yt, categorical, eval_set=(Xv, y_valid), deadline=deadline)
    predict_started = time.perf_counter()
    out = estimator.predict_proba(Xv) if task.is_classification else estimator.predict(Xv)
    predict_seconds = time.perf_counter() - predict_started
    model = None
    if keep_model:
        from sklearn.pipeline import Pipeline

        model = Pipeline([("prep", pre), ("model", estimator)])
    cut = bool(fitted.cut and learner.size_param is not None and fitted.rounds is not None)
    value = float(score(y_valid, out))
    return FoldResult(value, out, fitted.rounds, cut, predict_seconds, time.perf_counter() - started, model)


Reserve = Callable[[list[TrialRecord]], float]


def run_search(ctx: SearchContext, learners: list[str], spec: SearchSpec, *, n_rows: int, parallel: int,
               on_trial: Callable[[TrialRecord], None], executor: Executor | None = None,
               refits: int = 1, reserve: Reserve | None = None) -> list[TrialRecord]:
    """All trials of the search, in the order they were numbered: in ``parallel`` threads here, or as Ray
    tasks when ``executor`` is the ray executor (aiforge.learn._ray_search). The time budget covers the search
    and what follows it: ``reserve(trials so far)`` is the seconds it keeps back for refitting the winner
    (default: ``REFIT_SHARE`` of the budget per refit, ``refits`` of them; two with ``model.refit_full``).
    A new trial starts, and a running one goes on to its next fold, only before the budget's end less the
    reserve as the trials so far make it."""
    budget = spec.budget
    if reserve is None:
        share = REFIT_SHARE * refits

        def reserve(_records: list[TrialRecord]) -> float:
            return share * (budget.seconds or 0.0)

    clock = _Clock(time.perf_counter(), budget.seconds, reserve)
    if executor is not None and executor.is_ray:
        from aiforge.learn._ray_search import run_search_on_ray

        # a Ray search keeps the reserve it starts with: its trials end in other processes
        return run_search_on_ray(ctx, learners, spec, n_rows=n_rows, deadline=clock.deadline([]),
                                 executor=executor, on_trial=on_trial)
    if spec.strategy in ("defaults", "grid"):
        configs = _enumerated(ctx, learners, spec, n_rows)
        limit = budget.trials
        return _run_listed(ctx, configs, limit=limit, clock=clock, parallel=parallel, on_trial=on_trial)
    trials = budget.trials or (None if budget.seconds else DEFAULT_TRIALS)
    return _run_optuna(ctx, learners, spec, n_rows=n_rows, n_trials=trials, clock=clock,
                       parallel=parallel, on_trial=on_trial)


@dataclass(frozen=True)
class _Clock:
    """When the search stops: the budget's end less the reserve the trials so far call for."""

    started: float
    seconds: float | None
    reserve: Reserve

    def deadline(self, records: list[TrialRecord]) -> float | None:
        if not self.seconds:
            return None
        return self.started + self.seconds - self.reserve(list(records))

    def late(self, records: list[TrialRecord]) -> bool:
        return _late(self.deadline(records), records)


def _enumerated(ctx: SearchContext, learners: list[str], spec: SearchSpec, n_rows: int) -> Iterator[tuple[str, dict]]:
    """Known-good configurations first, then (grid) every grid point, round-robin over learners."""
    seen: set[tuple[str, str]] = set()
    learners = by_priority(learners)

    def fresh(name: str, params: dict[str, Any]) -> bool:
        key = (name, repr(sorted(params.items())))
        if key in seen:
            return False
        seen.add(key)
        return True

    for name in learners:
        params = ctx.init_config(name, n_rows)
        if fresh(name, params):
            yield name, params
    if spec.strategy != "grid":
        return
    grids = []
    for name in learners:
        space = ctx.space(name, n_rows)
        grids.append((name, _grid_points(space, spec.grid_points)))
    while grids:
        for entry in list(grids):
            name, points = entry
            for params in points:
                if fresh(name, params):
                    yield name, params
                    break
            else:
                grids.remove(entry)


def _grid_points(space: dict[str, Any], points: int) -> Iterator[dict[str, Any]]:
    names = list(space)
    for combo in itertools.product(*(space[p].grid(points) for p in names)):
        yield dict(zip(names, combo, strict=True))


def _run_listed(ctx: SearchContext, configs: Iterator[tuple[str, dict]], *, limit: int | None,
                clock: _Clock, parallel: int, on_trial: Callable[[TrialRecord], None]) -> list[TrialRecord]:
    records: list[TrialRecord] = []
    lock = threading.Lock()
    numbered = enumerate(configs)

    def worker() -> None:
        while True:
            with lock:
                if (limit is not None and len(records) >= limit) or clock.late(records):
                    return
                try:
                    number, (name, params) = next(numbered)
                except StopIteration:
                    return
                deadline = clock.deadline(records)
            record = ctx.evaluate(number, name, params, deadline=deadline,
                                  anything_done=lambda: _completed(records))
            with lock:
                records.append(record)
            on_trial(record)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for future in [pool.submit(worker) for _ in range(parallel)]:
            future.result()
    return sorted(records, key=lambda r: r.number)


def _completed(records: list[TrialRecord]) -> bool:
    return any(r.status == "complete" for r in records)


def _late(deadline: float | None, records: list[TrialRecord]) -> bool:
    """Past the deadline, once at least one trial has completed (a search never returns empty)."""
    return deadline is not None and time.perf_counter() > deadline and _completed(records)


def new_study(ctx: SearchContext, learners: list[str], spec: SearchSpec, *, n_rows: int,
              parallel: int) -> tuple[Any, dict[str, SearchSpace]]:
    """The Optuna study of a random or Bayesian search (seeded sampler, the spec's pruner, the warm-start
    configurations enqueued first) and each learner's search space; ``parallel`` > 1 makes TPE lie about
    running trials so that concurrent asks spread out. The local and the Ray executors share it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if spec.strategy == "random":
            sampler: Any = optuna.samplers.RandomSampler(seed=ctx.seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=ctx.seed, multivariate=True, group=True,
                                                 n_startup_trials=max(5, len(learners)), constant_liar=parallel > 1)
        study = optuna.create_study(direction="maximize", sampler=sampler, pruner=_pruner(spec, len(ctx.folds)))
    spaces = {name: ctx.space(name, n_rows) for name in learners}
    for name, params in warm_start(ctx, learners, n_rows, spaces):
        study.enqueue_trial({"learner": name, **{f"{name}.{p}": v for p, v in params.items()}})
    return study, spaces


def _run_optuna(ctx: SearchContext, learners: list[str], spec: SearchSpec, *, n_rows: int, n_trials: int | None,
                clock: _Clock, parallel: int, on_trial: Callable[[TrialRecord], None]) -> list[TrialRecord]:
    import optuna

    study, spaces = new_study(ctx, learners, spec, n_rows=n_rows, parallel=parallel)
    records: list[TrialRecord] = []
    lock = threading.Lock()

    def objective(trial: Any) -> float:
        with lock:
            late, deadline = clock.late(records), clock.deadline(records)
        if late:
            study.stop()
            raise optuna.TrialPruned("the time budget ran out")
        name = trial.suggest_categorical("learner", learners)
        params = {p: domain.suggest(trial, f"{name}.{p}") for p, domain in spaces[name].items()}

        def report(value: float, step: int) -> bool:
            trial.report(value, step)
            return bool(trial.should_prune())

        record = ctx.evaluate(trial.number, name, params, deadline=deadline, report=report,
                              anything_done=lambda: _completed(records))
        with lock:
            records.append(record)
        on_trial(record)
        if record.status == "pruned":
            raise optuna.TrialPruned(record.error)
        if record.status == "failed":
            return float("-inf")
        assert record.score is not None
        return ctx.signed(record.score)

    with warnings.catch_warnings():  # the deadline is enforced by clock.late and study.stop(), after a first success
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=n_trials, n_jobs=parallel, catch=())
    return sorted(records, key=lambda r: r.number)


def warm_start(ctx: SearchContext, learners: list[str], n_rows: int,
               spaces: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The configurations a random or Bayesian search tries first: each learner's known-good one
    (cheapest and strongest learners first), then the portfolio's, round-robin over learners. A
    portfolio configuration takes the known-good values of the parameters it lacks."""
    ordered = by_priority(learners)
    inits = {name: ctx.init_config(name, n_rows) for name in ordered}
    queue: list[tuple[str, dict[str, Any]]] = [(name, inits[name]) for name in ordered]
    extra = {name: [{**inits[name], **c} for c in portfolio_configs(name, spaces[name], ctx.task)] for name in ordered}
    for rank in range(max((len(c) for c in extra.values()), default=0)):
        for name in ordered:
            if rank < len(extra[name]) and (name, extra[name][rank]) not in queue:
                queue.append((name, extra[name][rank]))
    return queue


def _pruner(spec: SearchSpec, folds: int) -> Any:
    import optuna

    if spec.pruner == "none":
        return optuna.pruners.NopPruner()
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, folds), reduction_factor=3)
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
