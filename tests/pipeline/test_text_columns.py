"""data.text_columns and text recognition as `aiforge validate` reports them, and their errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aiforge.errors import DataError
from aiforge.pipeline import load_project, preflight

REVIEWS = [f"review {i}: the plot was slow but the acting carried it {'well' if i % 2 else 'badly'}"
           for i in range(80)]


def write(folder: Path, *, learners: str = "[tfidf, linear]", text_columns: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["review,stars,shop,liked"] + [f"{r},{i % 5},{'ab'[i % 2]},{i % 2}" for i, r in enumerate(REVIEWS)]
    (folder / "reviews.csv").write_text("\n".join(rows) + "\n")
    declared = f"  text_columns: {text_columns}\n" if text_columns is not None else ""
    (folder / "aiforge.yaml").write_text(
        "name: reviews\nproblem: {task: binary, target: liked}\n"
        "data:\n  sources:\n    - {name: r, type: csv, path: reviews.csv}\n  pii_policy: {names: false}\n" + declared +
        f"model:\n  learners: {learners}\n")
    return folder / "aiforge.yaml"


def test_validate_recognises_text_and_says_why(aiforge: object, tmp_path: Path) -> None:
    project = write(tmp_path / "p")
    proc = aiforge("validate", str(project))  # type: ignore[operator]
    assert proc.returncode == 0, proc.stderr
    assert "text column 'review': free text: mean 59 characters, 12.0 words, 100% distinct values" in proc.stdout
    as_json = json.loads(aiforge("validate", "--json", str(project)).stdout)  # type: ignore[operator]
    assert list(as_json["text_columns"]) == ["review"] and as_json["features"] == ["stars", "shop", "review"]


def test_without_a_text_learner_text_is_ignored_naming_the_learners(aiforge: object, tmp_path: Path) -> None:
    proc = aiforge("validate", "--json", str(write(tmp_path / "p", learners="[linear]")))  # type: ignore[operator]
    info = json.loads(proc.stdout)
    assert info["text_columns"] == {} and "review" not in info["features"]
    assert "no learner in model.learners reads text (add one of: tfidf" in info["ignored_columns"]["review"]


@pytest.mark.parametrize(("declared", "message"), [
    ("[reviews]", r"text column 'reviews' is not a column of the data.*aiforge\.yaml:7 \(data\.text_columns\[0\]\)"),
    ("[review, stars]", r"text column 'stars' does not hold text.*data\.text_columns\[1\].*a column of type int64"),
    ("[liked]", r"text column 'liked' is the target"),
])
def test_declared_text_columns_are_checked(tmp_path: Path, declared: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        preflight(load_project(write(tmp_path / "p", text_columns=declared)))
    assert re.search(message, str(caught.value), re.S), str(caught.value)
