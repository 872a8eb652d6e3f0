"""TF-IDF + linear estimators, and the tfidf learner through the search, refit and the serving fast path."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.base import clone

from aiforge.learn import LEARNERS, Objective, TaskInfo, choose_features, compile_model, select_and_fit
from aiforge.nlp._tfidf import TfidfClassifier, TfidfRegressor
from aiforge.spec import ModelSpec, TaskKind

GOOD = ["great", "lovely", "wonderful", "fun", "brilliant", "happy"]
BAD = ["awful", "boring", "terrible", "slow", "broken", "sad"]
FILLER = ["the", "film", "was", "really", "and", "plot", "cast", "so", "very", "i", "thought", "it"]


def reviews(n: int, seed: int = 0) -> pd.DataFrame:
    """Reviews whose sentiment shows in a few of their words; ``stars`` agrees with the sentiment 80% of the time."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        positive = bool(rng.random() < 0.5)
        words = list(rng.choice(FILLER, 8)) + list(rng.choice(GOOD if positive else BAD, 2))
        rng.shuffle(words)
        stars = (4 if positive else 2) if rng.random() < 0.8 else 3
        rows.append({"review": " ".join(words) + ("!" if positive else "."), "stars": stars,
                     "label": "pos" if positive else "neg", "score": (1.0 if positive else -1.0) + rng.normal(0, .1)})
    return pd.DataFrame(rows)


def test_classifier_learns_words_and_keeps_the_sklearn_contract() -> None:
    data = reviews(300)
    X = data[["review"]].to_numpy(dtype=object)
    model = TfidfClassifier(min_df=1, analyzer="both").fit(X[:200], data.label[:200])
    assert (model.predict(X[200:]) == data.label[200:].to_numpy()).mean() > 0.9
    assert model.predict_proba(X[200:]).shape == (100, 2)
    assert model.vocabulary_size_ > len(GOOD + BAD + FILLER)  # words and their bigrams, and character n-grams
    assert clone(model).get_params() == model.get_params()
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict_proba(X[:5]), model.predict_proba(X[:5]))
    with pytest.raises(ValueError, match="analyzer must be word, char_wb or both"):
        TfidfClassifier(analyzer="sentences").fit(X, data.label)  # type: ignore[arg-type]


def test_numbers_join_the_text_and_regression() -> None:
    data = reviews(200, seed=1)
    X = np.column_stack([data.review.to_numpy(dtype=object), data.stars.to_numpy(dtype=float)])
    clf = TfidfClassifier(text_positions=[0], min_df=1).fit(X, data.label)
    assert clf.linear_.coef_.shape[1] == len(clf.vectorizers_[0][1].vocabulary_) + 1  # the stars column joined
    reg = TfidfRegressor(min_df=1, stop_words="english").fit(data[["review"]].to_numpy(dtype=object), data.score)
    assert np.corrcoef(reg.predict(data[["review"]].to_numpy(dtype=object)), data.score)[0, 1] > 0.9
    assert "the" not in reg.vectorizers_[0][1].vocabulary_


def _accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(np.argmax(proba, axis=1) == y))


def test_tfidf_learner_searches_refits_and_serves_one_row_fast() -> None:
    data = reviews(400, seed=2)
    features = choose_features(pa.Table.from_pandas(data[["review", "stars", "label"]]), "label")
    assert features.text == ("review",) and features.numeric == ["stars"]
    spec = ModelSpec(learners=["tfidf"], search={"strategy": "random", "budget": {"trials": 3}, "cv": 2},
                     ensemble={"enabled": False}, n_jobs=1)
    model, report = select_and_fit(data, data.label, TaskInfo(TaskKind.BINARY, "test", ["neg", "pos"]), features,
                                   spec, Objective("accuracy", True, _accuracy))
    assert report.best == "tfidf" and len(report.trials) == 3 and report.best_score > 0.9
    assert {"analyzer", "word_ngrams", "min_df", "max_features", "sublinear_tf", "stop_words", "C"} <= set(
        report.trials[1].params)
    record = data.iloc[:1]
    compiled = compile_model(model)
    assert compiled.path == "estimator"  # the text encoder takes the fast path, no DataFrame
    columns = {c: record[c].tolist() for c in model.input_columns}
    np.testing.assert_allclose(compiled.raw_output_columns(columns, 1), model.raw_output(record))
    assert compiled.parity(data.iloc[:50]) < 1e-9


def test_tfidf_learner_declares_its_space_for_every_task() -> None:
    learner = LEARNERS["tfidf"]
    assert learner.reads_text and learner.encoding == "text"
    assert "alpha" in learner.search_space(100, TaskKind.REGRESSION)
    assert "C" in learner.search_space(100, TaskKind.MULTICLASS)
    for task in (TaskKind.BINARY, TaskKind.REGRESSION):
        init = learner.init_config(100, task)
        assert set(init) <= set(learner.search_space(100, task))
    with pytest.raises(ValueError, match="needs a text column"):
        learner().build(TaskKind.BINARY, 0, 1, [], {})
