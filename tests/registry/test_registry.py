"""The model registry: version numbers, gate verdicts, aliases, loading, concurrent registration."""

from __future__ import annotations

import io
import multiprocessing
from pathlib import Path
from typing import Any

import joblib
import pytest

from aiforge.errors import ArtifactError, RegistryError
from aiforge.registry import Alias, ModelRegistry, ModelVersion, PromotionRefused, VersionStatus
from aiforge.workspace import Workspace, WorkspaceSettings

FAILED_KPI = "roc_auc = 0.7100 is 0.0900 below the minimum 0.8: try more or stronger learners"
PASSED_GATE = {"passed": True, "results": [{"kpi": "roc_auc", "passed": True, "message": "roc_auc = 0.91 ok"}]}
FAILED_GATE = {"passed": False, "results": [
    {"kpi": "roc_auc", "passed": False, "message": FAILED_KPI},
    {"kpi": "accuracy", "passed": True, "message": "accuracy = 0.85 ok"},
]}


@pytest.fixture
def workspace(tmp_path: Path) -> Any:
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / ".aiforge"))
    yield ws
    ws.close()


@pytest.fixture
def registry(workspace: Workspace) -> ModelRegistry:
    return ModelRegistry(workspace)


def _same(a: ModelVersion | None, b: ModelVersion | None) -> bool:
    assert a is not None and b is not None
    return a.to_json() == b.to_json()


def _register(registry: ModelRegistry, content: bytes, *, accepted: bool = True, name: str = "income",
              run_id: str = "run-1") -> ModelVersion:
    artifact = registry.workspace.artifacts.put_bytes(content)
    return registry.register(
        name=name, run_id=run_id, artifact=artifact, learner="linear", metrics={"roc_auc": 0.91},
        gate=PASSED_GATE if accepted else FAILED_GATE, lineage={"snapshot": "f" * 64}, accepted=accepted,
    )


def test_an_accepted_model_becomes_version_1_candidate(registry: ModelRegistry) -> None:
    v = _register(registry, b"model one")

    assert (v.name, v.version, v.status, v.alias) == ("income", 1, VersionStatus.ACCEPTED, Alias.CANDIDATE)
    assert v.metrics == {"roc_auc": 0.91}
    assert v.gate == PASSED_GATE
    assert v.lineage == {"snapshot": "f" * 64}
    assert v.run_id == "run-1" and v.learner == "linear"
    assert _same(registry.get("income", 1), v)
    assert _same(registry.by_alias("income", Alias.CANDIDATE), v)


def test_created_at_reads_back_as_the_same_utc_time(registry: ModelRegistry) -> None:
    v = _register(registry, b"model one")

    assert v.created_at.tzinfo is not None
    assert registry.get("income", 1).created_at == v.created_at


def test_a_rejected_model_is_kept_without_an_alias(registry: ModelRegistry) -> None:
    v = _register(registry, b"weak model", accepted=False)

    assert (v.version, v.status, v.alias) == (1, VersionStatus.REJECTED, None)
    assert registry.get("income", 1).alias is None
    assert registry.by_alias("income", Alias.CANDIDATE) is None


def test_version_numbers_increase_per_model_name(registry: ModelRegistry) -> None:
    versions = [_register(registry, f"model {i}".encode(), accepted=i != 1).version for i in range(3)]
    other = _register(registry, b"model 0", name="churn")

    assert versions == [1, 2, 3]
    assert other.version == 1
    assert [v.version for v in registry.versions("income")] == [1, 2, 3]
    assert [(v.name, v.version) for v in registry.versions()] == [
        ("churn", 1), ("income", 1), ("income", 2), ("income", 3)
    ]


def test_registering_the_same_artifact_and_verdict_again_returns_the_same_version(
    registry: ModelRegistry,
) -> None:
    first = _register(registry, b"model")
    again = _register(registry, b"model", run_id="run-2")

    assert _same(again, first)
    assert len(registry.versions("income")) == 1


def test_the_same_artifact_with_another_verdict_is_a_new_version(registry: ModelRegistry) -> None:
    accepted = _register(registry, b"model")
    rejected = _register(registry, b"model", accepted=False)

    assert (accepted.version, rejected.version) == (1, 2)
    assert rejected.artifact == accepted.artifact


