"""The one exception hierarchy of aiforge, and how each error maps to an exit code.

Every error a user can cause says where (file, line, field), what was expected, what was
found and what to do. The CLI maps ``exit_code`` to the process exit status; the HTTP server
maps ``http_status`` to a response. Each class has a stable ``code`` (``error[spec]: ...``) and a
section of ``docs/errors.md`` under that code, explaining its causes and fixes; the rendered error
links to it (``docs``), and a test keeps the page and the classes in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DOCS_PAGE",
    "AiforgeError",
    "ArtifactError",
    "DataError",
    "GateFailed",
    "MissingDependency",
    "Problem",
    "RegistryError",
    "SpecError",
    "WorkspaceError",
]


DOCS_PAGE = "docs/errors.md"  # one section per error code; the anchor is the code


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a user's input, located as precisely as we can."""

    message: str
    where: str | None = None
    expected: str | None = None
    found: str | None = None
    hint: str | None = None

    def render(self, indent: str = "") -> str:
        lines = [f"{indent}{self.message}"]
        for label, value in (
            ("where", self.where),
            ("expected", self.expected),
            ("found", self.found),
            ("hint", self.hint),
        ):
            if value:
                lines.append(f"{indent}  {label + ':':<9} {value}")
        return "\n".join(lines)


@dataclass
class AiforgeError(Exception):
    """Base of every error aiforge raises on purpose (bad input, failed gate, broken store)."""

    message: str
    where: str | None = None
    expected: str | None = None
    found: str | None = None
    hint: str | None = None
    more: list[Problem] = field(default_factory=list)

    code = "aiforge"
    exit_code = 2
    http_status = 400

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def problems(self) -> list[Problem]:
        first = Problem(self.message, self.where, self.expected, self.found, self.hint)
        return [first, *self.more]

    @property
    def docs(self) -> str:
        """Where this error's causes and fixes are explained: ``docs/errors.md#<code>``."""
        return f"{DOCS_PAGE}#{self.code}"

    def render(self) -> str:
        problems = self.problems
        head = f"error[{self.code}]: " + problems[0].render() + f"\n  {'docs:':<9} {self.docs}"
        if len(problems) == 1:
            return head
        rest = "\n".join("  - " + p.render(indent="    ").lstrip() for p in problems[1:])
        return f"{head}\n{len(problems) - 1} more problem(s):\n{rest}"

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "docs": self.docs,
            "problems": [
                {k: v for k, v in vars(p).items() if v is not None} for p in self.problems
            ],
        }

    def __str__(self) -> str:
        return self.render()


class SpecError(AiforgeError):
    """The project file is malformed, names something unknown, or contradicts itself."""

    code = "spec"


class DataError(AiforgeError):
    """A data source is missing, unreadable, empty, or does not fit the project file."""

    code = "data"


class WorkspaceError(AiforgeError):
    """The workspace cannot be opened or is not in the expected state."""

    code = "workspace"
    http_status = 500


class ArtifactError(WorkspaceError):
    """An artifact is missing or its bytes no longer match their SHA-256 address."""

    code = "artifact"


class RegistryError(AiforgeError):
    """A model or version does not exist, or an alias change is not allowed."""

    code = "registry"
    http_status = 404


class GateFailed(AiforgeError):
    """A KPI gate failed: the model was registered as rejected."""

    code = "gate"
    exit_code = 1
    http_status = 409


class MissingDependency(AiforgeError):
    """An optional dependency is needed for what was asked, and it is not installed."""

    code = "dependency"
    http_status = 501
