"""Reading a project file: YAML with line numbers, then pydantic, then errors that teach."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from aiforge.errors import Problem, SpecError
from aiforge.spec._models import ProjectSpec
from aiforge.spec._sources import PAGINATION_TYPES, SOURCE_TYPES
from aiforge.spec._steps import STEP_KINDS

_TAGS = frozenset((*SOURCE_TYPES, *STEP_KINDS))

__all__ = ["ProjectFile", "load_project_file", "parse_project_text"]

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class ProjectFile:
    """A validated project file: the spec plus where each field was written."""

    path: Path
    text: str
    spec: ProjectSpec
    lines: dict[FieldPath, int] = field(repr=False, compare=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def sha256(self) -> str:
        """Hash of the validated content (not the text), so comments and layout do not matter."""
        canonical = json.dumps(self.spec.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def where(self, path: FieldPath) -> str:
        """'file:line (field.path)' for a field, falling back to its nearest written parent."""
        return _where(self.path, self.lines, path)

    def problem(self, path: FieldPath, message: str, **kw: str | None) -> Problem:
        return Problem(message, where=self.where(path), **kw)


def load_project_file(path: str | Path) -> ProjectFile:
    """Read and validate a project file; raise SpecError naming file, line and field."""
    p = Path(path)
    if not p.exists():
        raise SpecError(
            "project file not found",
            where=str(p),
            expected="a YAML project file",
            found="no such file",
            hint="check the path, or create one with 'aiforge init DIR'",
        )
    if p.is_dir():
        candidate = p / "aiforge.yaml"
        if candidate.is_file():
            p = candidate
        else:
            raise SpecError(
                "project path is a folder without aiforge.yaml",
                where=str(p),
                hint="pass the project file itself, or create one with 'aiforge init DIR'",
            )
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            "project file is not valid UTF-8",
            where=f"{p}:{line}",
            expected="UTF-8 text",
            found=f"byte 0x{raw[exc.start]:02x} at offset {exc.start}",
            hint="save the file as UTF-8",
        ) from exc
    return parse_project_text(text, p)


def parse_project_text(text: str, path: Path) -> ProjectFile:
    """Validate project-file text as if read from ``path`` (used by tests and 'init')."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise SpecError(
            "project file is not valid YAML",
            where=where,
            found=str(exc.problem or exc).strip(),
            hint="check indentation and quoting near that line; strings with ':' or '#' need quotes",
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError("project file is not valid YAML", where=str(path), found=str(exc)) from exc
    lines: dict[FieldPath, int] = {}
    if node is not None:
        duplicates: list[Problem] = []
        _index_lines(node, (), lines, path, duplicates)
        if duplicates:
            first, *rest = duplicates
            raise SpecError(first.message, where=first.where, found=first.found, hint=first.hint, more=rest)
    if not isinstance(data, dict):
        raise SpecError(
            "project file must be a mapping of sections",
            where=str(path),
            expected="keys such as name:, problem:, data:",
            found="an empty file" if data is None else f"a {type(data).__name__}",
            hint="start from 'aiforge init DIR', which writes a commented example",
        )
    try:
        spec = ProjectSpec.model_validate(data)
    except ValidationError as exc:
        problems = [_problem_from(err, path, lines) for err in exc.errors()]
        first, *rest = problems
        raise SpecError(
            first.message, where=first.where, expected=first.expected, found=first.found,
            hint=first.hint, more=rest,
        ) from None
    return ProjectFile(path=path, text=text, spec=spec, lines=lines)


def _index_lines(
    node: yaml.Node, prefix: FieldPath, out: dict[FieldPath, int], file: Path, duplicates: list[Problem]
) -> None:
    """Record the line of every key and item; a key written twice in one mapping is a problem."""
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            line = key.start_mark.line + 1
            if path in out and path != prefix:
                duplicates.append(Problem(
                    f"key '{key.value}' is written twice", where=f"{file}:{line} ({_dotted(path)})",
                    found=f"first on line {out[path]}, again on line {line}",
                    hint="YAML keeps only the last one; merge the two into one",
                ))
            out[path] = line
            _index_lines(value, path, out, file, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*prefix, i), out, file, duplicates)