def test_register_refuses_an_artifact_that_is_not_in_the_store(registry: ModelRegistry) -> None:
    with pytest.raises(ArtifactError, match="missing from the store"):
        registry.register(name="income", run_id="r", artifact="0" * 64, learner="linear", metrics={},
                          gate=PASSED_GATE, lineage={}, accepted=True)
    assert registry.versions() == []


def test_register_refuses_a_corrupt_artifact(registry: ModelRegistry) -> None:
    artifact = registry.workspace.artifacts.put_bytes(b"original")
    registry.workspace.artifacts.path(artifact).write_bytes(b"tampered")

    with pytest.raises(ArtifactError, match="corrupt"):
        registry.register(name="income", run_id="r", artifact=artifact, learner="linear", metrics={},
                          gate=PASSED_GATE, lineage={}, accepted=True)
    assert registry.versions() == []


@pytest.mark.parametrize("alias", [Alias.PRODUCTION, Alias.STAGING])
def test_promoting_a_second_version_archives_the_first_holder(registry: ModelRegistry, alias: Alias) -> None:
    _register(registry, b"v1")
    _register(registry, b"v2")
    _register(registry, b"v3")

    promoted = registry.promote("income", 1, alias)
    assert promoted.alias is alias
    assert _same(registry.by_alias("income", alias), promoted)

    registry.promote("income", 2, alias)

    assert registry.get("income", 1).alias is Alias.ARCHIVED
    assert registry.get("income", 2).alias is alias
    assert registry.get("income", 3).alias is Alias.CANDIDATE  # bystanders untouched
    assert registry.by_alias("income", alias).version == 2  # type: ignore[union-attr]


def test_staging_and_production_are_held_independently(registry: ModelRegistry) -> None:
    _register(registry, b"v1")
    _register(registry, b"v2")

    registry.promote("income", 1, Alias.PRODUCTION)
    registry.promote("income", 2, Alias.STAGING)

    assert registry.get("income", 1).alias is Alias.PRODUCTION
    assert registry.get("income", 2).alias is Alias.STAGING


def test_promoting_the_current_holder_again_keeps_it(registry: ModelRegistry) -> None:
    _register(registry, b"v1")
    registry.promote("income", 1, Alias.PRODUCTION)

    again = registry.promote("income", 1, Alias.PRODUCTION)

    assert again.alias is Alias.PRODUCTION
    assert _same(registry.by_alias("income", Alias.PRODUCTION), again)


def test_promotion_does_not_touch_other_models(registry: ModelRegistry) -> None:
    _register(registry, b"a", name="income")
    _register(registry, b"b", name="churn")
    registry.promote("churn", 1, Alias.PRODUCTION)

    registry.promote("income", 1, Alias.PRODUCTION)

    assert registry.get("churn", 1).alias is Alias.PRODUCTION


@pytest.mark.parametrize("alias", [Alias.PRODUCTION, Alias.STAGING, Alias.CANDIDATE])
def test_promoting_a_rejected_version_is_refused_with_the_failing_kpi(
    registry: ModelRegistry, alias: Alias
) -> None:
    _register(registry, b"weak", accepted=False)

    with pytest.raises(PromotionRefused, match=rf"income v1 failed its KPI gate and cannot become {alias.value}"
                       ) as info:
        registry.promote("income", 1, alias)

    assert info.value.exit_code == 1
    assert info.value.found == FAILED_KPI
    assert "accuracy" not in (info.value.found or "")
    assert registry.get("income", 1).alias is None


def test_a_rejected_version_may_be_archived(registry: ModelRegistry) -> None:
    _register(registry, b"weak", accepted=False)

    assert registry.promote("income", 1, Alias.ARCHIVED).alias is Alias.ARCHIVED


def test_an_unknown_version_lists_the_known_ones(registry: ModelRegistry) -> None:
    _register(registry, b"v1")
    _register(registry, b"v2")

    with pytest.raises(RegistryError, match="model 'income' has no version 7") as info:
        registry.get("income", 7)
    assert info.value.found == "versions 1, 2"
    with pytest.raises(RegistryError, match="has no version 7"):
        registry.promote("income", 7, Alias.PRODUCTION)


def test_an_unknown_model_name_says_so(registry: ModelRegistry) -> None:
    _register(registry, b"v1")

    with pytest.raises(RegistryError, match="model 'nope' has no version 1") as info:
        registry.get("nope", 1)
    assert info.value.found == "no model named 'nope'"
    assert info.value.http_status == 404


