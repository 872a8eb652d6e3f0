"""MkDocs hooks (mkdocs.yml: hooks): the site reads docs/ as GitHub shows it.

- Headings get GitHub's anchors (``aiforge.spec._reference.slug``, which the generated references and
  tests/test_docs.py use too), so a link to ``page.md#some-heading`` works on both.
- The docs link to files outside docs/ (benchmark results, scripts): each such file that exists is put in the site
  under ``repo/`` (Markdown as a page, anything else as it is), with the links to it rewritten, and so on for the
  files those pages link to. A link to a file that does not exist is left as written, and MkDocs' strict mode
  fails on it like on any other broken link.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

REPO_PREFIX = "repo/"
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
_FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)


def on_config(config: Any) -> Any:
    from aiforge.spec._reference import slug

    toc = config.mdx_configs.setdefault("toc", {})
    toc["slugify"] = lambda value, separator: slug(value)
    return config


def _roots(config: Any) -> tuple[Path, Path]:
    docs = Path(config.docs_dir).resolve()
    return docs, Path(config.config_file_path).resolve().parent


def _repo_path(file_uri: str, docs: Path, repo: Path) -> str:
    """Where a file of the site lives in the repository, relative to its root (posix)."""
    if file_uri.startswith(REPO_PREFIX):
        return file_uri[len(REPO_PREFIX):]
    return (docs / file_uri).relative_to(repo).as_posix()


def _site_uri(repo_path: str, docs: Path, repo: Path) -> str:
    target = (repo / repo_path).resolve()
    if target.is_relative_to(docs):
        return target.relative_to(docs).as_posix()
    return REPO_PREFIX + repo_path


def _targets(markdown: str) -> list[str]:
    """The relative link targets of a page, outside code blocks and code spans, without their anchors."""
    prose = re.sub(r"`[^`\n]*`", "", _FENCE.sub("", markdown))
    return [t.split("#", 1)[0] for _, t, _ in _LINK.findall(prose)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith(("#", "/"))]


def _outside(page_repo_path: str, target: str, docs: Path, repo: Path) -> str | None:
    """The repository path a link points at when that is a file outside docs/ (and inside the repository)."""
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page_repo_path), target))
    path = (repo / resolved).resolve()
    if resolved.startswith("../") or not path.is_file() or path.is_relative_to(docs):
        return None
    return resolved


def on_files(files: Files, config: Any) -> Files:
    docs, repo = _roots(config)
    todo = list(files.documentation_pages())
    added: set[str] = set()
    while todo:
        page = todo.pop()
        page_repo_path = _repo_path(page.src_uri, docs, repo)
        text = Path(page.abs_src_path or "").read_text(encoding="utf-8")
        for target in _targets(text):
            found = _outside(page_repo_path, target, docs, repo) if target else None
            if found is None or found in added:
                continue
            added.add(found)
            extra = File.generated(config, REPO_PREFIX + found, abs_src_path=str(repo / found))
            files.append(extra)
            if extra.is_documentation_page():
                todo.append(extra)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    docs, repo = _roots(config)
    page_uri = page.file.src_uri
    page_repo_path = _repo_path(page_uri, docs, repo)

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        path, hash_, anchor = target.partition("#")
        if not path or re.match(r"^[a-z][a-z0-9+.-]*:", path) or path.startswith("/"):
            return match.group(0)
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page_repo_path), path))
        if resolved.startswith("../") or not (repo / resolved).exists():
            return match.group(0)  # left for MkDocs to report
        uri = _site_uri(resolved, docs, repo)
        if files.get_file_from_path(uri) is None:
            return match.group(0)
        relative = posixpath.relpath(uri, posixpath.dirname(page_uri) or ".")
        return f"{match.group(1)}{relative}{hash_}{anchor}{match.group(3)}"

    def prose(part: str) -> str:  # links whose "[" is inside a code span are code, not links
        spans = [m.span() for m in re.finditer(r"`[^`\n]*`", part)]
        return _LINK.sub(lambda m: m.group(0) if any(a <= m.start() < b for a, b in spans) else rewrite(m), part)

    parts = re.split(r"(^```.*?^```)", markdown, flags=re.S | re.M)
    return "".join(part if i % 2 else prose(part) for i, part in enumerate(parts))

