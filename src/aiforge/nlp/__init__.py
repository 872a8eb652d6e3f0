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
    "DEFAULT_MODEL": "_spacy",
    "Entity": "_spacy",
    "SpacyPipeline": "_spacy",
    "TaggedToken": "_spacy",
    "entities": "_spacy",
    "load_pipeline": "_spacy",
    "pos": "_spacy",
    "UNIVERSAL_POS": "_features",
    "text_features": "_features",
    "ExtractedColumn": "_extract",
    "extract_fields": "_extract",
    "find_date": "_extract",
    "find_money": "_extract",
    "parse_amount": "_extract",
    "BioSentence": "_bio",
    "LabelScore": "_bio",
    "NerScores": "_bio",
    "NerTraining": "_bio",
    "evaluate_ner": "_bio",
    "read_bio": "_bio",
    "train_ner": "_bio",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aiforge.nlp' has no attribute {name!r}")
    return getattr(import_module(f"aiforge.nlp.{module}"), name)


def __dir__() -> list[str]:
    return __all__
