"""`aiforge schema` and the schema `aiforge init` writes, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import yaml
from conftest import AiforgeRunner

from aiforge.spec import project_json_schema


def test_schema_prints_the_project_files_json_schema(aiforge: AiforgeRunner) -> None:
    proc = aiforge("schema")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == project_json_schema()
    assert proc.stderr == ""


def test_schema_output_writes_the_file(aiforge: AiforgeRunner, tmp_path: Path) -> None:
    proc = aiforge("schema", "--output", "aiforge.schema.json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr.strip() == "wrote aiforge.schema.json"
    assert json.loads((tmp_path / "aiforge.schema.json").read_text(encoding="utf-8")) == project_json_schema()


def test_schema_output_into_a_missing_folder_is_a_clear_error(aiforge: AiforgeRunner, tmp_path: Path) -> None:
    proc = aiforge("schema", "--output", "no/such/folder/schema.json")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error[aiforge]: the schema's folder does not exist"), proc.stderr
    assert "hint:" in proc.stderr and "docs:     docs/errors.md#aiforge" in proc.stderr
    assert not (tmp_path / "no").exists()


def test_an_initialised_project_validates_against_the_schema_init_wrote(aiforge: AiforgeRunner,
                                                                       tmp_path: Path) -> None:
    aiforge("init", "churn", check=True)
    folder = tmp_path / "churn"
    text = (folder / "aiforge.yaml").read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first == "# yaml-language-server: $schema=aiforge.schema.json"
    schema = json.loads((folder / first.split("$schema=", 1)[1]).read_text(encoding="utf-8"))  # relative to the file
    validator = jsonschema_rs.validator_for(schema)
    assert validator.is_valid(yaml.safe_load(text))
    assert not validator.is_valid(yaml.safe_load(text.replace("  target: churned", "  traget: churned")))
    assert aiforge("validate", "--no-data", "churn/aiforge.yaml").returncode == 0
