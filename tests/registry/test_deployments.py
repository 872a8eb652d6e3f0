"""Deployments: guardrails, the judge of a window, and the store's state machine (aliases, revisions,
events, audit). The server that drives them is tested end to end in tests/serve/test_rollout.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiforge.errors import RegistryError
from aiforge.registry import (
    Alias,
    Deployment,
    DeploymentError,
    DeploymentState,
    DeploymentStore,
    Guardrail,
    ModelRegistry,
    PromotionRefused,
    Strategy,
    Verdict,
    Window,
    judge,
)
from aiforge.workspace import AuditLog, Workspace, WorkspaceSettings

GATE = {"passed": True, "results": []}
REJECTED = {"passed": False, "results": [{"kpi": "roc_auc", "passed": False, "message": "roc_auc too low"}]}


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / ".aiforge"))
    yield ws
    ws.close()


def _versions(ws: Workspace, *accepted: bool) -> ModelRegistry:
    registry = ModelRegistry(ws)
    for i, ok in enumerate(accepted):
        registry.register(name="income", run_id=f"run-{i}", artifact=ws.artifacts.put_bytes(f"model {i}".encode()),
                          learner="lightgbm", metrics={}, gate=GATE if ok else REJECTED, lineage={}, accepted=ok)
    return registry


# -- guardrails ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "metric", "op", "bound"), [
    ("error_rate<0.01", "error_rate", "<", 0.01),
    (" p99_latency_ms <= 50 ", "p99_latency_ms", "<=", 50.0),
    ("mean_latency_ms>0", "mean_latency_ms", ">", 0.0),
])
def test_guardrails_are_read_from_text(text: str, metric: str, op: str, bound: float) -> None:
    g = Guardrail.parse(text)
    assert (g.metric, g.op, g.bound) == (metric, op, bound)
    assert Guardrail.parse(str(g)) == g and Guardrail.from_json(g.to_json()) == g


@pytest.mark.parametrize(("text", "message"), [
    ("error_rate", "cannot read the guardrail"),
    ("error_rate=0.01", "cannot read the guardrail"),
    ("latency<5", "unknown guardrail metric 'latency'"),
    ("error_rate<1.5", "out of range"),
    ("p99_latency_ms<nan", "cannot read|not a number|out of range"),
    ("p99_latency_ms<1e999", "out of range"),
])
def test_a_bad_guardrail_says_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(DeploymentError, match=message) as caught:
        Guardrail.parse(text)
    assert caught.value.expected or caught.value.found


@pytest.mark.parametrize(("op", "value", "holds"), [("<", 0.01, False), ("<=", 0.01, True), (">", 0.02, True),
                                                     (">=", 0.0, False)])
def test_a_guardrail_holds_by_its_operator(op: str, value: float, holds: bool) -> None:
    assert Guardrail("error_rate", op, 0.01 if op != ">=" else 0.01).holds(value) is holds


# -- the judge -----------------------------------------------------------------------------------


def _deployment(strategy: Strategy = Strategy.CANARY, step: int = 0, guardrails: tuple[str, ...] = (
        "error_rate<0.05", "p99_latency_ms<50"), min_requests: int = 20) -> Deployment:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return Deployment("dep_1", "income", strategy, 1, 2, DeploymentState.ACTIVE, (10, 50, 100), step,
                      tuple(Guardrail.parse(g) for g in guardrails), min_requests, {}, 1, None, now, "test", now)


def _window(requests: int, errors: int = 0, latency: float = 5.0) -> Window:
    return Window(requests, errors, [latency] * (requests - errors))


def test_a_window_is_judged_only_when_it_is_full() -> None:
    assert judge(_deployment(), _window(19)).action == "hold"
    assert judge(_deployment(), _window(20)).action == "advance"
    assert judge(_deployment(step=1), _window(20)).action == "advance"
    last = judge(_deployment(step=2), _window(20))
    assert last.action == "promote" and "held over 20 requests at 100%" in last.reason


def test_errors_beyond_the_bound_roll_back_before_the_window_is_full() -> None:
    # under 10% of a 20-request window is at most 1 error: a second one is a breach whatever comes next
    lenient = _deployment(guardrails=("error_rate<0.1",))
    assert judge(lenient, _window(3, errors=1)).action == "hold"
    verdict = judge(lenient, _window(3, errors=2))
    assert verdict.action == "rollback" and "error_rate<0.1 breached: 2 of at most 20" in verdict.reason
    assert judge(_deployment(), _window(1, errors=1)).action == "rollback"  # < 5% of 20 allows no error


def test_a_slow_challenger_is_rolled_back_when_its_window_closes() -> None:
    window = _window(20, latency=5.0)
    window.latencies_ms[-1] = 80.0  # the p99 of 20 requests is the slowest one
    verdict = judge(_deployment(), window)
    assert verdict.action == "rollback" and "p99_latency_ms<50 breached: p99_latency_ms = 80" in verdict.reason
    assert verdict.figures["p99_latency_ms"] == 80.0 and verdict.figures["requests"] == 20


@pytest.mark.parametrize("strategy", [Strategy.SHADOW, Strategy.AB])
def test_shadow_and_ab_start_a_new_window_instead_of_advancing(strategy: Strategy) -> None:
    assert judge(_deployment(strategy), _window(20)).action == "next_window"
    assert judge(_deployment(strategy), _window(20, errors=5)).action == "rollback"


def test_window_figures() -> None:
    window = Window(4, 1, [1.0, 2.0, 3.0])
    assert window.value("error_rate") == 0.25
    assert window.value("p50_latency_ms") == 2.0 and window.value("p99_latency_ms") == 3.0
    assert window.value("mean_latency_ms") == 2.0
    assert Window().value("p99_latency_ms") == 0.0 and Window().value("error_rate") == 0.0


# -- the store -----------------------------------------------------------------------------------


def test_a_deployment_pins_the_champion_to_production(ws: Workspace) -> None:
    registry = _versions(ws, True, True, True)
    store = DeploymentStore(ws)
    d = store.create("income", 3, "canary", actor="cli:test", guardrails=["error_rate<0.01"], min_requests=50)

    # the champion is what answers among the other versions (the newest other candidate, v2); it now
    # holds production, so that v3 (the newest candidate) does not answer outside the rollout
    assert (d.champion, d.challenger, d.traffic, d.steps, d.state) == (2, 3, 10, (10, 50, 100),
                                                                        DeploymentState.ACTIVE)
    assert registry.get("income", 2).alias is Alias.PRODUCTION
    assert registry.get("income", 3).alias is Alias.CANDIDATE
    assert [e.kind for e in store.events(d.id)] == ["created"]
    assert AuditLog(ws).entries()[0].action == "deployment.create"
    assert store.active("income") == [d] and store.recent() == [d]


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), [
    (("income", 9, "canary"), {}, RegistryError, "has no version 9"),
    (("nope", 1, "canary"), {}, RegistryError, "no model named 'nope'"),
    (("income", 3, "canary"), {}, DeploymentError, "failed its KPI gate"),
    (("income", 2, "blue-green"), {}, DeploymentError, "unknown deployment strategy"),
    (("income", 2, "canary"), {"steps": [50, 10, 100]}, DeploymentError, "increasing percents"),
    (("income", 2, "canary"), {"steps": [10, 50]}, DeploymentError, "end at 100"),
    (("income", 2, "shadow"), {"steps": [10, 100]}, DeploymentError, "steps are for canary"),
    (("income", 2, "canary"), {"split": 30}, DeploymentError, "split is for A/B"),
    (("income", 2, "ab"), {"split": 100}, DeploymentError, "from 1 to 99"),
    (("income", 2, "ab"), {"metric": "revenue"}, DeploymentError, "unknown A/B metric"),
    (("income", 2, "canary"), {"guardrails": ["latency<5"]}, DeploymentError, "unknown guardrail metric"),
    (("income", 2, "canary"), {"min_requests": 0}, DeploymentError, "at least 1"),
])
def test_a_bad_deployment_is_refused_and_changes_nothing(ws: Workspace, args: tuple[str, int, str],
                                                         kwargs: dict[str, object], error: type[Exception],
                                                         message: str) -> None:
    registry = _versions(ws, True, True, False)
    before = [v.to_json() for v in registry.versions()]
    with pytest.raises(error, match=message):
        DeploymentStore(ws).create(*args, actor="test", **kwargs)  # type: ignore[arg-type]
    assert [v.to_json() for v in registry.versions()] == before
    assert DeploymentStore(ws).recent() == []


def test_one_active_deployment_per_model_and_something_to_roll_out_against(ws: Workspace) -> None:
    _versions(ws, True)
    with pytest.raises(DeploymentError, match="no other version answering") as caught:
        DeploymentStore(ws).create("income", 1, "canary", actor="test")
    assert "aiforge promote income 1 --to production" in str(caught.value.hint)
    _versions(ws, True, True, True)  # the same first artifact again (still v1), then v2 and v3
    store = DeploymentStore(ws)
    store.create("income", 2, "shadow", actor="test")
    with pytest.raises(DeploymentError, match="already has an active shadow deployment of v2"):
        store.create("income", 3, "canary", actor="test")


def test_verdicts_move_the_canary_and_a_stale_revision_changes_nothing(ws: Workspace) -> None:
    registry = _versions(ws, True, True)
    store = DeploymentStore(ws)
    d = store.create("income", 2, "canary", actor="test", steps=[25, 100])
    advanced = store.apply(d, Verdict("advance", "held", {"requests": 100}), actor="server")
    assert advanced is not None and (advanced.step, advanced.traffic, advanced.revision) == (1, 100, 2)
    assert store.apply(d, Verdict("rollback", "late", {}), actor="server-2") is None  # d is revision 1: stale
    assert store.get(d.id).state is DeploymentState.ACTIVE

    done = store.apply(advanced, Verdict("promote", "held at 100%", {}), actor="server")
    assert done is not None and done.state is DeploymentState.PROMOTED and done.reason == "held at 100%"
    assert registry.get("income", 2).alias is Alias.PRODUCTION
    assert registry.get("income", 1).alias is Alias.ARCHIVED
    assert [e.kind for e in store.events(d.id)] == ["created", "advanced", "promoted"]
    assert store.events(d.id)[1].details == {"reason": "held", "window": {"requests": 100}}
    assert store.active() == []


def test_a_rollback_archives_the_challenger_so_no_newer_candidate_sneaks_in(ws: Workspace) -> None:
    registry = _versions(ws, True, True)
    store = DeploymentStore(ws)
    store.create("income", 2, "canary", actor="test")
    with pytest.raises(PromotionRefused, match="being rolled out"):
        registry.promote("income", 2, Alias.PRODUCTION)
    done = store.rollback("income", actor="cli:test", reason="p99 too high")
    assert done.state is DeploymentState.ROLLED_BACK and done.traffic == 0 and done.reason == "p99 too high"
    assert registry.get("income", 2).alias is Alias.ARCHIVED
    assert registry.get("income", 1).alias is Alias.PRODUCTION
    assert [e.action for e in AuditLog(ws).entries()[:2]] == ["deployment.rolled_back", "deployment.create"]
    with pytest.raises(DeploymentError, match="has no active deployment"):
        store.rollback("income", actor="test")
    registry.promote("income", 2, Alias.STAGING)  # ended: aliases are the operator's again


def test_an_operator_may_promote_a_shadow_early(ws: Workspace) -> None:
    registry = _versions(ws, True, True)
    store = DeploymentStore(ws)
    d = store.create("income", 2, "ab", actor="test", split=20, metric="accuracy")
    assert d.traffic == 20 and d.options == {"split": 20, "metric": "accuracy", "alpha": 0.05}
    done = store.promote("income", actor="cli:test")
    assert done.state is DeploymentState.PROMOTED and registry.get("income", 2).alias is Alias.PRODUCTION
