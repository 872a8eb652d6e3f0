"""Text preprocessing: normalisation, tokenisation, stop words."""

from __future__ import annotations

import pickle

import pytest

from aiforge.errors import SpecError
from aiforge.nlp import ENGLISH_STOP_WORDS, TextNormalizer, normalize_text, stop_words, tokenize


@pytest.mark.parametrize(("raw", "expected"), [
    ("Ｆｕｌｌ　ｗｉｄｔｈ", "full width"),  # NFKC folds full-width letters and spaces
    ("See https://t.co/AbC and www.x.org now", "see xxurl and xxurl now"),
    ("@United thanks, @bob_2!", "xxuser thanks, xxuser !"),
    ("paid 1,299.50 for 2 seats", "paid xxnum for xxnum seats"),
    ("abc123 stays a word; mail@example.com stays", "abc123 stays a word; mail@example.com stays"),
    ("  many \n\t spaces  ", "many spaces"),
    (None, ""),
    (float("nan"), ""),
])
def test_normalize_text(raw: object, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_text_keeps_what_is_switched_off() -> None:
    assert normalize_text("Hi @Bob, 2 links http://x.io", lowercase=False, urls=False, mentions=False,
                          numbers=False) == "Hi @Bob, 2 links http://x.io"


def test_tokenize_keeps_contractions_and_tone_marks() -> None:
    assert tokenize("don't stop?! it's great...") == ["don't", "stop", "?", "!", "it's", "great"]
    assert tokenize("the film was not good", frozenset({"the", "was"})) == ["film", "not", "good"]


def test_stop_words() -> None:
    assert "the" in ENGLISH_STOP_WORDS and len(ENGLISH_STOP_WORDS) > 300
    assert stop_words("english") == ENGLISH_STOP_WORDS
    assert stop_words("none") == frozenset() and stop_words(None) == frozenset()
    assert stop_words(["The", "a"]) == frozenset({"the", "a"})
    with pytest.raises(SpecError, match="'english', 'none' or a list of words; got 'french'"):
        stop_words("french")  # type: ignore[arg-type]


def test_normalizer_runs_the_same_steps_after_pickling() -> None:
    normalizer = TextNormalizer(stop=("loved",))
    text = "LOVED it!! see https://x.io @bob 42"
    assert normalizer.tokens(text) == ["it", "!", "!", "see", "xxurl", "xxuser", "xxnum"]
    assert pickle.loads(pickle.dumps(normalizer)).tokens(text) == normalizer(text)
