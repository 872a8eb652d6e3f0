"""Deployments: a challenger version rolled out against the champion, and the rules that move it.

Three strategies (``Strategy``):

- ``canary``: the challenger answers ``steps[i]`` percent of the requests. Once it has answered
  ``min_requests`` requests at a step with every guardrail holding, it advances to the next step; after
  the last step (100) it is promoted to ``production``. A breached guardrail rolls it back at once.
- ``shadow``: the champion answers every request; the challenger gets a copy, computed off the request
  path, and both are logged. Guardrails are judged over consecutive windows of ``min_requests``.
- ``ab``: a fixed ``split`` percent of the request keys go to the challenger, sticky by key; an outcome
  metric fed back per prediction is compared between the arms with a significance test.

The state lives in the metadata store, so it survives a server restart and every worker of every
server sees the same rollout. A change is made only if the deployment's ``revision`` is still the
one the caller saw (optimistic concurrency): when two workers judge the same window, one wins, and the
other reads the new state. ``judge`` is a pure function of a deployment and a window of live figures;
the server (``serve/_rollout.py``) measures the window and applies the verdict through this store.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update

from aiforge.errors import AiforgeError, RegistryError
from aiforge.registry._registry import Alias, ModelVersion, VersionStatus, served_version
from aiforge.workspace import AuditLog, DeploymentEventRow, DeploymentRow, ModelVersionRow, Workspace, serialize

__all__ = [
    "GUARDRAIL_METRICS",
    "Deployment",
    "DeploymentError",
    "DeploymentEvent",
    "DeploymentState",
    "DeploymentStore",
    "Guardrail",
    "Strategy",
    "Verdict",
    "Window",
    "judge",
]


class Strategy(StrEnum):
    CANARY = "canary"
    SHADOW = "shadow"
    AB = "ab"


class DeploymentState(StrEnum):
    ACTIVE = "active"
    PROMOTED = "promoted"  # the challenger became production
    ROLLED_BACK = "rolled_back"  # the challenger was archived; the champion answers alone


class DeploymentError(AiforgeError):
    """A deployment cannot be made or changed as asked."""

    code = "deployment"
    exit_code = 1
    http_status = 409


GUARDRAIL_METRICS: dict[str, str] = {
    "error_rate": "the share of the challenger's requests that failed (the champion answered them instead)",
    "p50_latency_ms": "the challenger's median latency in milliseconds",
    "p95_latency_ms": "the challenger's 95th percentile latency in milliseconds",
    "p99_latency_ms": "the challenger's 99th percentile latency in milliseconds",
    "mean_latency_ms": "the challenger's mean latency in milliseconds",
}
_GUARDRAIL = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")
_HOLDS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}


@dataclass(frozen=True)
class Guardrail:
    """A bound a challenger must keep, e.g. ``error_rate<0.01`` or ``p99_latency_ms<=50``."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Guardrail:
        match = _GUARDRAIL.match(text)
        if match is None:
            raise DeploymentError(f"cannot read the guardrail '{text}'", expected="METRIC<BOUND, e.g. "
                                  "'error_rate<0.01' or 'p99_latency_ms<=50' (operators: <, <=, >, >=)",
                                  found=text, hint="quote it in the shell: --guardrail 'error_rate<0.01'")
        metric, op, bound = match.groups()
        if metric not in GUARDRAIL_METRICS:
            raise DeploymentError(f"unknown guardrail metric '{metric}'", expected=", ".join(GUARDRAIL_METRICS),
                                  found=metric)
        try:
            value = float(bound)
        except ValueError:
            raise DeploymentError(f"the bound of guardrail '{text}' is not a number", found=bound) from None
        if not math.isfinite(value) or value < 0 or (metric == "error_rate" and value > 1):
            raise DeploymentError(f"the bound of guardrail '{text}' is out of range",
                                  expected="a share between 0 and 1" if metric == "error_rate"
                                  else "a finite number of milliseconds >= 0", found=bound)
        return cls(metric, op, value)

    def holds(self, value: float) -> bool:
        return bool(_HOLDS[self.op](float(value), self.bound))

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "bound": self.bound}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Guardrail:
        return cls(str(data["metric"]), str(data["op"]), float(data["bound"]))


