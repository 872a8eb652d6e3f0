"""model.augment and model.resample reach the search: the mlp's trials are augmented (or, with search: true,
try it on and off), the methods model.resample names are the ones tried, and the refit keeps the winner's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY

from aiforge.learn import LEARNERS, choose_features, resolve_task, select_and_fit
from aiforge.learn._search import SearchContext
from aiforge.learn._select import _fit_pipeline, make_folds
from aiforge.spec import AugmentSpec, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind

pytest.importorskip("torch")


def _frame(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "y": np.where(x1 + 0.5 * x2 > 1.3, "rare", "common")})


def _search(frame: pd.DataFrame, **model: object) -> tuple:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="y", positive_class="rare"), table,
                        where="aiforge.yaml:2 (problem)")
    spec = ModelSpec(learners=["mlp"], ensemble=EnsembleSpec(enabled=False), seed=0, n_jobs=1, **model)
    return select_and_fit(frame.drop(columns="y"), frame["y"], task, choose_features(table, "y"), spec, ACCURACY)


def test_a_searched_augmentation_is_an_on_off_choice_and_the_refit_follows_the_trials_choice() -> None:
    frame = _frame()
    y = (frame.pop("y") == "rare").to_numpy(dtype=float)
    features = choose_features(pa.Table.from_pandas(frame, preserve_index=False), None)
    spec = ModelSpec(learners=["mlp"], augment=AugmentSpec(noise=0.1, search=True), resample=["synthetic", "none"])
    _, folds = make_folds(frame, y, TaskKind.BINARY, ModelSpec(search=SearchSpec(cv=2)))
    mlp = LEARNERS["mlp"]
    ctx = SearchContext(X=frame, y=y, task=TaskKind.BINARY, features=features, folds=folds, score=ACCURACY.fn,
                        higher_is_better=True, seed=0, threads_per_trial=1,
                        fixed={"mlp": mlp.fixed_params(spec, TaskKind.BINARY)},
                        added={"mlp": mlp.project_space(spec, TaskKind.BINARY)}, resamplers=tuple(spec.resample or ()))

    assert ctx.space("mlp", 240)["augment"].values == (False, True)
    assert ctx.space("mlp", 240)["resample"].values == ("synthetic", "none")
    init = ctx.init_config("mlp", 240)
    assert init["augment"] is False and init["resample"] == "none"

    small = {**init, "max_epochs": 5, "resample": "synthetic", **ctx.fixed["mlp"]}
    for on in (False, True):
        pipe = _fit_pipeline("mlp", TaskKind.BINARY, features, 0, 1, {**small, "augment": on}, frame, y)
        network = pipe.named_steps["model"]
        assert network.augment == ({"flip": False, "vflip": False, "crop": 0, "rotate": 0.0, "cutout": 0,
                                    "noise": 0.1} if on else None)
        assert (network.history_.augmented_rows > 0) is on
        assert network.history_.augmented_rows in (0, 5 * int(2 * (y == 0).sum()))  # synthetic: balanced classes


def test_a_fixed_augmentation_trains_every_trial_and_the_refit_with_noise() -> None:
    model, report = _search(_frame(), search=SearchSpec(cv=2), augment=AugmentSpec(noise=0.2))
    assert all(t.params["augment"]["noise"] == 0.2 for t in report.trials)
    assert model.pipeline.named_steps["model"].history_.augmented_rows > 0


def test_the_cnn_learner_builds_its_network_with_the_project_files_augmentation() -> None:
    cnn = LEARNERS["cnn"]
    fixed = ModelSpec(learners=["cnn"], augment=AugmentSpec(flip=True, crop=2))
    params = {**cnn.init_config(500, TaskKind.MULTICLASS), **cnn.fixed_params(fixed, TaskKind.MULTICLASS)}
    built = cnn().build(TaskKind.MULTICLASS, 0, 1, [], params)
    assert built.augment == {"flip": True, "vflip": False, "crop": 2, "rotate": 0.0, "cutout": 0, "noise": 0.0}

    searched = ModelSpec(learners=["cnn"], augment=AugmentSpec(flip=True, search=True))
    assert cnn.project_space(searched, TaskKind.MULTICLASS)["augment"].values == (False, True)  # type: ignore[attr-defined]
    params = {**cnn.init_config(500, TaskKind.MULTICLASS), **cnn.fixed_params(searched, TaskKind.MULTICLASS)}
    assert cnn().build(TaskKind.MULTICLASS, 0, 1, [], {**params, "augment": False}).augment is None
    assert cnn().build(TaskKind.MULTICLASS, 0, 1, [], {**params, "augment": True}).augment["flip"] is True
