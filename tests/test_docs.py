"""The docs hold together: every relative link in docs/ (and the README) points at a file that exists and, with
an anchor, at a heading of it; the reference docs generated from the code are current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from aiforge.cli import cli
from aiforge.cli._reference import generated_docs
from aiforge.spec._reference import slug

PAGES = sorted([*(REPO / "docs").rglob("*.md"), REPO / "README.md"])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The text outside fenced code blocks and code spans (links there are examples, not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them (repeated headings get -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M):
        anchor = slug(heading.replace("`", ""))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def _links() -> list[tuple[Path, str]]:
    return [(page, target) for page in PAGES for target in LINK.findall(_prose(page.read_text(encoding="utf-8")))
            if not re.match(r"^[a-z]+:", target)]  # http:, https:, mailto: are not checked (no network)


def test_the_pages_have_links_to_check() -> None:
    assert len(_links()) > 50


def test_every_relative_link_points_at_a_file_and_a_heading() -> None:
    broken = []
    for page, target in _links():
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert broken == []


@pytest.mark.parametrize("relative", sorted(generated_docs(cli)))
def test_the_generated_reference_is_current(relative: str) -> None:
    """Fails when the code changed and the reference did not: rerun scripts/gen_docs.py and commit its output."""
    path = REPO / relative
    assert path.is_file(), f"{relative} is missing: run .venv/bin/python scripts/gen_docs.py"
    assert path.read_text(encoding="utf-8") == generated_docs(cli)[relative], (
        f"{relative} is stale: run .venv/bin/python scripts/gen_docs.py and commit the result")


def test_gen_docs_check_agrees() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_docs.py"), "--check"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "the generated docs are up to date"