@dataclass(frozen=True)
class Deployment:
    id: str
    name: str
    strategy: Strategy
    champion: int
    challenger: int
    state: DeploymentState
    steps: tuple[int, ...]  # canary: the challenger's share at each step, in percent, ending at 100
    step: int  # index into steps
    guardrails: tuple[Guardrail, ...]
    min_requests: int
    options: dict[str, Any]  # ab: split (percent), metric, alpha
    revision: int
    reason: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.state is DeploymentState.ACTIVE

    @property
    def traffic(self) -> int:
        """The percent of requests the challenger answers now (shadow: none; it sees a copy of each)."""
        if not self.active:
            return 100 if self.state is DeploymentState.PROMOTED else 0
        if self.strategy is Strategy.CANARY:
            return self.steps[self.step]
        if self.strategy is Strategy.AB:
            return int(self.options["split"])
        return 0

    @classmethod
    def from_row(cls, row: DeploymentRow) -> Deployment:
        return cls(
            id=row.id, name=row.name, strategy=Strategy(row.strategy), champion=row.champion,
            challenger=row.challenger, state=DeploymentState(row.state), steps=tuple(row.steps), step=row.step,
            guardrails=tuple(Guardrail.from_json(g) for g in row.guardrails), min_requests=row.min_requests,
            options=dict(row.options or {}), revision=row.revision, reason=row.reason, created_at=row.created_at,
            created_by=row.created_by, updated_at=row.updated_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "strategy": self.strategy.value, "champion": self.champion,
            "challenger": self.challenger, "state": self.state.value, "traffic": self.traffic,
            "steps": list(self.steps), "step": self.step, "guardrails": [str(g) for g in self.guardrails],
            "min_requests": self.min_requests, "options": self.options, "revision": self.revision,
            "reason": self.reason, "created_at": self.created_at.isoformat(), "created_by": self.created_by,
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class DeploymentEvent:
    at: datetime
    kind: str  # created, advanced, promoted, rolled_back
    step: int
    traffic: int
    actor: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "step": self.step, "traffic": self.traffic,
                "actor": self.actor, "details": self.details}


# -- judging a window of live figures ------------------------------------------------------------


@dataclass
class Window:
    """The challenger's requests in the current window: how many, how many failed, their latencies."""

    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def value(self, metric: str) -> float:
        if metric == "error_rate":
            return self.errors / self.requests if self.requests else 0.0
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        if metric == "mean_latency_ms":
            return sum(ordered) / len(ordered)
        q = {"p50_latency_ms": 0.50, "p95_latency_ms": 0.95, "p99_latency_ms": 0.99}[metric]
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    def figures(self) -> dict[str, float]:
        return {"requests": self.requests, "errors": self.errors,
                **{m: round(self.value(m), 4) for m in GUARDRAIL_METRICS}}


@dataclass(frozen=True)
class Verdict:
    action: str  # hold, advance, promote, rollback, next_window
    reason: str
    figures: dict[str, float]


def judge(deployment: Deployment, window: Window) -> Verdict:
    """What to do after the challenger's latest request in ``window``.

    A window closes at ``min_requests`` requests. A guardrail is judged when it closes, except that an
    error-rate bound is breached early once the window's errors alone exceed it (no later success could
    bring the rate back under the bound): a crashing challenger is rolled back after a few requests.
    """
    size = deployment.min_requests
    for g in deployment.guardrails:
        if g.metric == "error_rate" and g.op in ("<", "<=") and window.errors and not g.holds(window.errors / size):
            return Verdict("rollback", f"guardrail {g} breached: {window.errors} of at most {size} requests "
                           "failed", window.figures())
    if window.requests < size:
        return Verdict("hold", "", {})
    figures = window.figures()
    breached = [f"{g} breached: {g.metric} = {window.value(g.metric):.4g}" for g in deployment.guardrails
                if not g.holds(window.value(g.metric))]
    if breached:
        return Verdict("rollback", "guardrail " + "; ".join(breached), figures)
    held = ", ".join(str(g) for g in deployment.guardrails) or "no guardrails"
    if deployment.strategy is not Strategy.CANARY:
        return Verdict("next_window", f"{held} held over {window.requests} requests", figures)
    if deployment.step + 1 < len(deployment.steps):
        return Verdict("advance", f"{held} held over {window.requests} requests at "
                       f"{deployment.traffic}%", figures)
    return Verdict("promote", f"{held} held over {window.requests} requests at 100%", figures)


