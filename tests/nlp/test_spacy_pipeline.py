"""spaCy's entities and tags through aiforge.nlp: one cached loader, batches, clear errors for a bad model."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiforge.errors import DataError
from aiforge.nlp import DEFAULT_MODEL, entities, load_pipeline, pos

pytest.importorskip("spacy", reason="the nlp extra: pip install -e '.[dev]' (make install)")
pytest.importorskip(DEFAULT_MODEL, reason="the nlp extra: pip install -e '.[dev]' (make install)")


def test_entities_and_tags_of_a_batch_keep_the_order_and_offsets() -> None:
    texts = ["Apple opened a store in London on 3 March 2024.", "", "Angela Merkel visited Paris."]
    found = entities(texts)
    assert len(found) == 3 and found[1] == []
    assert {(e.text, e.label) for e in found[0]} >= {("Apple", "ORG"), ("London", "GPE")}
    for text, ents in zip(texts, found, strict=True):
        assert all(text[e.start:e.end] == e.text for e in ents)
    assert ("Angela Merkel", "PERSON") in {(e.text, e.label) for e in found[2]}
    tags = pos(["The quick fox runs fast."])[0]
    assert [t.text for t in tags] == ["The", "quick", "fox", "runs", "fast", "."]
    assert tags[0].pos == "DET" and tags[2].pos == "NOUN" and tags[-1].pos == "PUNCT"


def test_the_pipeline_is_loaded_once_and_runs_only_the_components_it_needs() -> None:
    pipeline = load_pipeline()
    assert load_pipeline(None) is pipeline and load_pipeline(DEFAULT_MODEL) is pipeline
    assert "parser" not in pipeline.nlp.pipe_names and "lemmatizer" not in pipeline.nlp.pipe_names
    assert "ner" in pipeline.disabled(entities=False, tags=True)
    assert "tagger" in pipeline.disabled(entities=True, tags=False)
    assert "PERSON" in pipeline.entity_labels


@pytest.mark.parametrize(("model", "message"), [
    ("no/such/folder", "is not a saved spaCy pipeline"),
    ("no_such_spacy_package", "no spaCy pipeline named no_such_spacy_package"),
])
def test_a_model_that_is_not_there_is_a_data_error(model: str, message: str) -> None:
    with pytest.raises(DataError, match=message) as caught:
        entities(["text"], model=model)
    assert caught.value.hint or caught.value.expected


def test_a_folder_without_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a saved spaCy pipeline") as caught:
        load_pipeline(tmp_path)
    assert caught.value.found == "no config.cfg in it"


def test_loading_spacy_does_not_load_torch() -> None:
    """thinc imports torch whenever it is installed; aiforge.nlp keeps it out (seconds and hundreds of MB)."""
    import subprocess
    import sys

    probe = ("import sys; from aiforge.nlp import entities; entities(['Apple is in London.']); "
             "import thinc.compat; print('torch' in sys.modules, thinc.compat.has_torch)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["False", "False"], done.stderr
