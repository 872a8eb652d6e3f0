"""The decision log and its monitoring: what the served decision policies chose, against their reference.

The server appends one JSON line per decision (``POST /v1/decisions/{name}``) to
``<workspace>/decisions/<model>/<day>-<pid>.jsonl``: one file per process and day, each request's lines in
one write. ``decision_report`` reads a window of it back for a version and compares it with the reference
registered with the version (its decisions on the held-out split): the share of each action (decision drift,
measured by PSI: 0.1 worth a look, 0.2 drifted), each rule's firing rate, and the mean expected utility.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiforge.errors import AiforgeError
from aiforge.reason import Decision, DecisionBundle
from aiforge.registry import ModelRegistry, ModelVersion

__all__ = ["DECISION_DRIFT_PSI", "DecisionLog", "DecisionReport", "decision_report"]

DECISION_DRIFT_PSI = 0.2  # the PSI of the action shares from which the decisions count as drifted


class DecisionLog:
    """Appends decisions as JSON lines under ``folder`` (the workspace's ``decisions/``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def append(self, *, model: str, version: int, ids: Sequence[str], decisions: Sequence[Decision],
               latency_ms: float) -> None:
        now = datetime.now(UTC)
        at = now.isoformat()
        lines = "".join(json.dumps({
            "at": at, "id": i, "version": version, "action": d.action, "expected_utility": d.expected_utility,
            "model_only": d.model_only, "required_by": d.required_by, "forbidden": sorted(d.forbidden),
            "fired": [f.rule for f in d.firings if f.overruled_by is None], "latency_ms": round(latency_ms, 3),
        }, separators=(",", ":")) + "\n" for i, d in zip(ids, decisions, strict=True))
        folder = self.folder / model
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"{now:%Y-%m-%d}-{os.getpid()}.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(lines)

    def read(self, model: str, *, version: int | None = None, since: datetime | None = None,
             last: int | None = None) -> list[dict[str, Any]]:
        """The logged decisions of ``model`` (of ``version``; after ``since``; the newest ``last``), oldest first."""
        folder = self.folder / model
        if not folder.is_dir():
            return []
        rows: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.jsonl")):
            if since is not None and path.name[:10] < f"{since:%Y-%m-%d}":
                continue
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    if not line.endswith("\n"):
                        continue  # a line being written right now
                    row = json.loads(line)
                    if version is not None and row["version"] != version:
                        continue
                    if since is not None and datetime.fromisoformat(row["at"]) < since:
                        continue
                    rows.append(row)
        rows.sort(key=lambda r: r["at"])
        return rows[-last:] if last else rows


@dataclass(frozen=True)
class DecisionReport:
    """Live decisions of a version against its reference."""

    model: str
    version: int
    records: int
    shares: dict[str, float]
    reference_shares: dict[str, float]
    psi: float
    firing_rates: dict[str, float]
    reference_firing_rates: dict[str, float]
    mean_expected_utility: float
    reference_mean_expected_utility: float
    model_only_agreement: float | None

    @property
    def drifted(self) -> bool:
        return self.psi >= DECISION_DRIFT_PSI

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "records": self.records, "shares": self.shares,
                "reference_shares": self.reference_shares, "psi": round(self.psi, 4), "drifted": self.drifted,
                "threshold": DECISION_DRIFT_PSI, "rule_firing_rates": self.firing_rates,
                "reference_rule_firing_rates": self.reference_firing_rates,
                "mean_expected_utility": self.mean_expected_utility,
                "reference_mean_expected_utility": self.reference_mean_expected_utility,
                "model_only_agreement": self.model_only_agreement}


def decision_report(registry: ModelRegistry, version: ModelVersion, *, period: timedelta | None = None,
                    last: int | None = None) -> DecisionReport:
    """The decisions logged for ``version`` (the last ``period`` and/or the newest ``last``) against its
    reference; an ``AiforgeError`` when the version has no decision layer or none were logged."""
    import numpy as np

    from aiforge.data import psi

    if "decision" not in version.documents:
        raise AiforgeError(f"{version.name} v{version.version} has no decision layer",
                           hint="add a decision: section to the project file and run it again")
    bundle = DecisionBundle.from_bytes(registry.document(version, "decision"))
    since = datetime.now(UTC) - period if period is not None else None
    rows = DecisionLog(registry.workspace.root / "decisions").read(version.name, version=version.version,
                                                                    since=since, last=last)
    if not rows:
        raise AiforgeError(f"no logged decisions of {version.name} v{version.version} in the window",
                           hint="decisions are logged by POST /v1/decisions/{name}; widen --window or --last")
    n = len(rows)
    actions = bundle.spec.actions
    counts = Counter(r["action"] for r in rows)
    shares = {a: counts.get(a, 0) / n for a in actions}
    reference = bundle.reference
    ref_shares = {a: float(reference.get("shares", {}).get(a, 0.0)) for a in actions}
    fired = Counter(name for r in rows for name in set(r["fired"]))
    agreement = [r["action"] == r["model_only"] for r in rows if r.get("model_only") is not None]
    return DecisionReport(
        model=version.name, version=version.version, records=n, shares=shares, reference_shares=ref_shares,
        psi=psi(np.array([ref_shares[a] for a in actions]), np.array([shares[a] for a in actions])),
        firing_rates={r.name: fired.get(r.name, 0) / n for r in bundle.spec.rules},
        reference_firing_rates={k: float(v) for k, v in reference.get("rule_firing_rates", {}).items()},
        mean_expected_utility=float(sum(r["expected_utility"] for r in rows) / n),
        reference_mean_expected_utility=float(reference.get("mean_expected_utility", float("nan"))),
        model_only_agreement=sum(agreement) / len(agreement) if agreement else None)
