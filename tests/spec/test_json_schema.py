"""The project file's JSON Schema: draft-07, described field by field, accepting every project the repository
holds and rejecting the mistakes editors should mark, as pydantic does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from conftest import REPO, write_income_project, write_regression_project

from aiforge.errors import AiforgeError, SpecError
from aiforge.pipeline import scaffold_project
from aiforge.spec import (
    SCHEMA_FILE_NAME,
    ModelSpec,
    ProjectSpec,
    modeline,
    parse_project_text,
    project_json_schema,
    write_json_schema,
)


@pytest.fixture(scope="module")
def validator() -> Any:
    return jsonschema_rs.validator_for(project_json_schema())


def _errors(validator: Any, text: str) -> list[Any]:
    return list(validator.iter_errors(yaml.safe_load(text)))


def test_the_schema_is_draft_07_and_valid_against_its_meta_schema() -> None:
    schema = project_json_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert jsonschema_rs.meta.is_valid(schema)
    assert isinstance(jsonschema_rs.validator_for(schema), jsonschema_rs.Draft7Validator)
    text = json.dumps(schema, sort_keys=True)
    assert "prefixItems" not in text and '"discriminator"' not in text  # 2020-12 and OpenAPI keywords
    assert json.dumps(project_json_schema(), sort_keys=True) == text  # the same on every call


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_no_ref_has_siblings_that_draft_07_would_ignore() -> None:
    bad = [sorted(n) for n in _walk(project_json_schema()) if "$ref" in n and len(n) > 1]
    assert bad == []


def _referenced(prop: dict[str, Any]) -> str | None:
    """The model a property's value is (directly, through allOf, or optionally), if any."""
    for candidate in [prop, *prop.get("allOf", []), *prop.get("anyOf", [])]:
        if "$ref" in candidate:
            return str(candidate["$ref"]).rsplit("/", 1)[-1]
    return None


def test_every_model_and_field_is_described() -> None:
    """Descriptions are what editors show on hover and what docs/reference/project-file.md is made of."""
    schema = project_json_schema()
    definitions = schema["$defs"]
    undescribed_models = sorted(name for name, d in definitions.items() if not d.get("description"))
    assert undescribed_models == []
    missing = []
    for owner, model in [("(root)", schema), *definitions.items()]:
        for field, prop in model.get("properties", {}).items():
            ref = _referenced(prop)
            if not prop.get("description") and not (ref and definitions[ref].get("description")):
                missing.append(f"{owner}.{field}")
    assert missing == []


def test_defaults_made_by_factories_are_shown() -> None:
    model = project_json_schema()["$defs"]["ModelSpec"]["properties"]
    assert model["learners"]["default"] == ModelSpec().learners
    deploy = project_json_schema()["$defs"]["DeploySpec"]["properties"]
    assert deploy["guardrails"]["default"] == {"error_rate": 0.01}
    assert deploy["steps"]["default"] == [10, 50, 100]


def _repository_projects(tmp_path: Path) -> list[tuple[str, str]]:
    """Every complete project file the repository holds or writes: the examples, 'aiforge init', the test
    projects, and the full example at the top of docs/project-file.md."""
    found = [(str(p.relative_to(REPO)), p.read_text(encoding="utf-8"))
             for p in sorted((REPO / "examples").glob("*/aiforge.yaml"))]
    assert found, "no example projects found"
    scaffold_project(tmp_path / "scaffolded", rows=20)
    found.append(("aiforge init", (tmp_path / "scaffolded" / "aiforge.yaml").read_text(encoding="utf-8")))
    found.append(("tests: income", write_income_project(tmp_path / "income", rows=5).read_text(encoding="utf-8")))
    found.append(("tests: houses", write_regression_project(tmp_path / "houses", rows=5).read_text(encoding="utf-8")))
    docs = (REPO / "docs" / "project-file.md").read_text(encoding="utf-8")
    first_block = re.search(r"```yaml\n(.*?)```", docs, re.S)
    assert first_block is not None
    found.append(("docs/project-file.md", first_block.group(1)))
    return found


