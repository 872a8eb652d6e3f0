"""The model registry: numbered versions with lineage, gate verdicts and aliases.

A version is inserted only after its model artifact is durable in the artifact store, in one
transaction, so a crash never leaves a half-registered model. A version rejected by its KPI
gate is kept for the record but can never take a serving alias.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from aiforge.errors import AiforgeError, RegistryError
from aiforge.workspace import DeploymentRow, ModelVersionRow, Workspace, serialize

__all__ = ["Alias", "ModelRegistry", "ModelVersion", "PromotionRefused", "VersionStatus", "served_version"]


class Alias(StrEnum):
    """Where a version stands. ``staging`` and ``production`` are held by one version at a time."""

    CANDIDATE = "candidate"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class VersionStatus(StrEnum):
    ACCEPTED = "accepted"  # passed every KPI gate
    REJECTED = "rejected"  # failed a KPI gate: never served


_EXCLUSIVE = (Alias.STAGING, Alias.PRODUCTION)


class PromotionRefused(AiforgeError):
    """The version may not take that alias (e.g. it failed its KPI gate)."""

    code = "promotion"
    exit_code = 1
    http_status = 409


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    status: VersionStatus
    alias: Alias | None
    run_id: str
    artifact: str
    learner: str
    metrics: dict[str, float]
    gate: dict[str, Any]
    lineage: dict[str, Any]
    created_at: datetime
    documents: dict[str, str] = field(default_factory=dict)  # e.g. card_md, card_html -> artifact digest

    @classmethod
    def from_row(cls, row: ModelVersionRow) -> ModelVersion:
        return cls(
            name=row.name, version=row.version, status=VersionStatus(row.status),
            alias=Alias(row.alias) if row.alias else None, run_id=row.run_id, artifact=row.artifact,
            learner=row.learner, metrics=row.metrics, gate=row.gate, lineage=row.lineage,
            created_at=row.created_at, documents=dict(row.documents or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "status": self.status.value,
            "alias": self.alias.value if self.alias else None, "run_id": self.run_id,
            "artifact": self.artifact, "learner": self.learner, "metrics": self.metrics,
            "gate": self.gate, "lineage": self.lineage, "created_at": self.created_at.isoformat(),
            "documents": self.documents,
        }

    def _repr_html_(self) -> str:
        """The version as Jupyter shows it: status, metrics, KPI gate, lineage."""
        from aiforge.evaluate import html
        from aiforge.registry._html import version_html

        return html.fragment(version_html(self))


_SERVING_ORDER = (Alias.PRODUCTION, Alias.STAGING)


def served_version(versions: list[ModelVersion]) -> ModelVersion | None:
    """The version that answers for a model when no deployment is active, among all its ``versions``
    (``None``: none may answer): the ``production`` holder, else ``staging``, else the newest accepted
    ``candidate``. Archived and rejected versions never answer."""
    accepted = [v for v in versions if v.status is VersionStatus.ACCEPTED]
    for alias in _SERVING_ORDER:
        holders = [v for v in accepted if v.alias is alias]
        if holders:
            return max(holders, key=lambda v: v.version)
    candidates = [v for v in accepted if v.alias is Alias.CANDIDATE]
    return max(candidates, key=lambda v: v.version) if candidates else None


class ModelRegistry:
    """Model versions stored in a workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def register(
        self, *, name: str, run_id: str, artifact: str, learner: str, metrics: dict[str, float],
        gate: dict[str, Any], lineage: dict[str, Any], accepted: bool,
        documents: Callable[[int], dict[str, str]] | None = None,
    ) -> ModelVersion:
        """Add a version (``candidate`` if accepted, no alias if rejected).

        ``documents`` gets the version number about to be assigned and returns the artifact digests of
        the documents written for it (the model card); they are durable before the version exists.
        Registering the same artifact with the same verdict (and the same decision layer, ``lineage["decision"]``)
        again returns the existing version.
        """
        self.workspace.artifacts.verify(artifact)
        status = VersionStatus.ACCEPTED if accepted else VersionStatus.REJECTED
        for attempt in range(20):
            try:
                with self.workspace.session() as s:
                    serialize(s, "model_versions", name)  # the same artifact twice, or the same number: never
                    existing = s.scalars(
                        select(ModelVersionRow).where(
                            ModelVersionRow.name == name, ModelVersionRow.artifact == artifact,
                            ModelVersionRow.status == status.value,
                        )
                    ).first()
                    if existing is not None and (existing.lineage or {}).get("decision") == lineage.get("decision"):
                        return ModelVersion.from_row(existing)  # (a new decision layer is a new version)
                    latest = s.scalar(select(func.max(ModelVersionRow.version)).where(ModelVersionRow.name == name))
                    number = (latest or 0) + 1
                    docs = documents(number) if documents is not None else {}
                    for digest in docs.values():
                        self.workspace.artifacts.verify(digest)
                    row = ModelVersionRow(
                        name=name, version=number, status=status.value, documents=docs,
                        alias=Alias.CANDIDATE.value if accepted else None, run_id=run_id,
                        artifact=artifact, learner=learner, metrics=metrics, gate=gate,
                        lineage=lineage, created_at=datetime.now(UTC),
                    )
                    s.add(row)
                    s.flush()
                    return ModelVersion.from_row(row)
            except IntegrityError:  # another process took this version number: read again and retry
                time.sleep(0.01 * (attempt + 1))
        raise RegistryError(f"could not allocate a version number for model '{name}'",
                            hint="too many concurrent registrations; retry")

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        with self.workspace.session() as s:
            query = select(ModelVersionRow).order_by(ModelVersionRow.name, ModelVersionRow.version)
            if name is not None:
                query = query.where(ModelVersionRow.name == name)
            return [ModelVersion.from_row(r) for r in s.scalars(query)]

    def page(self, *, offset: int = 0, limit: int = 50, name: str | None = None) -> list[ModelVersion]:
        """Versions newest first (of ``name``, when given), ``limit`` of them after skipping ``offset``:
        one page of a long registry without reading the rest."""
        with self.workspace.session() as s:
            query = select(ModelVersionRow).order_by(ModelVersionRow.created_at.desc(), ModelVersionRow.name,
                                                     ModelVersionRow.version.desc()).limit(limit).offset(offset)
            if name is not None:
                query = query.where(ModelVersionRow.name == name)
            return [ModelVersion.from_row(r) for r in s.scalars(query)]

    def count(self, name: str | None = None) -> int:
        """How many versions are registered (of ``name``, when given)."""
        with self.workspace.session() as s:
            query = select(func.count()).select_from(ModelVersionRow)
            if name is not None:
                query = query.where(ModelVersionRow.name == name)
            return int(s.scalar(query) or 0)

    def holders(self) -> dict[str, dict[Alias, int]]:
        """Per model name, the versions holding ``staging`` and ``production`` (one query for every model)."""
        found: dict[str, dict[Alias, int]] = {}
        with self.workspace.session() as s:
            query = select(ModelVersionRow.name, ModelVersionRow.alias, ModelVersionRow.version).where(
                ModelVersionRow.alias.in_([a.value for a in _EXCLUSIVE])).order_by(ModelVersionRow.version)
            for name, alias, version in s.execute(query):
                if alias is not None:
                    found.setdefault(name, {})[Alias(alias)] = version
        return found

    def names(self) -> list[str]:
        """The registered model names, sorted."""
        with self.workspace.session() as s:
            return sorted(s.scalars(select(ModelVersionRow.name).distinct()).all())

    def get(self, name: str, version: int) -> ModelVersion:
        with self.workspace.session() as s:
            return ModelVersion.from_row(self._row(s, name, version))

    def latest(self, name: str) -> ModelVersion:
        """The newest version of ``name``."""
        with self.workspace.session() as s:
            row = s.scalars(select(ModelVersionRow).where(ModelVersionRow.name == name)
                            .order_by(ModelVersionRow.version.desc())).first()
            if row is None:
                known = sorted(set(s.scalars(select(ModelVersionRow.name)).all()))
                raise RegistryError(f"no model named '{name}'",
                                    found=", ".join(known) if known else "no registered models",
                                    hint="list models with 'aiforge models'")
            return ModelVersion.from_row(row)

    def by_alias(self, name: str, alias: Alias) -> ModelVersion | None:
        with self.workspace.session() as s:
            row = s.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.name == name, ModelVersionRow.alias == alias.value)
                .order_by(ModelVersionRow.version.desc())
            ).first()
            return ModelVersion.from_row(row) if row else None

    def promote(self, name: str, version: int, to: Alias) -> ModelVersion:
        """Give ``version`` the alias ``to``; the previous staging/production holder is archived."""
        with self.workspace.session() as s:
            serialize(s, "model_versions", name)  # two promotions at once leave one holder, not two
            row = self._row(s, name, version)
            rollout = s.scalars(select(DeploymentRow).where(DeploymentRow.name == name,
                                                            DeploymentRow.state == "active")).first()
            if rollout is not None:
                raise PromotionRefused(
                    f"{name} is being rolled out ({rollout.strategy} of v{rollout.challenger} against "
                    f"v{rollout.champion}): its aliases follow the deployment", found=f"deployment {rollout.id}",
                    hint=f"end it first: 'aiforge deployments promote {name}' or 'aiforge rollback {name}'")
            if row.status == VersionStatus.REJECTED.value and to is not Alias.ARCHIVED:
                failed = [r["message"] for r in row.gate.get("results", []) if not r["passed"]]
                raise PromotionRefused(
                    f"{name} v{version} failed its KPI gate and cannot become {to.value}",
                    found="; ".join(failed) or "rejected",
                    hint="fix the failing KPI and run again; the new version can then be promoted",
                )
            if to in _EXCLUSIVE:
                for holder in s.scalars(
                    select(ModelVersionRow).where(
                        ModelVersionRow.name == name, ModelVersionRow.alias == to.value,
                        ModelVersionRow.version != version,
                    )
                ):
                    holder.alias = Alias.ARCHIVED.value
            row.alias = to.value
            s.flush()
            return ModelVersion.from_row(row)

    def load_model(self, version: ModelVersion) -> Any:
        """The fitted model object, after verifying the artifact's hash."""
        import joblib

        return joblib.load(io.BytesIO(self.workspace.artifacts.get_bytes(version.artifact)))

    def load_predictor(self, version: ModelVersion) -> Any:
        """The model as it serves: the prediction path its registration chose on evidence
        (``lineage.inference``, ``learn.plan_inference``): ONNX Runtime over the registered ONNX model, or
        the native fast path (LightGBM's booster, the estimator on the encoded matrix, or the model itself).
        A ``learn.CompiledModel``: ``predict``, ``predict_proba`` and ``raw_output`` take a DataFrame as the
        model's do. Where ONNX Runtime is not installed the native fast path serves and ``note`` says so."""
        from aiforge.learn import ONNX_PATH, compile_model

        model = self.load_model(version)
        inference = version.lineage.get("inference") or {}
        if inference.get("path") != ONNX_PATH or "onnx" not in version.documents:
            return compile_model(model)
        return compile_model(model, onnx=self.document(version, "onnx"))

    def document(self, version: ModelVersion, kind: str) -> bytes:
        """A document registered with the version (``card_md``, ``card_html``), hash verified."""
        digest = version.documents.get(kind)
        if digest is None:
            raise RegistryError(
                f"{version.name} v{version.version} has no document '{kind}'",
                found=", ".join(sorted(version.documents)) or "no documents (registered before model cards existed)",
                hint="run the project again to register a version with its model card",
            )
        return self.workspace.artifacts.get_bytes(digest)

    def _row(self, s: Any, name: str, version: int) -> ModelVersionRow:
        row = s.scalars(
            select(ModelVersionRow).where(ModelVersionRow.name == name, ModelVersionRow.version == version)
        ).first()
        if row is None:
            known = s.scalars(select(ModelVersionRow.version).where(ModelVersionRow.name == name)).all()
            raise RegistryError(
                f"model '{name}' has no version {version}",
                found=f"versions {', '.join(map(str, known))}" if known else f"no model named '{name}'",
                hint="list versions with 'aiforge models'",
            )
        return row
