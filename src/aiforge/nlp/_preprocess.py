"""Text preprocessing: normalisation, tokenisation, stop words.

One :class:`TextNormalizer` holds the choices so that training and serving run the very same steps
(it is pickled with the model). Everything here is pure Python: no scikit-learn at import time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from aiforge.errors import SpecError

URL_TOKEN = "xxurl"
USER_TOKEN = "xxuser"
NUMBER_TOKEN = "xxnum"

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_NUMBER = re.compile(r"(?<!\w)\d+(?:[.,]\d+)*(?!\w)")
_SPACES = re.compile(r"\s+")
# Words (with inner apostrophes: "don't") and the two punctuation marks that carry tone.
_TOKEN = re.compile(r"\w+(?:'\w+)*|[!?]")

StopWordsChoice = Literal["english", "none"]


def _english() -> frozenset[str]:
    # scikit-learn's list (318 words); the private module is a plain frozenset, cheap to import.
    from sklearn.feature_extraction._stop_words import ENGLISH_STOP_WORDS as words

    return frozenset(words)


def __getattr__(name: str) -> frozenset[str]:
    if name == "ENGLISH_STOP_WORDS":
        return _english()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stop_words(choice: StopWordsChoice | Iterable[str] | None) -> frozenset[str]:
    """The stop-word set for ``choice``: ``"english"`` (scikit-learn's list), ``"none"``/``None``
    (keep every word) or your own words (lower-cased)."""
    if choice is None or choice == "none":
        return frozenset()
    if choice == "english":
        return _english()
    if isinstance(choice, str):
        raise SpecError(
            f"stop words must be 'english', 'none' or a list of words; got {choice!r}. "
            "Write a list (stop_words: [the, a]) for your own words."
        )
    return frozenset(word.lower() for word in choice)


def normalize_text(
    text: object,
    *,
    lowercase: bool = True,
    urls: bool = True,
    mentions: bool = True,
    numbers: bool = True,
) -> str:
    """NFKC-normalise ``text`` and, as chosen, lower-case it and replace URLs, @mentions and
    numbers by the tokens ``xxurl``, ``xxuser`` and ``xxnum``. Missing values become ``""``."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    out = unicodedata.normalize("NFKC", str(text))
    if lowercase:
        out = out.lower()
    if urls:
        out = _URL.sub(f" {URL_TOKEN} ", out)
    if mentions:
        out = _MENTION.sub(f" {USER_TOKEN} ", out)
    if numbers:
        out = _NUMBER.sub(f" {NUMBER_TOKEN} ", out)
    return _SPACES.sub(" ", out).strip()


def tokenize(text: str, stop: frozenset[str] = frozenset()) -> list[str]:
    """Words (``don't`` stays one word) and the marks ``!``/``?``, without the ``stop`` words."""
    return [token for token in _TOKEN.findall(text) if token not in stop]


@dataclass(frozen=True)
class TextNormalizer:
    """The preprocessing choices of one text model: ``normalize`` a value, then ``tokens`` of it.

    >>> TextNormalizer(stop="english").tokens("Loved it!! see https://x.io @bob 42")
    ['loved', '!', '!', 'xxurl', 'xxuser', 'xxnum']
    """

    lowercase: bool = True
    urls: bool = True
    mentions: bool = True
    numbers: bool = True
    stop: StopWordsChoice | tuple[str, ...] = "none"
    _stop_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_stop_set", stop_words(self.stop))

    def normalize(self, text: object) -> str:
        return normalize_text(
            text, lowercase=self.lowercase, urls=self.urls, mentions=self.mentions, numbers=self.numbers
        )

    def tokens(self, text: object) -> list[str]:
        return tokenize(self.normalize(text), self._stop_set)

    def __call__(self, text: object) -> list[str]:
        return self.tokens(text)
