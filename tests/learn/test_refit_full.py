"""model.refit_full: the chosen configuration refit on more rows (single learner or ensemble), and the
boosting learners' threads sized to the data."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
import pytest
from test_search import _frame, _objective

from aiforge.learn import (
    LEARNERS,
    TabularModel,
    choose_features,
    refit_full,
    resolve_task,
    select_and_fit,
    whole_batches,
)
from aiforge.learn._learners import CELLS_PER_BOOSTING_THREAD
from aiforge.learn._mitigate import MitigatedModel
from aiforge.spec import EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind


def _fit(kind: TaskKind, learners: list[str], *, ensemble: bool = False, refit: bool = True, rows: int = 300,
         n_jobs: int = 1):
    frame = _frame(kind)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=kind, target="y"), table, where="aiforge.yaml:2 (problem)")
    features = choose_features(table, "y")
    search = SearchSpec(strategy="random", cv="auto" if refit else 3, budget={"trials": 6},
                        **({} if refit else {"cv_strategy": "holdout", "refit": False}))
    spec = ModelSpec(learners=learners, search=search, ensemble=EnsembleSpec(enabled=ensemble), seed=5, n_jobs=n_jobs,
                     refit_full=True)
    part = frame.iloc[:rows]
    model, report = select_and_fit(part.drop(columns="y"), part["y"], task, features, spec, _objective(kind))
    return frame, task, spec, model, report


def test_a_single_boosting_learner_is_refit_with_its_configuration_and_more_rounds() -> None:
    frame, task, spec, model, report = _fit(TaskKind.BINARY, ["lightgbm"])
    model.threshold = 0.37
    full = refit_full(model, report, frame.drop(columns="y"), frame["y"], task, spec, fitted_rows=300)

    assert isinstance(full, TabularModel) and full.learner == "lightgbm" and full.threshold == 0.37
    before, after = model.pipeline.named_steps["model"], full.pipeline.named_steps["model"]
    grown = round(report.best_params["n_estimators"] * len(frame) / 300)
    assert after.get_params()["n_estimators"] == grown > before.get_params()["n_estimators"]
    for key in ("learning_rate", "num_leaves", "min_child_samples"):
        assert after.get_params()[key] == before.get_params()[key]
    assert full.predict_proba(frame).shape == (len(frame), 2)
    assert (full.predict_proba(frame) != model.predict_proba(frame)).any()  # trained on other rows


def test_an_ensemble_is_refit_member_by_member_with_its_weights() -> None:
    frame, task, spec, model, report = _fit(TaskKind.REGRESSION, ["linear", "random_forest", "lightgbm"],
                                            ensemble=True)
    ensemble = replace(report, ensemble={**(report.ensemble or {}), "kept": True, "members": [
        {"trial": t.number, "learner": t.learner, "weight": 0.5}
        for t in [t for t in report.trials if t.status == "complete"][:2]]})
    full = refit_full(model, ensemble, frame.drop(columns="y"), frame["y"], task, spec, fitted_rows=300)

    members = full.pipeline.members
    assert [w for _, w in members] == [0.5, 0.5]
    assert [type(p.named_steps["model"]).__name__ for p, _ in members] == [
        type(LEARNERS[m["learner"]]().build(TaskKind.REGRESSION, 0, 1, [], {})).__name__
        for m in ensemble.ensemble["members"]]
    assert full.predict(frame).shape == (len(frame),)


def test_a_holdout_model_kept_as_trained_is_refit_with_its_trial_rounds() -> None:
    frame, task, spec, model, report = _fit(TaskKind.BINARY, ["lightgbm"], refit=False)
    assert report.best_params.get("refit") is False
    full = refit_full(model, report, frame.drop(columns="y"), frame["y"], task, spec, fitted_rows=300)
    best = next(t for t in report.trials if t.status == "complete" and t.params == {
        k: v for k, v in report.best_params.items() if k != "refit"})
    rounds = full.pipeline.named_steps["model"].get_params()["n_estimators"]
    assert best.rounds is not None and rounds > best.rounds  # grown from the trial's early-stopped rounds


def test_a_mitigated_model_is_not_refit() -> None:
    frame, task, spec, model, report = _fit(TaskKind.BINARY, ["linear"])
    mitigated = MitigatedModel.__new__(MitigatedModel)
    mitigated.__dict__.update(model.__dict__)
    with pytest.raises(TypeError, match="compressed or mitigated"):
        refit_full(mitigated, report, frame.drop(columns="y"), frame["y"], task, spec, fitted_rows=300)


@pytest.mark.parametrize("learner", ["lightgbm", "xgboost"])
def test_boosting_fits_small_data_on_one_thread(learner: str) -> None:
    boosting = LEARNERS[learner]
    assert boosting.fit_threads(2, 30_000, 13) == 1
    assert boosting.fit_threads(2, 2 * CELLS_PER_BOOSTING_THREAD, 1) == 2
    assert boosting.fit_threads(16, 10 * CELLS_PER_BOOSTING_THREAD, 1) == 10
    assert LEARNERS["random_forest"].fit_threads(2, 30_000, 13) == 2


def test_the_refit_model_of_a_small_table_trains_on_one_thread() -> None:
    _, _, _, model, _ = _fit(TaskKind.BINARY, ["lightgbm"], n_jobs=2)
    assert model.pipeline.named_steps["model"].get_params()["n_jobs"] == 1


def test_a_large_batch_predicts_in_chunks_with_the_same_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiforge.learn._model as model_module

    frame, _, _, model, _ = _fit(TaskKind.BINARY, ["lightgbm"])
    X = frame.drop(columns="y")
    whole = model.pipeline.predict_proba(X)
    calls: list[int] = []
    method = model.pipeline.predict_proba
    monkeypatch.setattr(model_module, "PARALLEL_ROWS", 50)
    monkeypatch.setattr(model_module, "_cores", lambda: 4)
    monkeypatch.setattr(model.pipeline, "predict_proba", lambda rows: calls.append(len(rows)) or method(rows))
    assert (model.predict_proba(X) == whole).all()
    assert len(calls) == 4 and sum(calls) == len(X)

    calls.clear()
    with whole_batches():  # a caller that spreads batches over the cores itself
        model.predict_proba(X)
    assert calls == [len(X)]

    calls.clear()
    model.learner = "mlp"  # a torch learner's batch is predicted whole
    model.predict_proba(X)
    assert calls == [len(X)]


def test_a_holdout_trial_grows_its_rounds_by_the_rows_it_lacked() -> None:
    from aiforge.learn import TrialRecord
    from aiforge.learn._select import HOLDOUT_SHARE, _refit_params

    trial = TrialRecord(0, "lightgbm", {"learning_rate": 0.1}, "complete", [0.9], 0.9, 1.0, rounds=100)
    assert _refit_params(trial, 1)["n_estimators"] == int(100 / (1 - HOLDOUT_SHARE))
    assert _refit_params(trial, 3)["n_estimators"] == int(100 * (1 + 1 / 3))
