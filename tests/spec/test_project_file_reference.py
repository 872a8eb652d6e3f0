"""The generated project-file reference: every model has its section, every key its row with its type,
default and description."""

from __future__ import annotations

import re

import pytest

from aiforge.spec import project_json_schema
from aiforge.spec._reference import markdown_line, project_file_reference, slug


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _rows(section: str) -> dict[str, list[str]]:
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([^`]+)` \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = re.split(r"(?<!\\)\|", match.group(2))
    return rows


def test_every_model_has_a_section_with_a_row_per_key() -> None:
    schema = project_json_schema()
    sections = _sections(project_file_reference())
    models = {"(top level)": schema} | {name: d for name, d in schema["$defs"].items() if d.get("type") == "object"}
    by_keys = {}
    for title, text in sections.items():
        by_keys.setdefault(tuple(_rows(text)), []).append(title)
    for name, model in models.items():
        keys = tuple(model["properties"])
        assert keys in by_keys, f"no section lists the keys of {name}: {keys}"
    assert len(sections) == len(models) + 1  # and the list of sections


def test_rows_give_type_default_and_description() -> None:
    sections = _sections(project_file_reference())
    top = _rows(sections["(top level)"])
    assert [cell.strip() for cell in top["name"]][1] == "*required*"
    search = _rows(sections["model.search"])
    kind, default, description = (cell.strip() for cell in search["strategy"])
    assert kind == r"`defaults` \| `grid` \| `random` \| `bayesian`"
    assert default == "`defaults`"
    assert description.startswith("defaults: each learner once")
    csv = _rows(sections["data.sources[] (type: csv)"])
    path = "The file, relative to the project file's folder. E.g. `\"data/adult.csv\"`."
    assert [c.strip() for c in csv["path"]] == ["non-empty text", "*required*", path]
    assert [c.strip() for c in csv["incremental"]][0] == "[object](#datasourcesincremental) or null"
    budget = _rows(sections["model.search.budget"])
    assert [c.strip() for c in budget["seconds"]][:2] == ["number > 0 or null", "`null`"]
    deploy = _rows(sections["deploy"])
    assert [c.strip() for c in deploy["steps"]][1] == "`[10, 50, 100]`"


def test_a_model_met_in_several_places_has_one_section_naming_them() -> None:
    sections = _sections(project_file_reference())
    assert "Also at: `model.threshold.subject_to`." in sections["kpis[]"]
    assert not any(title.startswith("model.threshold.subject_to") for title in sections)


def test_the_table_of_contents_links_every_section() -> None:
    text = project_file_reference()
    titles = list(_sections(text))[1:]
    for title in titles:
        assert f"- [{title}](#{slug(title)})" in text


@pytest.mark.parametrize(("heading", "anchor"), [
    ("data.sources[] (type: csv)", "datasources-type-csv"),
    ("(top level)", "top-level"),
    ("The closed loop (`monitor/_watch.py`)", "the-closed-loop-monitor_watchpy"),
    ("Deployments: canary, shadow, A/B with automatic rollback",
     "deployments-canary-shadow-ab-with-automatic-rollback"),
])
def test_slug_is_githubs_anchor(heading: str, anchor: str) -> None:
    assert slug(heading.replace("`", "")) == anchor


def test_markdown_line_keeps_angle_brackets_visible_outside_code() -> None:
    assert markdown_line("a <b>\n  c `<d>`") == "a &lt;b&gt; c `<d>`"