def _where(file: Path, lines: dict[FieldPath, int], path: FieldPath) -> str:
    dotted = _dotted(path)
    probe = tuple(path)
    while probe and probe not in lines:
        probe = probe[:-1]
    line = lines.get(probe)
    location = f"{file}:{line}" if line else str(file)
    return f"{location} ({dotted})" if dotted else location


def _dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(path: FieldPath) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at ``path`` (for listing its valid keys)."""
    model: Any = ProjectSpec
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        if info is None:
            # discriminated union tags show up as path parts ('csv'); stay on the union
            return None
        ann = info.annotation
        model = _first_model(ann)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _first_model(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _problem_from(err: Any, file: Path, lines: dict[FieldPath, int]) -> Problem:
    loc: FieldPath = tuple(err["loc"])
    # pydantic inserts the discriminator value ('csv', 'join') into the path of a union member, after its index
    loc = tuple(p for i, p in enumerate(loc) if not (i and isinstance(loc[i - 1], int) and p in _TAGS)
                and not (i and loc[i - 1] == "pagination" and p in PAGINATION_TYPES))
    kind = err["type"]
    where = _where(file, lines, loc)
    found_value = err.get("input")
    found = _short(found_value)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(loc[:-1])
        valid = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        hint += f"valid keys here: {', '.join(valid)}" if valid else "remove the key"
        return Problem(f"unknown key '{key}'", where=where, found=key, hint=hint)
    if kind == "missing":
        return Problem(
            f"required field '{loc[-1]}' is missing", where=where,
            hint=f"add '{loc[-1]}:' to this section (see 'aiforge init' for an example)",
        )
    if kind in ("literal_error", "enum"):
        expected = str(err.get("ctx", {}).get("expected", ""))
        return Problem(
            f"'{_dotted(loc)}' has an invalid value", where=where, expected=f"one of {expected}",
            found=found, hint="use one of the listed values",
        )
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = str(ctx.get("tag", ""))
        if loc and loc[-1] == "pagination":
            return Problem(
                f"unknown pagination type '{tag}'", where=_where(file, lines, (*loc, "type")),
                expected=f"type: one of {ctx.get('expected_tags', '')}", found=tag,
                hint="pagination: {type: page} (numbered pages), {type: cursor, cursor_path: ...} or {type: next}",
            )
        return Problem(
            f"unknown source type '{tag}'", where=_where(file, lines, (*loc, "type")),
            expected=f"type: one of {ctx.get('expected_tags', '')}", found=tag,
            hint="each source needs a 'type:' key naming its kind",
        )
    if kind == "union_tag_not_found":
        return Problem(
            "source needs a 'type:' key", where=where, expected="type: " + " | ".join(SOURCE_TYPES),
            found="no type", hint="add e.g. 'type: csv'",
        )
    if kind == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
        return Problem(msg, where=where, found=found)
    boolean_key: str | None = None
    if isinstance(found_value, bool) and "keys should be strings" in err["msg"].lower():
        boolean_key = "YAML reads on, off, yes, no, y and n as true/false: quote such a key ('on': ...)"
    return Problem(
        f"'{_dotted(loc)}' is invalid: {err['msg'].lower()}", where=where,
        expected=_expected_from(err), found=found, hint=boolean_key,
    )


def _expected_from(err: Any) -> str | None:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if "pattern" in ctx:
        return f"text matching {ctx['pattern']} (lower-case letters, digits, '-' and '_')"
    for bound in ("gt", "ge", "lt", "le"):
        if bound in ctx:
            symbol = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[bound]
            return f"a number {symbol} {ctx[bound]}"
    if "min_length" in ctx:
        return f"at least {ctx['min_length']} item(s) or character(s)"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return kind.split("_")[0]
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