def test_by_alias_is_none_when_nobody_holds_it(registry: ModelRegistry) -> None:
    _register(registry, b"v1")

    assert registry.by_alias("income", Alias.PRODUCTION) is None
    assert registry.by_alias("nope", Alias.CANDIDATE) is None


def test_load_model_round_trips_a_joblib_object(registry: ModelRegistry) -> None:
    model = {"weights": [0.5, -1.25, 3.0], "classes": ["<=50K", ">50K"], "bias": 0.1}
    buf = io.BytesIO()
    joblib.dump(model, buf)
    artifact = registry.workspace.artifacts.put_bytes(buf.getvalue())
    version = registry.register(name="income", run_id="r", artifact=artifact, learner="linear",
                                metrics={}, gate=PASSED_GATE, lineage={}, accepted=True)

    assert registry.load_model(version) == model


def test_load_model_refuses_a_corrupt_artifact(registry: ModelRegistry) -> None:
    buf = io.BytesIO()
    joblib.dump([1, 2, 3], buf)
    artifact = registry.workspace.artifacts.put_bytes(buf.getvalue())
    version = registry.register(name="income", run_id="r", artifact=artifact, learner="linear",
                                metrics={}, gate=PASSED_GATE, lineage={}, accepted=True)
    registry.workspace.artifacts.path(artifact).write_bytes(buf.getvalue()[:-1] + b"\x00")

    with pytest.raises(ArtifactError, match="corrupt"):
        registry.load_model(version)


def test_to_json_is_plain_data(registry: ModelRegistry) -> None:
    out = _register(registry, b"v1").to_json()

    assert out["status"] == "accepted" and out["alias"] == "candidate" and out["version"] == 1
    assert isinstance(out["created_at"], str)


def _register_many(root: str, worker: int, count: int, barrier: Any) -> None:
    """Runs in a spawned process: register ``count`` different artifacts into the shared workspace."""
    ws = Workspace.open(WorkspaceSettings(root=Path(root)), create=False)
    registry = ModelRegistry(ws)
    artifacts = [ws.artifacts.put_bytes(f"worker {worker} model {i}".encode()) for i in range(count)]
    barrier.wait()
    for i, artifact in enumerate(artifacts):
        registry.register(name="income", run_id=f"run-{worker}-{i}", artifact=artifact, learner="linear",
                          metrics={}, gate=PASSED_GATE, lineage={"worker": worker}, accepted=True)
    ws.close()


def test_concurrent_processes_get_distinct_consecutive_versions(tmp_path: Path) -> None:
    root = tmp_path / ".aiforge"
    Workspace.open(WorkspaceSettings(root=root)).close()  # migrate once, before the race
    ctx = multiprocessing.get_context("spawn")
    workers, per_worker = 4, 5
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=_register_many, args=(str(root), w, per_worker, barrier)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * workers

    ws = Workspace.open(WorkspaceSettings(root=root), create=False)
    try:
        versions = ModelRegistry(ws).versions("income")
    finally:
        ws.close()
    assert sorted(v.version for v in versions) == list(range(1, workers * per_worker + 1))
    assert len({v.artifact for v in versions}) == workers * per_worker
    assert len({v.run_id for v in versions}) == workers * per_worker


def test_versions_are_read_a_page_at_a_time_with_counts_and_alias_holders(registry: ModelRegistry) -> None:
    for i in range(5):
        _register(registry, f"income {i}".encode())
    for i in range(2):
        _register(registry, f"churn {i}".encode(), name="churn")
    registry.promote("income", 2, Alias.PRODUCTION)
    registry.promote("income", 4, Alias.STAGING)

    newest = [(v.name, v.version) for v in registry.page(limit=3)]
    assert newest == [("churn", 2), ("churn", 1), ("income", 5)]
    assert [v.version for v in registry.page(offset=1, limit=2, name="income")] == [4, 3]
    assert registry.page(offset=7) == []
    assert (registry.count(), registry.count("income"), registry.count("nope")) == (7, 5, 0)
    assert registry.names() == ["churn", "income"]
    assert registry.holders() == {"income": {Alias.PRODUCTION: 2, Alias.STAGING: 4}}
