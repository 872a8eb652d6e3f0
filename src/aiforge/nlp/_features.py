"""Numeric features of a text column from spaCy: token count, entity counts per type, part-of-speech shares.

One pass of ``nlp.pipe`` per column (entities and tags together, the parser and lemmatiser off), so that a
table of some thousands of short texts takes seconds; a null text gives null features.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from aiforge.errors import SpecError
from aiforge.nlp._spacy import BATCH_SIZE, load_pipeline

__all__ = ["UNIVERSAL_POS", "text_features"]

UNIVERSAL_POS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
                 "PUNCT", "SCONJ", "SYM", "VERB", "X")


def text_features(texts: Sequence[str | None], *, model: str | Path | None = None,
                  entities: Sequence[str] | None = None, pos: Sequence[str] = ("NOUN", "VERB", "ADJ"),
                  prefix: str = "text", batch_size: int = BATCH_SIZE) -> dict[str, list[float | int | None]]:
    """New columns for ``texts``: ``PREFIX_tokens`` (tokens that are not white space), ``PREFIX_ent_<label>``
    (how many entities of each label; ``entities`` None: every label the model predicts) and
    ``PREFIX_pos_<tag>`` (the share of the tokens with each universal part-of-speech tag)."""
    pipeline = load_pipeline(model)
    labels = list(pipeline.entity_labels if entities is None else entities)
    unknown = [lab for lab in labels if lab not in pipeline.entity_labels]
    if unknown:
        raise SpecError(f"the spaCy pipeline {pipeline.name} does not predict {', '.join(unknown)}",
                        where="nlp_features.entities", expected="some of " + ", ".join(pipeline.entity_labels),
                        found=", ".join(unknown))
    bad_tags = [t for t in pos if t not in UNIVERSAL_POS]
    if bad_tags:
        raise SpecError(f"not universal part-of-speech tags: {', '.join(bad_tags)}", where="nlp_features.pos",
                        expected="some of " + ", ".join(UNIVERSAL_POS), found=", ".join(bad_tags))
    columns: dict[str, list[float | int | None]] = {f"{prefix}_tokens": []}
    columns.update({f"{prefix}_ent_{lab.lower()}": [] for lab in labels})
    columns.update({f"{prefix}_pos_{tag.lower()}": [] for tag in pos})
    present = [t for t in texts if t]
    docs = pipeline.docs(present, entities=bool(labels), tags=bool(pos), batch_size=batch_size)
    try:
        for text in texts:
            if not text:
                for values in columns.values():
                    values.append(None if text is None else 0)
                continue
            doc = next(docs)
            tokens = [t for t in doc if not t.is_space]
            columns[f"{prefix}_tokens"].append(len(tokens))
            counts = Counter(e.label_ for e in doc.ents)
            for lab in labels:
                columns[f"{prefix}_ent_{lab.lower()}"].append(counts.get(lab, 0))
            tags = Counter(t.pos_ for t in tokens)
            for tag in pos:
                columns[f"{prefix}_pos_{tag.lower()}"].append(tags.get(tag, 0) / len(tokens) if tokens else 0.0)
    finally:
        docs.close()  # the pipeline's lock is held while its generator is open
    return columns
