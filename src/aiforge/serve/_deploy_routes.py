"""Deployment routes for operators: start a rollout, read it, promote it early or roll it back.

The same calls as `aiforge deploy`, `aiforge deployments` and `aiforge rollback`, over
``registry.DeploymentStore``; each change is audited with the key that asked, and this server applies
it at once (other servers within their refresh period).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from aiforge.registry import Deployment, DeploymentStore, OutcomeStore
from aiforge.serve._auth import Authenticator, actor
from aiforge.serve._experiment import deployment_report
from aiforge.serve._rollout import Rollouts
from aiforge.serve._v1 import ErrorBody
from aiforge.workspace import ApiKey, Role

__all__ = ["deployment_router"]

REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The deployment cannot be made or changed as asked (e.g. none is "
          "active, one already is, a guardrail or step list is malformed)."},
}
UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such model or version."}}


class NewDeployment(BaseModel):
    """A rollout of ``version`` of ``name`` against the version that answers now."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, examples=["income"])
    version: int = Field(ge=1)
    strategy: str = Field("canary", pattern="^(canary|shadow|ab)$")
    steps: list[int] | None = Field(None, max_length=20, description="Canary: percents ending at 100.",
                                    examples=[[10, 50, 100]])
    guardrails: list[str] = Field(default_factory=list, max_length=10, examples=[["error_rate<0.01"]])
    min_requests: int = Field(100, ge=1, le=10_000_000)
    split: int | None = Field(None, ge=1, le=99, description="A/B: the challenger's percent of request keys.")
    metric: str = Field("outcome", pattern="^(outcome|accuracy)$")
    alpha: float = Field(0.05, gt=0, lt=1)


class Ending(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)


class DeploymentInfo(BaseModel):
    id: str
    name: str
    strategy: str
    champion: int
    challenger: int
    state: str
    traffic: int = Field(description="The challenger's percent of requests now (shadow: 0, it sees copies).")
    steps: list[int]
    step: int
    guardrails: list[str]
    min_requests: int
    options: dict[str, Any]
    revision: int
    reason: str | None
    created_at: str
    created_by: str
    updated_at: str


class DeploymentDetail(DeploymentInfo):
    events: list[dict[str, Any]]
    report: dict[str, Any] = Field(description="Per arm: predictions logged and latency; shadow agreement; "
                                   "the A/B test on the outcomes fed back.")
    live: dict[str, Any] | None = Field(description="This server's latest judged window of the challenger.")


def deployment_router(auth: Authenticator, store: DeploymentStore, rollouts: Rollouts) -> APIRouter:
    router = APIRouter(prefix="/v1/admin/deployments", tags=["deployments"])
    # no `from __future__ import annotations` here: these annotations name local dependencies
    operator = Annotated[ApiKey, Depends(auth.requires(Role.OPERATOR))]
    outcomes = OutcomeStore(store.workspace)

    def changed(deployment: Deployment, status: int = 200) -> JSONResponse:
        rollouts.cache.forget_serving()
        rollouts.refresh()
        return JSONResponse(deployment.to_json(), status_code=status)

    @router.get("", response_model=list[DeploymentInfo])
    async def list_deployments(
        key: operator, ended: Annotated[bool, Query(alias="all", description="Also the ended ones.")] = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> JSONResponse:
        """The active deployments (with `all`, the newest ones of any state). Needs `operator`."""
        found = await run_in_threadpool(lambda: store.recent(limit=limit) if ended else store.active())
        return JSONResponse([d.to_json() for d in found])

    @router.post("", response_model=DeploymentInfo, status_code=201, responses={**UNKNOWN, **REFUSED})
    async def create(body: NewDeployment, key: operator) -> JSONResponse:
        """Start rolling a version out against the one that answers now. Needs `operator`."""
        made = await run_in_threadpool(lambda: store.create(
            body.name, body.version, body.strategy, actor=actor(key), steps=body.steps, guardrails=body.guardrails,
            min_requests=body.min_requests, split=body.split, metric=body.metric, alpha=body.alpha))
        return await run_in_threadpool(changed, made, 201)

    @router.get("/{name}", response_model=DeploymentDetail, responses={409: {"description": "Never deployed."}})
    async def show(name: str, key: operator) -> JSONResponse:
        """The latest deployment of NAME with its events and what it has shown. Needs `operator`."""

        def detail() -> dict[str, Any]:
            found = store.recent(name, limit=1)
            if not found:
                from aiforge.registry import DeploymentError

                raise DeploymentError(f"{name} has never been deployed")
            d = found[0]
            report = deployment_report(d, store.workspace.root / "predictions", outcomes)
            return {**d.to_json(), "events": [e.to_json() for e in store.events(d.id)], "report": report,
                    "live": rollouts.last_verdicts.get(d.id)}

        return JSONResponse(await run_in_threadpool(detail))

    @router.post("/{name}/rollback", response_model=DeploymentInfo, responses=REFUSED)
    async def rollback(name: str, key: operator, body: Ending | None = None) -> JSONResponse:
        """Roll back NAME's active deployment: the champion answers alone. Needs `operator`."""
        reason = (body.reason if body else None) or "rolled back by an operator"
        done = await run_in_threadpool(lambda: store.rollback(name, actor=actor(key), reason=reason))
        return await run_in_threadpool(changed, done)

    @router.post("/{name}/promote", response_model=DeploymentInfo, responses=REFUSED)
    async def promote(name: str, key: operator, body: Ending | None = None) -> JSONResponse:
        """End NAME's active deployment now: the challenger becomes production. Needs `operator`."""
        reason = (body.reason if body else None) or "promoted by an operator"
        done = await run_in_threadpool(lambda: store.promote(name, actor=actor(key), reason=reason))
        return await run_in_threadpool(changed, done)

    return router
