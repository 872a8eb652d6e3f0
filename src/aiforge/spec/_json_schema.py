"""The project file's JSON Schema, from the pydantic models, for editors and other tools.

Editors (VS Code YAML, JetBrains) complete and check a YAML file against a JSON Schema named in its
first line: ``# yaml-language-server: $schema=aiforge.schema.json``. The schema is draft-07, the draft
both support in full: pydantic's 2020-12 output is rewritten where it differs (tuples as ``items``
lists; a ``$ref`` beside other keywords wrapped in ``allOf``, since draft-07 ignores a ``$ref``'s
siblings). The schema checks shapes, types, names of keys and closed sets of values; the rules between
fields (a KPI needs min or max, ...) and the names of plug-ins (learners, metrics) are checked by
``aiforge validate`` alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from aiforge.errors import AiforgeError
from aiforge.spec._models import ProjectSpec

__all__ = ["DRAFT", "SCHEMA_FILE_NAME", "modeline", "project_json_schema", "write_json_schema"]

DRAFT = "http://json-schema.org/draft-07/schema#"
SCHEMA_FILE_NAME = "aiforge.schema.json"


class _WithFactoryDefaults(GenerateJsonSchema):
    """Shows the defaults made by ``default_factory`` too (learners, guardrails, ...), not only literal ones."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)


def project_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of ``aiforge.yaml``; the same value on every call."""
    raw = ProjectSpec.model_json_schema(schema_generator=_WithFactoryDefaults)
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "title": "aiforge project file",
        "description": "aiforge.yaml: the problem, its KPIs, the data, the candidate learners, the checks, "
        "monitoring and deployment. Reference: docs/reference/project-file.md; check a file with "
        "'aiforge validate'.",
    }
    body = {k: v for k, v in raw.items() if k not in ("title", "description")}
    schema.update(_draft07(body))
    return schema


def _draft07(node: Any) -> Any:
    if isinstance(node, list):
        return [_draft07(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _draft07(v) for k, v in node.items() if k != "discriminator"}  # OpenAPI's, not JSON Schema's
    if "prefixItems" in out:
        out["items"] = out.pop("prefixItems")
        out["additionalItems"] = False
    if "patternProperties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False  # pydantic refuses a key that does not match, so does the schema
    if "$ref" in out and len(out) > 1:
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def modeline(schema_path: str) -> str:
    """The first line of a project file that tells editors where its schema is (relative to the file)."""
    return f"# yaml-language-server: $schema={schema_path}"


def write_json_schema(path: Path) -> Path:
    """Write the schema to ``path`` atomically (a temporary file renamed over it): never half a file."""
    if path.is_dir():
        raise AiforgeError("the schema's output is a folder", where=str(path), expected="a file name",
                           found="a folder", hint=f"name a file, e.g. {path / SCHEMA_FILE_NAME}")
    if not path.parent.is_dir():
        raise AiforgeError("the schema's folder does not exist", where=str(path.parent),
                           hint="create the folder first, or name a file in an existing one")
    text = json.dumps(project_json_schema(), indent=2, ensure_ascii=False) + "\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # created with the umask's permissions
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
