"""Text tools shared by the life-cycle layers: preprocessing, text-column recognition, spaCy
pipelines, BIO evaluation and extraction rules.

Names are imported on first use: importing this package loads neither scikit-learn nor spaCy.
"""

from __future__ import annotations

from aiforge._lazy import lazy_exports

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

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
