"""Text tools shared by the life-cycle layers: preprocessing, text-column recognition, spaCy
pipelines, BIO evaluation and extraction rules.

Names are imported on first use: importing this package loads neither scikit-learn nor spaCy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ENGLISH_STOP_WORDS": "_preprocess",
    "TextNormalizer": "_preprocess",
    "normalize_text": "_preprocess",
    "stop_words": "_preprocess",
    "tokenize": "_preprocess",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aiforge.nlp' has no attribute {name!r}")
    return getattr(import_module(f"aiforge.nlp.{module}"), name)


def __dir__() -> list[str]:
    return __all__
