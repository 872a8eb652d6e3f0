"""Outcomes fed back for logged predictions: the true label, a conversion, an amount — keyed by the
prediction id the server returned. A/B tests compare them between arms; monitoring (production KPIs)
reads them too. Feeding the same id again replaces its outcome.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from aiforge.errors import AiforgeError
from aiforge.workspace import OutcomeRow, Workspace, serialize

__all__ = ["OutcomeStore"]

MAX_OUTCOME_BYTES = 1024


class OutcomeStore:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def record(self, model: str, outcomes: Sequence[tuple[str, Any]]) -> int:
        """Store ``(prediction id, outcome)`` pairs of ``model``; returns how many were stored."""
        problems = []
        for i, (ident, value) in enumerate(outcomes):
            if not isinstance(ident, str) or not 0 < len(ident) <= 64:
                problems.append(f"outcome {i}: the prediction id must be a string of 1 to 64 characters")
            elif isinstance(value, float) and not math.isfinite(value):
                problems.append(f"outcome {i}: {value} is not a finite number")
            elif len(json.dumps(value)) > MAX_OUTCOME_BYTES:
                problems.append(f"outcome {i}: larger than {MAX_OUTCOME_BYTES} bytes of JSON")
        if problems:
            raise AiforgeError("outcomes rejected; none were stored", found="; ".join(problems[:5]),
                               hint="send the 'id' of each prediction with a number, a boolean or a label")
        now = datetime.now(UTC)
        with self.workspace.session() as s:
            serialize(s, "outcomes", model)  # the same prediction's outcome sent twice at once: one row
            for ident, value in outcomes:
                s.merge(OutcomeRow(prediction_id=ident, model=model, outcome=value, at=now))
        return len(outcomes)

    def for_ids(self, ids: Iterable[str]) -> dict[str, Any]:
        """The outcomes known for these prediction ids."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Any] = {}
        with self.workspace.session() as s:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                for row in s.scalars(select(OutcomeRow).where(OutcomeRow.prediction_id.in_(chunk))):
                    found[row.prediction_id] = row.outcome
        return found

    def of_model(self, model: str, since: datetime | None = None) -> dict[str, Any]:
        """Every outcome of ``model`` fed back since ``since`` (all when None), by prediction id."""
        with self.workspace.session() as s:
            query = select(OutcomeRow.prediction_id, OutcomeRow.outcome).where(OutcomeRow.model == model)
            if since is not None:
                query = query.where(OutcomeRow.at >= since)
            return {ident: outcome for ident, outcome in s.execute(query)}
