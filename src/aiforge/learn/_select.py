"""Algorithm selection: search learners and configurations by cross-validation, refit the best trial."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aiforge.errors import AiforgeError
from aiforge.learn._ensemble import WeightedEnsemble, select_ensemble
from aiforge.learn._learners import FIRST_TREES, LEARNERS
from aiforge.learn._model import FeatureSet, TabularModel, build_preprocessor, target_values
from aiforge.learn._resample import resample, split_resample
from aiforge.learn._search import REFIT_SHARE, SearchContext, TrialRecord, run_search
from aiforge.learn._task import TaskInfo
from aiforge.learn._threshold import ThresholdGoal, tune_threshold
from aiforge.spec import ModelSpec, SearchSpec, TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from aiforge.workspace import Executor

__all__ = ["CandidateResult", "Objective", "SelectionReport", "TrainingFailed", "make_folds", "refit_trial",
           "select_and_fit"]

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
    """A learner's best trial: the leaderboard row of the report."""

    learner: str
    status: str  # ok | failed | skipped
    fold_scores: list[float] = field(default_factory=list)
    mean: float | None = None
    std: float | None = None
    seconds: float = 0.0
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    trials: int = 0


@dataclass(frozen=True)
class SelectionReport:
    """How the model was chosen: every trial, the leaderboard, the winner and the settings."""

    objective: str
    higher_is_better: bool
    cv_folds: int
    seed: int
    best: str
    candidates: list[CandidateResult]
    features: dict[str, Any]
    fit_seconds: float
    strategy: str = "defaults"
    cv_strategy: str = "kfold"
    best_params: dict[str, Any] = field(default_factory=dict)
    best_score: float | None = None
    search_seconds: float = 0.0
    trials: list[TrialRecord] = field(default_factory=list)
    ensemble: dict[str, Any] | None = None  # the greedy selection, kept or not, with its members
    threshold: dict[str, Any] | None = None  # binary: the tuned decision threshold and what it achieves
    validation: str = ""  # why trials were validated this way (e.g. what cv: auto chose)
    frugal: dict[str, Any] | None = None  # energy_tolerance: the cheaper trial chosen over the most accurate

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SelectionReport:
        return cls(**{**data, "candidates": [CandidateResult(**c) for c in data["candidates"]],
                      "trials": [TrialRecord(**t) for t in data.get("trials", [])]})


def resolve_n_jobs(n_jobs: int) -> int:
    cores = os.cpu_count() or 1
    return cores if n_jobs in (-1, 0) else max(1, min(n_jobs, cores))


HOLDOUT_SHARE = 0.2  # the validation share of cv_strategy: holdout
SMALL_ROWS = 10_000  # cv: auto keeps 5 folds up to this many rows (and an affordable time budget)
CELLS_PER_SECOND_FOR_FOLDS = 5_000  # cv: auto: rows x features per budget second that 5 folds afford
CELLS_PER_SECOND_FOR_CV = 20_000  # ... that 3 folds afford; beyond it, one holdout split
HOLDOUT_CELLS = 10_000_000  # cv: auto takes a holdout above this many rows x features, whatever the budget


def plan_validation(search: SearchSpec, n_rows: int, n_features: int, task: TaskKind) -> tuple[str, int, str]:
    """(strategy, folds, why): how trials are validated, with ``cv: auto`` settled by the table's size
    against the time budget. A holdout is one fold."""
    strategy = search.cv_strategy
    if strategy == "auto":
        strategy = "stratified" if task.is_classification else "kfold"
    if strategy == "holdout":
        return strategy, 1, f"cv_strategy: holdout ({HOLDOUT_SHARE:.0%} of the rows validate)"
    if search.cv != "auto":
        return strategy, search.cv, f"cv: {search.cv}"
    cells = n_rows * max(1, n_features)
    seconds = search.budget.seconds
    rate = cells / seconds if seconds else 0.0
    size = f"{n_rows:,} rows x {n_features} features" + (f" in a {seconds:g} s budget" if seconds else "")
    if search.cv_strategy == "auto" and (cells > HOLDOUT_CELLS or rate > CELLS_PER_SECOND_FOR_CV):
        return "holdout", 1, f"cv: auto chose a {HOLDOUT_SHARE:.0%} holdout for {size}"
    folds = 5 if n_rows <= SMALL_ROWS and rate <= CELLS_PER_SECOND_FOR_FOLDS else 3
    return strategy, folds, f"cv: auto chose {folds} folds for {size}"


