"""Error codes and their docs: every code aiforge can raise has its section in docs/errors.md, and every
rendered error links to it under its hint."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
from pathlib import Path

import pytest
from conftest import EXE, REPO

import aiforge
from aiforge.errors import DOCS_PAGE, AiforgeError, Problem, SpecError

ERRORS_PAGE = REPO / DOCS_PAGE


def _error_classes() -> list[type[AiforgeError]]:
    """Every AiforgeError subclass defined anywhere in the package (each module imported once)."""
    for module in pkgutil.walk_packages(aiforge.__path__, "aiforge."):
        if ".migrations" not in module.name:  # alembic scripts, run by alembic only
            importlib.import_module(module.name)
    found: list[type[AiforgeError]] = []
    todo: list[type[AiforgeError]] = [AiforgeError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


def _sections() -> dict[str, str]:
    """docs/errors.md's sections by heading: '## code' and its text up to the next heading."""
    text = ERRORS_PAGE.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_error_code_has_its_section_and_every_section_a_code() -> None:
    classes = _error_classes()
    assert len(classes) > 10, [c.__name__ for c in classes]  # the walk found the packages' own classes
    codes = {c.code for c in classes}
    bad = sorted(code for code in codes if not re.fullmatch(r"[a-z][a-z0-9_-]*", code))
    assert bad == [], "a code is its docs anchor: lower-case letters, digits, '-' and '_'"
    sections = _sections()
    assert sorted(codes - set(sections)) == [], f"codes without a section in {DOCS_PAGE}"
    assert sorted(set(sections) - codes) == [], f"sections of {DOCS_PAGE} for codes no class has"


def test_every_section_names_its_class_and_a_fix() -> None:
    """The class that defines a code is named in its section (a subclass that keeps its parent's code is a
    variant of the same cause, and may be)."""
    sections = _sections()
    for cls in _error_classes():
        if "code" not in vars(cls):
            continue
        text = sections[cls.code]
        assert f"`{cls.__name__}`" in text, f"section '{cls.code}' does not name {cls.__name__}"
    for code, text in sections.items():
        assert "**Fix:**" in text, f"section '{code}' says no fix"


def test_the_classes_of_one_domain_have_their_own_codes() -> None:
    """A subclass may share its parent's code only as a variant of the same cause (same section)."""
    own = {}
    for cls in _error_classes():
        if "code" in vars(cls):
            assert cls.code not in own, f"{cls.__name__} and {own[cls.code].__name__} both define '{cls.code}'"
            own[cls.code] = cls


def test_a_rendered_error_links_to_its_section_under_the_hint() -> None:
    error = SpecError("unknown key 'modle'", where="aiforge.yaml:16 (modle)", found="modle",
                      hint="did you mean 'model'?", more=[Problem("another", where="aiforge.yaml:3")])
    lines = error.render().splitlines()
    assert lines[:5] == [
        "error[spec]: unknown key 'modle'",
        "  where:    aiforge.yaml:16 (modle)",
        "  found:    modle",
        "  hint:     did you mean 'model'?",
        "  docs:     docs/errors.md#spec",
    ]
    assert lines[5] == "1 more problem(s):"
    assert error.render().count("docs:") == 1
    assert error.to_dict()["docs"] == "docs/errors.md#spec"


def test_the_cli_prints_the_link_and_json_carries_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    proc = subprocess.run([str(EXE), "validate", str(missing)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    hint = next(i for i, line in enumerate(lines) if line.lstrip().startswith("hint:"))
    assert lines[hint + 1] == "  docs:     docs/errors.md#spec", proc.stderr
    as_json = subprocess.run([str(EXE), "validate", "--json", str(missing)], capture_output=True, text=True,
                             timeout=60)
    assert json.loads(as_json.stdout)["error"]["docs"] == "docs/errors.md#spec"


@pytest.mark.parametrize("code", ["contract", "data", "spec"])
def test_the_documented_anchor_is_a_heading_of_the_page(code: str) -> None:
    """The link is '<page>#<code>'; GitHub and MkDocs make the anchor of '## code' exactly 'code'."""
    assert re.search(rf"^## {re.escape(code)}$", ERRORS_PAGE.read_text(encoding="utf-8"), flags=re.M)
