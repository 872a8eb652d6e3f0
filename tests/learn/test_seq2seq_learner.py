"""The ``seq2seq`` learner's contract: its space and known-good configuration, the source texts as they are (no
lowercasing, digits kept), the text columns joined, the search's deadline cutting a fit after a step, and
``max_epochs`` 0 fitting nothing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiforge.learn import LEARNERS, FeatureSet
from aiforge.learn._model import build_preprocessor
from aiforge.learn._space import Choice
from aiforge.spec import TaskKind

G = TaskKind.TEXT_GENERATION


def test_space_and_known_good_configuration() -> None:
    learner = LEARNERS["seq2seq"]
    space = learner.search_space(100, G)
    assert set(space) == {"lr", "max_epochs", "batch_size"}
    assert isinstance(space["max_epochs"], Choice) and 0 in space["max_epochs"].values
    init = learner.init_config(100, G)
    assert set(init) == set(space) and init["max_epochs"] in space["max_epochs"].values
    assert learner.tasks == frozenset({G}) and G not in LEARNERS["tfidf"].tasks


def test_the_source_text_is_kept_as_written_and_columns_are_joined() -> None:
    features = FeatureSet(numeric=["n"], categorical=[], text=("title", "body"))
    encoder, positions = build_preprocessor(features, encoding="source", scale=False)
    frame = pd.DataFrame({"title": ["Call Bob at 555-0100", None], "body": ["See https://x.io", "ok"], "n": [1, 2]})
    encoded = encoder.fit(frame).transform(frame)
    assert positions == [0, 1] and encoded.tolist() == [["Call Bob at 555-0100", "See https://x.io"], ["", "ok"]]


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_seq2seq import save_tiny_t5

    return save_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


def test_the_deadline_cuts_a_fit_and_zero_epochs_fit_nothing(tiny_t5: Path) -> None:
    from tiny_seq2seq import phrases, translated

    learner = LEARNERS["seq2seq"]()
    X = np.asarray([[p, "ignored"] for p in phrases(64, seed=0)], dtype=object)
    y = np.asarray(translated(list(X[:, 0])), dtype=object)
    params = {**learner.init_config(64, G), "max_epochs": 8, "checkpoint": str(tiny_t5), "max_target_length": 3}
    estimator = learner.build(G, 0, 1, [0], params)
    fitted = learner.fit(estimator, X[:48], y[:48], [0], eval_set=(X[48:], y[48:]), deadline=time.perf_counter())
    assert fitted.cut and estimator.history_.cut and len(estimator.history_.epochs) == 1
    assert fitted.rounds == estimator.history_.best_epoch
    assert estimator.predict(X[:2]).dtype == object
    as_it_is = learner.build(G, 0, 1, [0], {**params, "max_epochs": 0})
    assert learner.fit(as_it_is, X, y, [0], eval_set=(X[:4], y[:4])).rounds is None and as_it_is.history_ is None
