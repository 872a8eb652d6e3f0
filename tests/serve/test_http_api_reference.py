"""docs/reference/http-api.md is generated from the server's own OpenAPI document: every route and schema is there,
each type in words with links to the schemas it uses; generating it leaves nothing behind."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from conftest import REPO

from aiforge.serve._reference import http_api_reference, openapi_document
from aiforge.spec._reference import slug


def test_every_route_and_schema_of_the_server_is_in_the_reference() -> None:
    doc = openapi_document()
    text = http_api_reference(doc)
    headings = set(re.findall(r"^### (.+)$", text, flags=re.M))
    routes = {f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops}
    assert len(routes) > 20 and routes <= headings
    assert set(doc["components"]["schemas"]) <= headings
    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        assert anchor in {slug(h) for h in headings}, anchor
    assert "/v1/models/{name}/predict" in text and "[PredictRequest](#predictrequest)" in text
    assert text == (REPO / "docs" / "reference" / "http-api.md").read_text(encoding="utf-8")


def test_generating_the_document_leaves_no_workspace_behind() -> None:
    before = set(Path(tempfile.gettempdir()).glob("aiforge-openapi-*"))
    assert openapi_document()["info"]["title"] == "aiforge"
    assert set(Path(tempfile.gettempdir()).glob("aiforge-openapi-*")) == before


def test_types_are_written_in_words() -> None:
    doc = {
        "openapi": "3.1.0", "info": {"title": "t", "version": "1", "description": "a <b> c"},
        "paths": {"/x/{id}": {"post": {
            "summary": "Do", "security": [{"k": []}], "tags": ["v1"],
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}},
            "responses": {"422": {"description": "bad | input"}, "200": {"description": "ok", "content": {
                "text/plain": {"schema": {"type": "string"}}}}},
        }}},
        "components": {"schemas": {
            "In": {"type": "object", "required": ["a"], "additionalProperties": False, "properties": {
                "a": {"anyOf": [{"type": "array", "items": {"$ref": "#/components/schemas/Kind"}, "minItems": 1},
                                {"type": "null"}], "description": "the a"},
                "b": {"type": "object", "additionalProperties": {"type": "number"}, "default": {"x": 1}},
                "c": {"type": "string", "maxLength": 3, "enum": ["p", "q"]},
            }},
            "Kind": {"type": "string", "enum": ["p", "q"], "description": "A kind."},
        }, "securitySchemes": {"k": {"type": "apiKey", "in": "header", "name": "X-Key"}}},
    }
    text = http_api_reference(doc)
    assert "t 1, OpenAPI 3.1.0. a &lt;b&gt; c" in text
    assert "| `id` | path | integer (≥ 1) | yes |  |" in text
    assert "Request body: [In](#in) (application/json)." in text
    assert text.index("| 200 |") < text.index("| 422 | bad \\| input |")
    assert "| `a` | list of [Kind](#kind) (≥ 1 items) \\| null | yes | the a |" in text
    assert "| `b` | object of number | no | Default: `{'x': 1}`. |" in text
    assert "| `c` | `p` \\| `q` | no |  |" in text
    assert "One of: `p`, `q`." in text and "Other fields are refused." in text
    assert "| k | `X-Key` header |  |" in text and "Authentication: API key." in text
