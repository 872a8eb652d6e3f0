"""Operator and admin routes: refresh the served versions, manage API keys, read the audit log.

Thin faces over :mod:`aiforge.workspace` (the same calls as `aiforge keys` and `aiforge audit`);
every action is appended to the audit log with the key that asked for it.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from aiforge.errors import AiforgeError
from aiforge.serve._auth import Authenticator, actor
from aiforge.serve._models import ModelCache
from aiforge.serve._schema import FieldError, invalid
from aiforge.workspace import ApiKey, ApiKeyError, Role

__all__ = ["admin_router"]


class NewKey(BaseModel):
    """A key to create; its secret is in the response, and never again."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, examples=["ci-bot"])
    role: Role = Role.PREDICT
    expires_days: int | None = Field(default=None, ge=1, le=36_500)


class KeyInfo(BaseModel):
    id: str
    name: str
    role: Role
    state: str = Field(description="active, revoked or expired")
    created_at: str
    created_by: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class CreatedKeyInfo(KeyInfo):
    secret: str = Field(description="The key to send as `Authorization: Bearer ...`; shown only now.")


class AuditInfo(BaseModel):
    at: str
    actor: str
    action: str
    target: str
    outcome: str
    details: dict[str, Any]


UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or one that is malformed, unknown, revoked or expired."},
    403: {"description": "The key's role is too low for this route."},
    429: {"description": "The key's rate limit is exceeded (see `Retry-After`)."},
}


def admin_router(auth: Authenticator, cache: ModelCache) -> APIRouter:
    router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=UNAUTHORIZED)
    # no `from __future__ import annotations` here: these annotations name local dependencies
    operator = Annotated[ApiKey, Depends(auth.requires(Role.OPERATOR))]
    admin = Annotated[ApiKey, Depends(auth.requires(Role.ADMIN))]

    @router.post("/reload")
    async def reload(key: operator) -> dict[str, Any]:
        """Re-resolve now which version answers for each model (instead of within `--refresh-seconds`).
        Needs the `operator` role."""
        serving = await run_in_threadpool(_reload, cache)
        await run_in_threadpool(auth.audit.append, actor(key), "server.reload", "models", "ok",
                                {"serving": serving})
        return {"serving": serving}

    @router.get("/keys", response_model=list[KeyInfo])
    async def list_keys(key: admin) -> JSONResponse:
        """Every API key (never its secret). Needs the `admin` role."""
        keys = await run_in_threadpool(auth.keys.list)
        return JSONResponse([k.to_json() for k in keys])

    @router.post("/keys", response_model=CreatedKeyInfo, status_code=201)
    async def create_key(body: NewKey, key: admin) -> JSONResponse:
        """Create a key; the response holds its secret, which is shown only this once. Needs `admin`."""
        expires = datetime.now(UTC) + timedelta(days=body.expires_days) if body.expires_days else None
        try:
            created = await run_in_threadpool(lambda: auth.keys.create(body.name, body.role, actor=actor(key),
                                                                       expires_at=expires))
        except ApiKeyError as exc:  # a name the store refuses (blank, unprintable) is a bad field: 422
            raise invalid([FieldError(None, "name", exc.message)], "body") from exc
        return JSONResponse({**created.key.to_json(), "secret": created.secret}, status_code=201)

    @router.delete("/keys/{ident}", response_model=KeyInfo, responses={404: {"description": "No such key."}})
    async def revoke_key(ident: str, key: admin) -> JSONResponse:
        """Revoke a key: refused by this server at once, by other processes within their key cache
        period. Needs the `admin` role."""
        revoked = await run_in_threadpool(lambda: auth.keys.revoke(ident, actor=actor(key)))
        auth.forget(ident)
        return JSONResponse(revoked.to_json())

    @router.get("/audit", response_model=list[AuditInfo])
    async def audit(key: admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> JSONResponse:
        """The newest audit entries, newest first. Needs the `admin` role."""
        entries = await run_in_threadpool(auth.audit.entries, limit)
        return JSONResponse([e.to_json() for e in entries])

    return router


def _reload(cache: ModelCache) -> dict[str, int | None]:
    cache.forget_serving()
    serving: dict[str, int | None] = {}
    for name in cache.names():
        try:
            serving[name] = cache.serving(name).version.version
        except AiforgeError:
            serving[name] = None
    return serving