def make_folds(X: pd.DataFrame, y: np.ndarray, task: TaskKind, spec: ModelSpec,
               n_features: int | None = None) -> tuple[str, list[Any]]:
    """The validation folds on the training split, as (train positions, validation positions)."""
    import numpy as np
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit, train_test_split

    search = spec.search
    strategy, n_folds, _ = plan_validation(search, len(X), n_features or X.shape[1], task)
    positions = np.arange(len(y))
    if strategy == "holdout":
        _, counts = np.unique(y, return_counts=True)
        stratify = y if task.is_classification and counts.min() >= 2 else None
        train, valid = train_test_split(positions, test_size=HOLDOUT_SHARE, random_state=spec.seed,
                                        stratify=stratify)
        return strategy, [(np.sort(train), np.sort(valid))]
    if strategy == "stratified":
        return strategy, list(StratifiedKFold(n_folds, shuffle=True, random_state=spec.seed).split(positions, y))
    if strategy == "kfold":
        return strategy, list(KFold(n_folds, shuffle=True, random_state=spec.seed).split(positions))
    if strategy == "group":
        groups = X[search.group_column].astype(str).to_numpy()
        return strategy, list(GroupKFold(n_folds, shuffle=True, random_state=spec.seed).split(positions, y, groups))
    # split the distinct times, so that rows sharing a time value stay on one side of every fold
    times, which = np.unique(X[search.time_column].to_numpy(), return_inverse=True)
    folds = []
    for tr, va in TimeSeriesSplit(n_folds).split(times):
        folds.append((np.flatnonzero(np.isin(which, tr)), np.flatnonzero(np.isin(which, va))))
    return strategy, folds


