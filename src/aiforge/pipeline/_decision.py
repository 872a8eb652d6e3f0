"""The ``decision`` section in the life cycle: its checks, and the ``decide`` stage.

``load_project`` parses and whitelists the rules' expressions; ``preflight`` checks every fact they and the
networks read against the data's columns and types. The ``decide`` stage runs after ``evaluate``: it fits the
networks (``reason.fit_bundle``), decides the held-out rows for the reference, and stores the bundle, which is
registered with the version as its ``decision`` document (the network is versioned with the model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiforge.errors import Problem
from aiforge.spec import ProjectFile

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    import pyarrow as pa

    from aiforge.reason import Kind

__all__ = ["column_kinds", "decide_stage", "decision_note", "project_decision_problems"]


def project_decision_problems(project: ProjectFile, table: pa.Table | None = None,
                              regression: bool = False) -> list[Problem]:
    """The decision section's problems, located in the project file (with ``table``: against its columns)."""
    spec = project.spec.decision
    if spec is None:
        return []
    from aiforge.reason import decision_problems

    columns = column_kinds(table) if table is not None else None
    return [project.problem(path, message, hint=_hint(message))
            for path, message in decision_problems(spec, columns, target=project.spec.problem.target,
                                                   regression=regression)]


def _hint(message: str) -> str | None:
    if "unknown fact" in message:
        return "a rule reads input columns, the model's prediction / probability, and facts other rules set"
    if "not allowed" in message:
        return "rules are expressions, not code: see docs/reasoning.md for what the language allows"
    if "compare" in message or "needs numbers" in message or " is " in message:
        return "make both sides the same kind (cast the column in data.steps, or quote text literals)"
    return None


def column_kinds(table: pa.Table) -> dict[str, Kind]:
    """Each column's kind as the rule language sees it: number, text, bool (else any)."""
    import pyarrow.types as t

    kinds: dict[str, Kind] = {}
    for f in table.schema:
        kind: Kind = "any"
        if t.is_boolean(f.type):
            kind = "bool"
        elif t.is_integer(f.type) or t.is_floating(f.type) or t.is_decimal(f.type):
            kind = "number"
        elif t.is_string(f.type) or t.is_large_string(f.type) or t.is_dictionary(f.type):
            kind = "text"
        kinds[f.name] = kind
    return kinds


def decide_stage(model_bytes: bytes, project: ProjectFile, train: pd.DataFrame, test: pd.DataFrame,
                 put: Callable[[bytes], str]) -> dict[str, Any]:
    """Fit the decision bundle and store it: ``{"bundle": digest, "networks": {...fit}, "reference": {...}}``."""
    import io

    import joblib

    from aiforge.reason import fit_bundle

    spec = project.spec.decision
    assert spec is not None
    model = joblib.load(io.BytesIO(model_bytes))
    bundle = fit_bundle(spec, model, train, test, project.spec.problem.target)
    digest = put(bundle.to_bytes())
    return {"bundle": digest, "reference": bundle.reference, "_artifacts": [digest],
            "networks": {name: {"edges": [list(e) for e in n.edges], **n.fit} for name, n in bundle.networks.items()}}


def decision_note(out: dict[str, Any]) -> str:
    ref = out["reference"]
    shares = ", ".join(f"{a} {s:.0%}" for a, s in ref["shares"].items())
    return f"{len(out['networks'])} network(s); on the test split: {shares}"