def test_every_project_of_the_repository_fits_the_schema(validator: Any, tmp_path: Path) -> None:
    for name, text in _repository_projects(tmp_path):
        parse_project_text(text, Path(name))  # pydantic accepts it: the schema must too
        problems = [f"{e.instance_path}: {e.message}" for e in _errors(validator, text)]
        assert problems == [], f"{name} does not fit the schema: {problems}"


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*/aiforge.yaml")), ids=lambda p: p.parent.name)
def test_every_example_names_a_schema_file_that_validates_it(example: Path) -> None:
    """An example opened in an editor is checked against the schema its first line names (the checked-in
    docs/reference/aiforge.schema.json, which tests/test_docs.py keeps current)."""
    text = example.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema="), first
    named = (example.parent / first.split("$schema=", 1)[1]).resolve()
    assert named.is_file(), f"{example} names {named}, which does not exist"
    schema = json.loads(named.read_text(encoding="utf-8"))
    assert schema == project_json_schema()
    assert jsonschema_rs.validator_for(schema).is_valid(yaml.safe_load(text))


def test_init_writes_the_schema_beside_the_project_and_names_it_in_the_first_line(tmp_path: Path) -> None:
    written = scaffold_project(tmp_path / "churn", rows=20)
    schema_file = tmp_path / "churn" / SCHEMA_FILE_NAME
    assert schema_file in written
    assert json.loads(schema_file.read_text(encoding="utf-8")) == project_json_schema()
    first_line = (tmp_path / "churn" / "aiforge.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == modeline(SCHEMA_FILE_NAME) == f"# yaml-language-server: $schema={SCHEMA_FILE_NAME}"


# (case id, edit of the income project, the JSON path the schema's error points at)
BROKEN = [
    pytest.param("name: income", "name: Income Model", "/name", id="name-pattern"),
    pytest.param("  task: binary", "  task: binray", "/problem/task", id="task-not-in-enum"),
    pytest.param("  target: income\n", "", "/problem", id="target-missing"),
    pytest.param("  search: {cv: 3}", "  search: {cv: five}", "/model/search/cv", id="cv-wrong-type"),
    pytest.param("  search: {cv: 3}", "  search: {cv: 3, strategy: bayes}", "/model/search/strategy",
                 id="strategy-not-in-enum"),
    pytest.param("  seed: 7\n", "  sed: 7\n", "/model", id="unknown-nested-key"),
    pytest.param("checks:", "chekcs:", "", id="unknown-top-level-key"),
    pytest.param("type: csv", "type: excel", "/data/sources/0", id="unknown-source-type"),
    pytest.param("{test_size: 0.25, seed: 7}", "{test_size: 1.5, seed: 7}", "/data/split/test_size",
                 id="test-size-out-of-range"),
    pytest.param("  learners: [linear, lightgbm]", "  learners: linear", "/model/learners", id="learners-not-a-list"),
    pytest.param("  split: {", "  steps: [{filter: 'age > 17', select: [age]}]\n  split: {", "/data/steps/0",
                 id="step-with-two-kinds"),
]


@pytest.mark.parametrize(("old", "new", "path"), BROKEN)
def test_a_broken_project_is_rejected_by_the_schema_and_by_pydantic(
    validator: Any, tmp_path: Path, old: str, new: str, path: str
) -> None:
    text = write_income_project(tmp_path / "income", rows=5).read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in the project"
    broken = text.replace(old, new)
    errors = _errors(validator, broken)
    assert errors, "the schema accepted a broken project"
    pointers = {"".join(f"/{part}" for part in e.instance_path) for e in errors}
    assert path in pointers, [f"{e.instance_path}: {e.message}" for e in errors]
    with pytest.raises(SpecError):
        parse_project_text(broken, tmp_path / "aiforge.yaml")


def test_write_json_schema_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    target.write_text("old", encoding="utf-8")
    assert write_json_schema(target) == target
    assert json.loads(target.read_text(encoding="utf-8")) == project_json_schema()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schema.json"]  # no temporary file left


@pytest.mark.parametrize(("target", "message"), [
    pytest.param(".", "the schema's output is a folder", id="folder"),
    pytest.param("missing/schema.json", "the schema's folder does not exist", id="no-such-folder"),
])
def test_write_json_schema_refuses_what_it_cannot_write(tmp_path: Path, target: str, message: str) -> None:
    with pytest.raises(AiforgeError, match=re.escape(message)) as caught:
        write_json_schema(tmp_path / target)
    assert caught.value.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_schema_covers_every_top_level_section() -> None:
    assert set(project_json_schema()["properties"]) == set(ProjectSpec.model_fields)
    assert project_json_schema()["required"] == ["name", "problem", "data"]
