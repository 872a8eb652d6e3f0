"""The docs site: mkdocs.yml's nav lists every page of docs/, and `mkdocs build --strict` (what `make docs` runs)
builds it in seconds, failing on a link to a missing page, file or heading; the files outside docs/ that the
pages link to (benchmark results) are in the site."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

pytest.importorskip("mkdocs", reason="mkdocs is in the dev extra: pip install -e '.[dev]' (make install)")

HOOKS = REPO / "scripts" / "mkdocs_hooks.py"


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, timeout=300, cwd=config.parent)


def _pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _pages(item)]
    return [page for value in nav.values() for page in _pages(value)]


def test_the_nav_lists_every_page_once() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = _pages(config["nav"])
    pages = sorted(p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md"))
    assert sorted(listed) == pages, "add the page to mkdocs.yml's nav (or remove the entry of a page that is gone)"


def test_the_site_builds_strictly_in_seconds(tmp_path: Path) -> None:
    started = time.perf_counter()
    proc = _build(REPO / "mkdocs.yml", tmp_path / "site")
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr
    assert seconds < 60, f"the docs site took {seconds:.1f} s to build"
    site = tmp_path / "site"
    for page in (REPO / "docs").rglob("*.md"):
        assert (site / page.relative_to(REPO / "docs").with_suffix(".html")).is_file(), page
    assert (site / "reference" / "aiforge.schema.json").is_file()
    assert (site / "repo" / "benchmarks" / "drift" / "RESULTS.html").is_file()  # linked from monitoring.md
    monitoring = (site / "monitoring.html").read_text(encoding="utf-8")
    assert 'href="repo/benchmarks/drift/RESULTS.html"' in monitoring
    assert 'id="the-report"' in monitoring  # GitHub's anchors, which the docs' own links use


def _mini_site(root: Path, body: str) -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.md").write_text(f"# Home\n\n## A heading\n\n{body}\n", encoding="utf-8")
    (root / "docs" / "other.md").write_text("# Other\n\n[home](index.md#a-heading)\n", encoding="utf-8")
    (root / "notes").mkdir()
    (root / "notes" / "result.md").write_text("# Result\n\n[back](../docs/other.md)\n", encoding="utf-8")
    (root / "notes" / "data.csv").write_text("a\n1\n", encoding="utf-8")
    config = root / "mkdocs.yml"
    config.write_text(yaml.safe_dump({
        "site_name": "t", "docs_dir": "docs", "use_directory_urls": False, "hooks": [str(HOOKS)],
        "nav": ["index.md", "other.md"],
        "validation": {"links": {"not_found": "warn", "anchors": "warn", "unrecognized_links": "warn"}},
    }), encoding="utf-8")
    return config


def test_files_outside_docs_that_the_pages_link_to_are_put_in_the_site(tmp_path: Path) -> None:
    config = _mini_site(tmp_path, "[result](../notes/result.md) and [`the data`](../notes/data.csv); "
                                  "`[not a link](../nowhere.md)`")
    proc = _build(config, tmp_path / "site")
    assert proc.returncode == 0, proc.stderr
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'href="repo/notes/result.html"' in index and 'href="repo/notes/data.csv"' in index
    result = (tmp_path / "site" / "repo" / "notes" / "result.html").read_text(encoding="utf-8")
    assert 'href="../../other.html"' in result  # the copied page's link back into docs/ still works
    assert (tmp_path / "site" / "repo" / "notes" / "data.csv").read_text(encoding="utf-8") == "a\n1\n"


@pytest.mark.parametrize(("link", "named"), [
    ("[gone](missing.md)", "missing.md"),
    ("[gone](other.md#no-such-heading)", "no-such-heading"),
    ("[gone](../notes/absent.md)", "../notes/absent.md"),
])
def test_a_broken_link_fails_the_strict_build(tmp_path: Path, link: str, named: str) -> None:
    proc = _build(_mini_site(tmp_path, link), tmp_path / "site")
    assert proc.returncode != 0
    assert "WARNING" in proc.stderr and named in proc.stderr
