"""Which string columns are free text, and why."""

from __future__ import annotations

import pyarrow as pa
import pytest

from aiforge.learn import choose_features
from aiforge.nlp._columns import text_reason

REVIEWS = [f"review {i}: the plot was slow but the acting carried it well enough" for i in range(60)]


def test_free_text_is_recognised_with_its_reason() -> None:
    reason = text_reason(pa.chunked_array([REVIEWS]))
    assert reason is not None
    assert reason == "free text: mean 66 characters, 13.0 words, 100% distinct values"


@pytest.mark.parametrize("values", [
    ["Married-civ-spouse", "Never-married", "Divorced"] * 20,  # short categories
    ["a" * 40] * 60,  # long, but one word
    ["the same long sentence repeated again and again here"] * 60,  # long and wordy, but repeated
    [None] * 60,
])
def test_categories_codes_and_repeats_are_not_text(values: list[str | None]) -> None:
    assert text_reason(pa.chunked_array([values], type=pa.string())) is None


def test_numbers_are_not_text() -> None:
    assert text_reason(pa.chunked_array([[1.5, 2.5]])) is None


def test_choose_features_recognises_declares_and_switches_off_text() -> None:
    table = pa.table({"review": REVIEWS, "stars": list(range(60)), "shop": ["a", "b"] * 30, "y": [0, 1] * 30})
    found = choose_features(table, "y")
    assert found.text == ("review",) and found.columns == ["stars", "shop", "review"]
    assert dict(found.text_reasons)["review"].startswith("free text")
    declared = choose_features(table, "y", text=["shop"])
    assert declared.text == ("shop",) and dict(declared.text_reasons) == {"shop": "data.text_columns names it"}
    assert "review" in declared.ignored  # [] or a list: no recognition, the review is an identifier-like column
    off = choose_features(table, "y", text=[])
    assert off.text == () and "review" in off.ignored


def test_the_snapshot_profile_calls_free_text_text() -> None:
    from aiforge.data import profile_table

    table = pa.table({"review": REVIEWS, "shop": ["a", "b"] * 30})
    assert [c.kind for c in profile_table(table)] == ["text", "categorical"]
