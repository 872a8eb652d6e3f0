"""Greedy ensemble selection over out-of-fold predictions: kept only when it wins, bounded in
members, and trimmed of slow members that add little."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aiforge.learn._ensemble import WeightedEnsemble, select_ensemble
from aiforge.spec import TaskKind

N = 4000


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p[:, 1]))


def _proba(score: np.ndarray) -> np.ndarray:
    p = 1 / (1 + np.exp(-score))
    return np.column_stack([1 - p, p])


def _views(k: int, seed: int = 0) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """A target and ``k`` models, each seeing the signal through its own independent noise."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=N)
    y = (signal + rng.normal(scale=0.5, size=N) > 0).astype(float)
    return y, {i: _proba(signal + rng.normal(scale=1.5, size=N)) for i in range(k)}


def test_models_with_independent_errors_make_an_ensemble_that_wins_and_is_kept() -> None:
    y, oof = _views(3)
    choice = select_ensemble(oof, y, np.arange(N), _auc, True)

    assert choice is not None and choice.kept
    assert len(choice.weights) == 3 and abs(sum(choice.weights.values()) - 1) < 1e-9
    assert choice.score > choice.best_single_score + 0.01


def test_copies_of_one_model_make_no_ensemble() -> None:
    y, oof = _views(1)
    choice = select_ensemble({0: oof[0], 1: oof[0].copy()}, y, np.arange(N), _auc, True)

    assert choice is not None and not choice.kept


def test_the_selection_takes_at_most_max_members_distinct_models() -> None:
    y, oof = _views(8)
    choice = select_ensemble(oof, y, np.arange(N), _auc, True, rounds=30, max_members=3)

    assert choice is not None and choice.kept and len(choice.weights) == 3


def test_a_slow_member_that_adds_little_is_dropped_while_most_of_the_gain_remains() -> None:
    y, oof = _views(2, seed=1)
    rng = np.random.default_rng(9)
    # a third model: almost the average of the other two, so it adds little on its own
    oof[2] = _proba(np.log(oof[0][:, 1] / oof[0][:, 0]) * 0.5 + np.log(oof[1][:, 1] / oof[1][:, 0]) * 0.5
                    + rng.normal(scale=0.6, size=N))
    costs = {0: 1.0, 1: 1.0, 2: 50.0}

    full = select_ensemble(oof, y, np.arange(N), _auc, True, keep_gain=1.0, costs=costs)
    trimmed = select_ensemble(oof, y, np.arange(N), _auc, True, keep_gain=0.9, costs=costs)

    assert full is not None and trimmed is not None
    assert 2 in full.weights
    assert set(trimmed.weights) == {0, 1} and trimmed.kept
    gain = full.score - full.best_single_score
    assert trimmed.score >= full.best_single_score + 0.9 * gain - 1e-12


def test_an_ensemble_slower_than_max_slowdown_loses_the_member_it_misses_least() -> None:
    y, oof = _views(4, seed=2)
    unlimited = select_ensemble(oof, y, np.arange(N), _auc, True, rounds=30, max_members=4)
    assert unlimited is not None and unlimited.kept and len(unlimited.weights) >= 3
    best = unlimited.best_single
    costs = {n: 1.0 for n in oof}  # every model as fast: the ensemble costs its member count

    capped = select_ensemble(oof, y, np.arange(N), _auc, True, rounds=30, max_members=4, costs=costs,
                             max_slowdown=2.0)

    assert capped is not None and len(capped.weights) == 2 and capped.kept
    assert sum(capped.weights.values()) == pytest.approx(1.0)
    # of the pairs left by dropping one member at a time, the best scoring one stays
    pairs = {frozenset(p) for p in itertools.combinations(unlimited.weights, 2)}
    assert frozenset(capped.weights) in pairs
    assert capped.score <= unlimited.score + 1e-12
    # a limit under two members' cost leaves one member: no ensemble
    alone = select_ensemble(oof, y, np.arange(N), _auc, True, rounds=30, max_members=4,
                            costs={n: (1.0 if n == best else 5.0) for n in oof}, max_slowdown=1.5)
    assert alone is not None and not alone.kept and len(alone.weights) == 1
    assert select_ensemble(oof, y, np.arange(N), _auc, True, rounds=30, max_members=4, costs=costs,
                           max_slowdown=None) == unlimited


def test_a_weighted_ensemble_averages_its_members_predictions() -> None:
    class Fixed:
        def __init__(self, p: np.ndarray) -> None:
            self.p = p

        def predict_proba(self, X: object) -> np.ndarray:
            return self.p

        def predict(self, X: object) -> np.ndarray:
            return self.p[:, 1]

    a, b = np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.5, 0.5], [0.6, 0.4]])
    ensemble = WeightedEnsemble([(Fixed(a), 0.75), (Fixed(b), 0.25)], TaskKind.BINARY)

    np.testing.assert_allclose(ensemble.predict_proba(None), 0.75 * a + 0.25 * b)
    assert ensemble.predict(None).tolist() == [0, 1]
    regression = WeightedEnsemble([(Fixed(a), 0.5), (Fixed(b), 0.5)], TaskKind.REGRESSION)
    np.testing.assert_allclose(regression.predict(None), [0.3, 0.6])


def test_refit_members_of_one_encoding_share_one_encoder_and_predict_as_separate_pipelines_would() -> None:
    import pandas as pd
    import pyarrow as pa
    from conftest import ACCURACY

    from aiforge.learn import choose_features, resolve_task, select_and_fit
    from aiforge.spec import Budget, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec

    rng = np.random.default_rng(5)
    n = 1500
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    signal = 2 * x1 + np.sin(3 * x2) + (colour == "red") * 1.5 + rng.normal(scale=0.8, size=n)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "y": np.where(signal > 0.5, "yes", "no")})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="y"), table, where="aiforge.yaml:2 (problem)")
    spec = ModelSpec(learners=["linear", "knn", "extra_trees", "lightgbm"],
                     search=SearchSpec(strategy="defaults", cv=3, budget=Budget(trials=4)),
                     ensemble=EnsembleSpec(candidates=4, keep_gain=1.0, max_slowdown=None), seed=0, n_jobs=1)

    model, report = select_and_fit(frame.drop(columns="y"), frame["y"], task, choose_features(table, "y"), spec,
                                   ACCURACY)

    assert report.best == "ensemble", report.ensemble
    ensemble = model.pipeline
    preps = {}
    for pipe, _ in ensemble.members:
        learner = pipe.named_steps["model"]
        key = "onehot" if type(learner).__name__ in ("LogisticRegression", "KNeighborsClassifier") else "ordinal"
        preps.setdefault(key, set()).add(id(pipe.named_steps["prep"]))
    assert all(len(ids) == 1 for ids in preps.values())  # one encoder per kind of encoding
    X = frame.drop(columns="y")[model.features.columns]
    separate = sum(w * pipe.predict_proba(X) for pipe, w in ensemble.members)
    np.testing.assert_allclose(ensemble.predict_proba(X), separate)
