"""Seq2seq generation behind the estimator contract, on a tiny T5 that the test builds itself (a word-level
tokenizer over a small vocabulary, a network of a few thousand weights, saved to tmp_path): wrapped as it is,
fine-tuned a few epochs until it translates word for word, pickled with its files, refused without a checkpoint."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from tiny_seq2seq import WORDS, phrases, save_tiny_t5, translated  # noqa: E402

from aiforge.deep import Seq2SeqGenerator  # noqa: E402
from aiforge.deep._runtime import torch_threads  # noqa: E402
from aiforge.errors import SpecError  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


def test_wrapped_as_it_is_generates_from_the_vocabulary(tiny_t5: Path) -> None:
    model = Seq2SeqGenerator(checkpoint=str(tiny_t5), max_epochs=0, max_target_length=5).fit(["red cat"], ["x"])
    assert model.history_ is None
    out = model.predict(["red cat", "blue dog bird"])
    assert out.shape == (2,)
    assert all(set(text.split()) <= set(WORDS) for text in out)


def test_fine_tuning_learns_to_translate_and_pickles_with_its_files(tiny_t5: Path) -> None:
    X = phrases(160, seed=0)
    model = Seq2SeqGenerator(checkpoint=str(tiny_t5), max_epochs=20, patience=None, lr=1e-2, batch_size=16,
                             max_target_length=4, validation_fraction=0.1, random_state=1)
    model.fit(X, translated(X))
    history = model.history_
    assert history is not None and history.epochs[-1].train_loss < history.epochs[0].train_loss / 3
    tests = phrases(30, seed=1)
    right = float(np.mean(model.predict(tests) == np.asarray(translated(tests), dtype=object)))
    assert right >= 0.9, right
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(tests), model.predict(tests))


def test_a_checkpoint_is_required_and_must_be_on_disk(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs checkpoint"):
        Seq2SeqGenerator().fit(["a"], ["b"])
    with pytest.raises(SpecError, match="not a local Hugging Face model folder"):
        Seq2SeqGenerator(checkpoint=str(tmp_path / "t5-small")).fit(["a"], ["b"])