# -- the store -----------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def canary_steps(steps: Sequence[int] | None) -> tuple[int, ...]:
    """Validated canary steps: increasing percents in 1..100 that end at 100."""
    values = tuple(int(s) for s in (steps or (10, 50, 100)))
    if not values or any(not 1 <= s <= 100 for s in values) or list(values) != sorted(set(values)) \
            or values[-1] != 100:
        raise DeploymentError("canary steps must be increasing percents from 1 to 100 that end at 100",
                              expected="e.g. --steps 10,50,100", found=",".join(map(str, values)) or "none")
    return values


class DeploymentStore:
    """Deployments and their events in a workspace; every change is also in the audit log."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def create(
        self, name: str, version: int, strategy: Strategy | str, *, actor: str, steps: Sequence[int] | None = None,
        guardrails: Sequence[Guardrail | str] = (), min_requests: int = 100, split: int | None = None,
        metric: str = "outcome", alpha: float = 0.05,
    ) -> Deployment:
        """Start rolling ``version`` out against the version that answers for ``name`` now (the champion).

        The champion takes the ``production`` alias if it does not hold it yet, so that no newer candidate
        takes its traffic while the rollout runs.
        """
        try:
            strategy = Strategy(strategy)
        except ValueError:
            raise DeploymentError(f"unknown deployment strategy '{strategy}'",
                                  expected=", ".join(s.value for s in Strategy), found=str(strategy)) from None
        rails = tuple(g if isinstance(g, Guardrail) else Guardrail.parse(g) for g in guardrails)
        if min_requests < 1:
            raise DeploymentError("min_requests must be at least 1", found=str(min_requests))
        if strategy is Strategy.CANARY:
            plan = canary_steps(steps)
        elif steps:
            raise DeploymentError(f"steps are for canary deployments, not {strategy.value}",
                                  hint="leave --steps out, or use --strategy canary")
        else:
            plan = (100,) if strategy is Strategy.SHADOW else (0,)
        options: dict[str, Any] = {}
        if strategy is Strategy.AB:
            split = 50 if split is None else int(split)
            if not 1 <= split <= 99:
                raise DeploymentError("the A/B split is the challenger's percent of request keys, from 1 to 99",
                                      found=str(split))
            if metric not in ("outcome", "accuracy"):
                raise DeploymentError(f"unknown A/B metric '{metric}'", expected="outcome (the mean of the "
                                      "outcomes fed back) or accuracy (outcomes are the true labels)", found=metric)
            if not 0 < alpha < 1:
                raise DeploymentError("alpha must be between 0 and 1", found=str(alpha))
            options = {"split": split, "metric": metric, "alpha": alpha}
        elif split is not None:
            raise DeploymentError(f"a split is for A/B deployments, not {strategy.value}",
                                  hint="use --strategy ab, or leave --split out")

        with self.workspace.session() as s:
            serialize(s, "model_versions", name)  # one active deployment per model, even when two start at once
            rows = list(s.scalars(select(ModelVersionRow).where(ModelVersionRow.name == name)))
            versions = [ModelVersion.from_row(r) for r in rows]
            if not versions:
                raise RegistryError(f"no model named '{name}'", hint="list models with 'aiforge models'")
            challenger = next((v for v in versions if v.version == version), None)
            if challenger is None:
                raise RegistryError(f"model '{name}' has no version {version}",
                                    found="versions " + ", ".join(str(v.version) for v in versions))
            if challenger.status is not VersionStatus.ACCEPTED:
                raise DeploymentError(f"{name} v{version} failed its KPI gate and cannot be deployed",
                                      hint="fix the failing KPI and run again; deploy the new version")
            running = s.scalars(select(DeploymentRow).where(
                DeploymentRow.name == name, DeploymentRow.state == DeploymentState.ACTIVE.value)).first()
            if running is not None:
                raise DeploymentError(
                    f"{name} already has an active {running.strategy} deployment of v{running.challenger}",
                    found=f"deployment {running.id}", hint=f"wait for it to end, or 'aiforge rollback {name}'")
            if challenger.alias is Alias.PRODUCTION:
                raise DeploymentError(f"{name} v{version} is production already",
                                      hint="deploy another version against it")
            champion = served_version([v for v in versions if v.version != version])
            if champion is None:
                raise DeploymentError(f"{name} has no other version answering that v{version} could be rolled "
                                      "out against", hint=f"make it answer directly: aiforge promote {name} "
                                      f"{version} --to production")
            for held in rows:  # the champion holds production for the whole rollout
                if held.version == champion.version:
                    held.alias = Alias.PRODUCTION.value
                elif held.alias == Alias.PRODUCTION.value:
                    held.alias = Alias.ARCHIVED.value
            now = _now()
            row = DeploymentRow(
                id=f"dep_{secrets.token_hex(6)}", name=name, strategy=strategy.value, champion=champion.version,
                challenger=version, state=DeploymentState.ACTIVE.value, steps=list(plan), step=0,
                guardrails=[g.to_json() for g in rails], min_requests=min_requests, options=options, revision=1,
                reason=None, created_at=now, created_by=actor, updated_at=now,
            )
            s.add(row)
            s.flush()
            deployment = Deployment.from_row(row)
            self._event(s, deployment, "created", actor, {"champion": champion.version})
        AuditLog(self.workspace).append(actor, "deployment.create", f"{name}:v{version}", "ok",
                                        {"deployment": deployment.id, "strategy": strategy.value,
                                         "champion": champion.version})
        return deployment

    def get(self, ident: str) -> Deployment:
        with self.workspace.session() as s:
            row = s.get(DeploymentRow, ident)
            if row is None:
                raise DeploymentError(f"no deployment '{ident}'", hint="list them with 'aiforge deployments'")
            return Deployment.from_row(row)

    def active(self, name: str | None = None) -> list[Deployment]:
        """The active deployments (of ``name``), at most one per model."""
        with self.workspace.session() as s:
            query = select(DeploymentRow).where(DeploymentRow.state == DeploymentState.ACTIVE.value)
            if name is not None:
                query = query.where(DeploymentRow.name == name)
            return [Deployment.from_row(r) for r in s.scalars(query.order_by(DeploymentRow.name))]

    def recent(self, name: str | None = None, limit: int = 50) -> list[Deployment]:
        """Deployments, newest first."""
        with self.workspace.session() as s:
            query = select(DeploymentRow).order_by(DeploymentRow.created_at.desc()).limit(limit)
            if name is not None:
                query = query.where(DeploymentRow.name == name)
            return [Deployment.from_row(r) for r in s.scalars(query)]

    def events(self, ident: str) -> list[DeploymentEvent]:
        with self.workspace.session() as s:
            rows = s.scalars(select(DeploymentEventRow).where(DeploymentEventRow.deployment_id == ident)
                             .order_by(DeploymentEventRow.id))
            return [DeploymentEvent(r.at, r.kind, r.step, r.traffic, r.actor, dict(r.details)) for r in rows]

    def apply(self, deployment: Deployment, verdict: Verdict, *, actor: str) -> Deployment | None:
        """Carry out a verdict of ``judge`` on ``deployment`` as it was seen; ``None`` if the deployment
        changed in the meantime (another worker judged first, or an operator acted): read it again."""
        details = {"reason": verdict.reason, "window": verdict.figures}
        if verdict.action == "advance":
            return self._change(deployment, actor, "advanced", details, step=deployment.step + 1)
        if verdict.action == "promote":
            return self._finish(deployment, DeploymentState.PROMOTED, verdict.reason, actor, details)
        if verdict.action == "rollback":
            return self._finish(deployment, DeploymentState.ROLLED_BACK, verdict.reason, actor, details)
        return deployment

    def rollback(self, name: str, *, actor: str, reason: str = "rolled back by an operator") -> Deployment:
        """End the active deployment of ``name``: the challenger is archived, the champion answers alone."""
        return self._end_active(name, DeploymentState.ROLLED_BACK, actor, reason)

    def promote(self, name: str, *, actor: str, reason: str = "promoted by an operator") -> Deployment:
        """End the active deployment of ``name`` early: the challenger becomes production."""
        return self._end_active(name, DeploymentState.PROMOTED, actor, reason)

    def _end_active(self, name: str, state: DeploymentState, actor: str, reason: str) -> Deployment:
        for _ in range(10):
            active = self.active(name)
            if not active:
                raise DeploymentError(f"{name} has no active deployment",
                                      hint="'aiforge deployments' lists them; 'aiforge promote' moves aliases "
                                      "directly")
            done = self._finish(active[0], state, reason, actor, {"reason": reason})
            if done is not None:
                return done
        raise DeploymentError(f"the deployment of {name} kept changing; try again")

    def _finish(self, deployment: Deployment, state: DeploymentState, reason: str, actor: str,
                details: dict[str, Any]) -> Deployment | None:
        with self.workspace.session() as s:
            serialize(s, "model_versions", deployment.name)  # the aliases move with no promotion in between
            if not self._bump(s, deployment, state=state.value, reason=reason):
                return None
            winner = deployment.challenger if state is DeploymentState.PROMOTED else deployment.champion
            loser = deployment.champion if state is DeploymentState.PROMOTED else deployment.challenger
            for row in s.scalars(select(ModelVersionRow).where(ModelVersionRow.name == deployment.name)):
                if row.version == winner:
                    row.alias = Alias.PRODUCTION.value
                elif row.version == loser or row.alias == Alias.PRODUCTION.value:
                    row.alias = Alias.ARCHIVED.value
            done = Deployment.from_row(s.get_one(DeploymentRow, deployment.id))
            self._event(s, done, state.value, actor, details)
        AuditLog(self.workspace).append(actor, f"deployment.{state.value}", f"{deployment.name}:v"
                                        f"{deployment.challenger}", "ok", {"deployment": deployment.id, **details})
        return done

    def _change(self, deployment: Deployment, actor: str, kind: str, details: dict[str, Any],
                **values: Any) -> Deployment | None:
        with self.workspace.session() as s:
            if not self._bump(s, deployment, **values):
                return None
            changed = Deployment.from_row(s.get_one(DeploymentRow, deployment.id))
            self._event(s, changed, kind, actor, details)
            return changed

    @staticmethod
    def _bump(s: Any, deployment: Deployment, **values: Any) -> bool:
        """Change the deployment's row if it is still active at the revision the caller saw."""
        result = s.execute(
            update(DeploymentRow)
            .where(DeploymentRow.id == deployment.id, DeploymentRow.revision == deployment.revision,
                   DeploymentRow.state == DeploymentState.ACTIVE.value)
            .values(revision=deployment.revision + 1, updated_at=_now(), **values)
            .execution_options(synchronize_session=False)
        )
        s.expire_all()
        return bool(result.rowcount == 1)

    @staticmethod
    def _event(s: Any, deployment: Deployment, kind: str, actor: str, details: dict[str, Any]) -> None:
        s.add(DeploymentEventRow(deployment_id=deployment.id, at=_now(), kind=kind, step=deployment.step,
                                 traffic=deployment.traffic, actor=actor, details=details))