def select_and_fit(
    X: pd.DataFrame,
    y: pd.Series,
    task: TaskInfo,
    features: FeatureSet,
    spec: ModelSpec,
    objective: Objective,
    *,
    threshold_goal: ThresholdGoal | None = None,
    on_step: StepCallback | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
    executor: Executor | None = None,
) -> tuple[TabularModel, SelectionReport]:
    """Search ``spec.learners`` by cross-validation on ``X``, then refit the best trial on all of ``X``.

    ``on_step`` gets a line of text per event; ``on_trial`` gets every finished trial as it ends
    (from the search's worker threads), for faces that show a live leaderboard. ``executor`` runs the trials
    on a Ray cluster (the refit of the winner stays here).
    """

    step = on_step or (lambda _msg: None)
    cores = resolve_n_jobs(spec.n_jobs)
    y_enc = target_values(y, task.kind, task.classes)
    cv_strategy, folds = make_folds(X, y_enc, task.kind, spec, len(features.columns))
    validation = plan_validation(spec.search, len(X), len(features.columns), task.kind)[2]
    if spec.search.cv == "auto":
        step(validation)
    parallel = 1 if spec.search.strategy == "defaults" and len(spec.learners) == 1 else cores
    ensembled = spec.ensemble.enabled and not task.kind.is_generation  # generated texts do not average
    ctx = SearchContext(X=X, y=y_enc, task=task.kind, features=features, folds=folds, score=objective.fn,
                        higher_is_better=objective.higher_is_better, seed=spec.seed,
                        threads_per_trial=max(1, cores // parallel),
                        keep_oof=spec.ensemble.candidates if ensembled
                        else int(threshold_goal is not None or not spec.search.refit),
                        fixed={name: {**LEARNERS[name].fixed_params(spec, task.kind),
                                      **LEARNERS[name].input_params(features.columns)}
                               for name in spec.learners},
                        added={name: LEARNERS[name].project_space(spec, task.kind) for name in spec.learners},
                        resamplers=tuple(spec.resample) if spec.resample is not None else None)
    best_so_far: list[TrialRecord] = []

    def trial_done(record: TrialRecord) -> None:
        if record.status == "complete" and (
            not best_so_far or ctx.signed(record.score or 0.0) > ctx.signed(best_so_far[0].score or 0.0)
        ):
            best_so_far[:] = [record]
        shown = f"{record.score:.4f}" if record.score is not None else record.status
        lead = best_so_far[0] if best_so_far else None
        lead_text = f" · best {lead.score:.4f} {lead.learner}" if lead else ""
        step(f"trial {record.number + 1}: {record.learner} {objective.name} {shown}{lead_text}")
        if on_trial is not None:
            on_trial(record)

    started = time.perf_counter()
    if executor is not None and executor.is_ray:
        step(f"trials run as Ray tasks ({executor.describe()})")
    refits = 2 if spec.refit_full else 1
    reserve = refit_reserve(spec.search.budget.seconds, refits, len(folds),
                            spec.ensemble.max_members if ensembled else 1, spec.ensemble.candidates, ctx.signed)
    trials = run_search(ctx, list(spec.learners), spec.search, n_rows=len(X), parallel=parallel, on_trial=trial_done,
                        executor=executor, refits=refits, reserve=reserve)
    search_seconds = time.perf_counter() - started
    complete = [t for t in trials if t.status == "complete"]
    if not complete:
        errors = "; ".join(f"{t.learner}: {t.error}" for t in trials if t.error)[:2000]
        raise TrainingFailed("no trial completed", found=errors or "no trial ran",
                             hint="check the input columns' types, try other learners, or raise the budget")
    best = max(complete, key=lambda t: (ctx.signed(t.score or 0.0), -t.number))
    frugal = None
    tolerance = spec.search.energy_tolerance
    if tolerance is not None:
        cheapest = frugal_trial(complete, best, tolerance, ctx.signed)
        if cheapest is not best:
            frugal = {"tolerance": tolerance, "most_accurate": {"trial": best.number, "learner": best.learner,
                      "score": best.score, **trial_cost(best)},
                      "chosen": {"trial": cheapest.number, "learner": cheapest.learner, "score": cheapest.score,
                                 **trial_cost(cheapest)}}
            step(f"energy: trial {cheapest.number + 1} {cheapest.learner} scores within {tolerance:g} of the best "
                 f"at {trial_cost(cheapest)['fit_seconds_per_fold']:.2f} s per fold instead of "
                 f"{trial_cost(best)['fit_seconds_per_fold']:.2f} s")
            best = cheapest
    choice = None
    if ctx.oof and ensembled:
        costs = {t.number: t.predict_ms for t in trials if t.predict_ms is not None}
        choice = select_ensemble({n: p for n, (_, p) in ctx.oof.items()}, y_enc, ctx.validated_rows, objective.fn,
                                 objective.higher_is_better, rounds=spec.ensemble.rounds,
                                 max_members=spec.ensemble.max_members, keep_gain=spec.ensemble.keep_gain,
                                 costs=costs, max_slowdown=spec.ensemble.max_slowdown)
    by_number = {t.number: t for t in trials}
    if choice is not None and choice.kept and tolerance is not None and (
            ctx.signed(choice.score) - ctx.signed(choice.best_single_score) <= tolerance):
        step(f"ensemble dropped: it gains less than energy_tolerance {tolerance:g} for {len(choice.weights)} models")
        choice = replace(choice, kept=False)
    if choice is not None and choice.kept and spec.search.budget.seconds:
        left = spec.search.budget.seconds - (time.perf_counter() - started)
        # with model.refit_full the members are fit twice: on the training split, then on all rows
        needed = sum(_refit_estimate(by_number[n], len(folds)) for n in choice.weights) * (1 + spec.refit_full)
        if not ensemble_refit_fits(needed, left, _refit_estimate(best, len(folds))):
            if all(n in ctx.models for n in choice.weights):
                step(f"ensemble of the holdout models: refitting its {len(choice.weights)} members would take "
                     f"~{needed:.0f} s, {max(left, 0):.0f} s of the budget are left")
                choice = replace(choice, refit=False)
            else:
                step(f"ensemble dropped: refitting its {len(choice.weights)} members would take ~{needed:.0f} s, "
                     f"{max(left, 0):.0f} s of the budget are left")
                choice = replace(choice, kept=False, dropped_for_time=True)
    t0 = time.perf_counter()
    if choice is not None and choice.kept and not choice.refit:
        # trained on the holdout split's training rows, validated on the rest: used as they are
        for n in choice.weights:
            LEARNERS[by_number[n].learner]().serve(ctx.models[n].named_steps["model"])
        estimator: Any = WeightedEnsemble([(ctx.models[n], w) for n, w in choice.weights.items()], task.kind)
        name, params = "ensemble", {"members": len(choice.weights), "refit": False}
        score: float | None = choice.score
    elif choice is not None and choice.kept:
        members = []
        encoders: dict[tuple[str, bool], tuple[Any, Any, list[int]]] = {}
        for number, weight in choice.weights.items():
            member = by_number[number]
            step(f"refit ensemble member: trial {number + 1} {member.learner}")
            members.append((_fit_pipeline(member.learner, task.kind, features, spec.seed, cores,
                                          _refit_params(member, len(folds)), X, y_enc, encoders), weight))
        estimator = WeightedEnsemble(members, task.kind)
        name, params = "ensemble", {"members": len(members)}
        score = choice.score
    elif not spec.search.refit and best.number in ctx.models:
        # search.refit: false with one holdout split: the winner as the search trained it
        estimator = ctx.models[best.number]
        LEARNERS[best.learner]().serve(estimator.named_steps["model"])
        name, params, score = best.learner, {**best.params, "refit": False}, best.score
        step(f"kept {best.learner} as trained on the holdout's training rows (search.refit: false)")
    else:
        budget = spec.search.budget.seconds
        time_left = budget - (time.perf_counter() - started) if budget else None
        params = _refit_params(best, len(folds), time_left)
        estimator = _fit_pipeline(best.learner, task.kind, features, spec.seed, cores, params, X, y_enc)
        name, score = best.learner, best.score
        step(f"refit {best.learner} on the whole training split")
    tuned = None
    if threshold_goal is not None and task.kind is TaskKind.BINARY:
        weights = choice.weights if choice is not None and choice.kept else {best.number: 1.0}
        oof = sum(w * ctx.oof[n][1] for n, w in weights.items())
        rows = ctx.validated_rows
        tuned = tune_threshold(y_enc[rows], oof[rows][:, 1], threshold_goal)
        step(f"decision threshold {tuned['threshold']:.4f} for {tuned['goal']}")
    model = TabularModel(estimator, task.kind, task.classes, features, name, target=str(y.name),
                         threshold=tuned["threshold"] if tuned else 0.5)
    ensemble = None
    if choice is not None:
        ensemble = {**choice.to_json(), "members": [
            {"trial": n, "learner": by_number[n].learner, "weight": w} for n, w in choice.weights.items()]}
    report = SelectionReport(
        objective=objective.name, higher_is_better=objective.higher_is_better, cv_folds=len(folds),
        seed=spec.seed, best=name, candidates=_leaderboard(trials, list(spec.learners), ctx),
        features={"numeric": features.numeric, "categorical": features.categorical, "ignored": features.ignored,
                  "text": list(features.text)},
        fit_seconds=time.perf_counter() - t0, strategy=spec.search.strategy, cv_strategy=cv_strategy,
        best_params=params, best_score=score, search_seconds=search_seconds, trials=trials, ensemble=ensemble,
        threshold=tuned, validation=validation, frugal=frugal,
    )
    return model, report


def refit_trial(learner: str, selection: SelectionReport, X: pd.DataFrame, y: pd.Series, task: TaskInfo,
                features: FeatureSet, spec: ModelSpec) -> TabularModel:
    """``learner``'s best complete trial of the search that ``selection`` reports, refit on all of ``X`` as the
    winner is (its size grown to what its folds chose), for serving beside the chosen model. The decision
    threshold is 0.5: a tuned one belongs to the chosen model."""
    complete = [t for t in selection.trials if t.learner == learner and t.status == "complete"]
    if not complete:
        raise ValueError(f"learner {learner!r} has no complete trial in this search; "
                         f"those with one: {sorted({t.learner for t in selection.trials if t.status == 'complete'})}")
    sign = 1.0 if selection.higher_is_better else -1.0
    best = max(complete, key=lambda t: (sign * (t.score or 0.0), -t.number))
    y_enc = target_values(y, task.kind, task.classes)
    estimator = _fit_pipeline(learner, task.kind, features, spec.seed, resolve_n_jobs(spec.n_jobs),
                              _refit_params(best, selection.cv_folds), X, y_enc)
    return TabularModel(estimator, task.kind, task.classes, features, learner, target=str(y.name))


def trial_cost(trial: TrialRecord) -> dict[str, float | None]:
    """What a trial costs to train (seconds per fold, with the same threads) and to serve (ms per 1000 rows):
    the proxies of its energy, as CPU time is what a CPU spends energy on."""
    return {"fit_seconds_per_fold": trial.seconds / max(1, len(trial.fold_scores)), "predict_ms": trial.predict_ms}


def frugal_trial(complete: list[TrialRecord], best: TrialRecord, tolerance: float,
                 signed: Callable[[float], float]) -> TrialRecord:
    """The cheapest trial (training time per fold, then prediction time) whose score is within ``tolerance``
    of the best's: energy weighed against accuracy."""
    floor = signed(best.score or 0.0) - tolerance
    near = [t for t in complete if signed(t.score or 0.0) >= floor - 1e-12]

    def cost(t: TrialRecord) -> tuple[float, float, int]:
        c = trial_cost(t)
        return (float(c["fit_seconds_per_fold"] or 0.0), float(c["predict_ms"] or 0.0), t.number)

    return min(near, key=cost)


RESERVE_FLOOR = 0.03  # the least share of a time budget kept back after the search (ensemble selection, refits)
RESERVE_MARGIN = 1.25  # the reserve is this much more than the refits' estimate


def refit_reserve(seconds: float | None, refits: int, folds: int, members: int, candidates: int,
                  signed: Callable[[float], float]) -> Callable[[list[TrialRecord]], float]:
    """The seconds of a time budget the search keeps back, as the trials so far make it: ``refits`` times the
    refit of the ensemble the trials could make at worst (the ``members`` slowest to refit among the
    ``candidates`` best trials; the best one alone without ensembling), with a margin, at least
    ``RESERVE_FLOOR`` of the budget and at most ``REFIT_SHARE`` of it per refit (the reserve before any trial
    completes). A search over small data then uses the budget that a fixed share would leave unused; when the
    refit turns out longer, the ensemble falls back (``ensemble_refit_fits``)."""
    budget = seconds or 0.0
    cap = REFIT_SHARE * refits * budget

    def reserve(records: list[TrialRecord]) -> float:
        complete = sorted((r for r in records if r.status == "complete"),
                          key=lambda r: (-signed(r.score or 0.0), r.number))
        if not complete:
            return cap
        pool = complete[:candidates] if members > 1 else complete[:1]
        slowest = sorted((_refit_estimate(r, folds) for r in pool), reverse=True)[:members]
        return min(cap, max(RESERVE_FLOOR * budget, RESERVE_MARGIN * refits * sum(slowest)))

    return reserve


def ensemble_refit_fits(needed: float, left: float, single: float) -> bool:
    """Whether refitting an ensemble's members (``needed`` s) fits the budget's ``left`` seconds.

    A single model is refit whatever is left, so the ensemble may always take as long as it would.
    """
    return needed <= max(left, single)


def _refit_estimate(trial: TrialRecord, folds: int) -> float:
    """Seconds to refit a trial on the whole training split, from its time per fold (a fold trains on
    (k-1)/k of the rows; a holdout on 1 - HOLDOUT_SHARE of them)."""
    grow = 1 / (1 - HOLDOUT_SHARE) if folds <= 1 else folds / (folds - 1)
    return trial.seconds / max(1, len(trial.fold_scores) or folds) * grow


def _refit_params(trial: TrialRecord, folds: int, seconds_left: float | None = None) -> dict[str, Any]:
    """The trial's configuration, grown to the size its folds chose: boosting refits with the rounds
    early stopping kept, scaled to the larger training set; a forest the deadline cut, with the trees
    it grew. A forest whose refit would overrun ``seconds_left`` grows the trees that time affords
    (at least ``FIRST_TREES``, or the size itself when smaller: an MLP's few epochs)."""
    params = dict(trial.params)
    learner = LEARNERS[trial.learner]
    if trial.rounds is not None and learner.size_param is not None:
        # a holdout trained on 1 - HOLDOUT_SHARE of the rows; k folds on (k-1)/k of them (grown a little less)
        grow = 1 / (1 - HOLDOUT_SHARE) if folds <= 1 else 1 + 1 / folds
        scale = grow if learner.boosting else 1.0
        params[learner.size_param] = max(1, int(trial.rounds * scale))
    size = params.get(learner.size_param) if learner.size_param else None
    if seconds_left is not None and size and not learner.boosting:
        estimate = _refit_estimate(trial, folds)
        if estimate > seconds_left:
            assert learner.size_param is not None
            floor = min(FIRST_TREES, int(size))
            params[learner.size_param] = max(floor, min(int(size), int(size * max(0.0, seconds_left) / estimate)))
    return params


def _leaderboard(trials: list[TrialRecord], learners: list[str], ctx: SearchContext) -> list[CandidateResult]:
    import numpy as np

    rows = []
    for name in learners:
        mine = [t for t in trials if t.learner == name]
        done = [t for t in mine if t.status == "complete"]
        seconds = float(sum(t.seconds for t in mine))
        if done:
            top = max(done, key=lambda t: (ctx.signed(t.score or 0.0), -t.number))
            rows.append(CandidateResult(name, "ok", top.fold_scores, top.score, float(np.std(top.fold_scores)),
                                        seconds, None, top.params, len(mine)))
        elif mine:
            errors = [t.error for t in mine if t.error]
            status = "failed" if any(t.status == "failed" for t in mine) else "skipped"
            rows.append(CandidateResult(name, status, seconds=seconds, error=errors[0] if errors else None,
                                        trials=len(mine)))
        else:
            rows.append(CandidateResult(name, "skipped", error="budget spent before it was tried"))
    return rows


def _fit_pipeline(name: str, task: TaskKind, features: FeatureSet, seed: int, n_jobs: int,
                  params: dict[str, Any], X: pd.DataFrame, y: np.ndarray,
                  encoders: dict[tuple[str, bool], tuple[Any, Any, list[int]]] | None = None) -> Any:
    """The learner refit on ``X``; ``encoders`` shares one fitted encoder per kind of encoding between
    the members of an ensemble (so that a prediction encodes its inputs once per kind)."""
    from sklearn.pipeline import Pipeline

    learner = LEARNERS[name]()
    key = (learner.encoding, learner.scale)
    if encoders is not None and key in encoders:
        pre, encoded, categorical = encoders[key]
    else:
        pre, categorical = build_preprocessor(features, encoding=learner.encoding, scale=learner.scale)
        encoded = pre.fit_transform(X[features.columns])
        if encoders is not None:
            encoders[key] = (pre, encoded, categorical)
    method, params = split_resample(params)
    encoded, y = resample(method, encoded, y, categorical, seed)
    estimator = learner.build(task, seed, learner.threads_for(n_jobs, encoded), categorical, params)
    learner.fit(estimator, encoded, y, categorical)
    learner.serve(estimator)
    return Pipeline([("prep", pre), ("model", estimator)])
