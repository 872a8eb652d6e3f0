"""Who may call the server: API keys checked per request, roles, per-key rate limits, audited refusals.

A request presents its key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A verified key
is cached in memory for ``cache_seconds`` (so the hot path neither reads the database nor runs scrypt);
a revocation made elsewhere therefore takes effect within that period, one made through this server's
API at once. Refused keys are cached the same way, so a flood of bad keys costs one hash per period.
One key is verified by one request at a time: the requests that arrive meanwhile wait for its verdict
(else, when a busy key's period ends, every request in flight runs its own 16 MiB scrypt hash). Keys are
verified on one thread of their own: glibc keeps the memory a thread frees in that thread's arena, so
scrypt's 16 MiB on whichever pool thread came next grew the server by 16 MiB per arena (+150 MB in
five minutes of the soak test, all of it free heap) where one thread reuses one buffer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from aiforge.workspace import ApiKey, AuditLog, InvalidKey, KeyStore, Role, Workspace
from aiforge.workspace._keys import key_id

__all__ = ["AuthMode", "Authenticator", "TokenBucket", "actor", "resolve_auth"]

AuthMode = Literal["required", "off"]
log = logging.getLogger("aiforge.serve")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aiforge"'}
_CACHE_MAX = 10_000  # cached verdicts before the cache is cleared (bounds memory under a flood of bad keys)

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer afk_<id>_<secret>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: afk_<id>_<secret>`")


def resolve_auth(keys: KeyStore, asked: AuthMode | None) -> tuple[AuthMode, str]:
    """The mode to serve with, and why: as asked, else ``required`` when the workspace has a usable key."""
    if asked is not None:
        return asked, f"--auth {asked}"
    active = keys.active_count()
    if active:
        return "required", f"the workspace has {active} active API key(s)"
    return "off", "the workspace has no API keys"


def actor(key: ApiKey | None) -> str:
    """How a caller is named in the audit log."""
    return f"key:{key.id}" if key is not None else "anonymous"


@dataclass
class TokenBucket:
    """``rate`` requests per second, bursts of up to ``capacity``."""

    rate: float
    capacity: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0 when a request may go now (and take its token), else the seconds until one may."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Authenticator:
    """Checks the key of each request against the role a route needs (one per server process)."""

    def __init__(self, workspace: Workspace, *, mode: AuthMode, cache_seconds: float = 5.0,
                 rate_limit: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.keys = KeyStore(workspace)
        self.audit = AuditLog(workspace)
        self.mode = mode
        self.cache_seconds = cache_seconds
        self.rate_limit = rate_limit
        self.clock = clock
        self._verdicts: dict[bytes, tuple[float, ApiKey | InvalidKey]] = {}  # sha256(key) -> (until, verdict)
        self._verifying: dict[bytes, asyncio.Lock] = {}  # sha256(key) -> held while that key is verified
        self._verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiforge-keys")  # started on first use
        self._buckets: dict[str, TokenBucket] = {}
        self._denials: dict[str, float] = {}  # who was refused (key id / address) -> when last audited

    def requires(self, role: Role) -> Callable[..., Awaitable[ApiKey | None]]:
        """A FastAPI dependency: the caller's key when it may act as ``role``; 401, 403 or 429 otherwise.
        With ``--auth off`` the predict routes are open (the dependency gives None); operator and admin
        routes always need a key."""

        async def dependency(request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                             header: Annotated[str | None, Depends(_header)]) -> ApiKey | None:
            if self.mode == "off" and role is Role.PREDICT:
                return None
            presented = bearer.credentials if bearer is not None else header
            return await self.check(request, presented, role)

        return dependency

    async def check(self, request: Request, presented: str | None, role: Role) -> ApiKey:
        if not presented:
            await self._deny(request, None, role, 401, "no API key: send 'Authorization: Bearer <key>' or 'X-API-Key'")
        assert presented is not None
        verdict = await self._verdict(presented)
        if isinstance(verdict, InvalidKey):
            await self._deny(request, presented, role, 401, verdict.message)
        assert isinstance(verdict, ApiKey)
        if verdict.expires_at is not None and verdict.expired():
            await self._deny(request, presented, role, 401, "the API key has expired")
        if not verdict.role.allows(role):
            await self._deny(request, presented, role, 403,
                             f"this route needs the '{role.value}' role; the key has '{verdict.role.value}'")
        if self.rate_limit:
            wait = self._bucket(verdict.id).take(self.clock())
            if wait > 0:
                raise HTTPException(429, f"rate limit of {self.rate_limit:g} requests/s for this key exceeded",
                                    headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return verdict

    def verified(self, presented: str | None, role: Role) -> bool:
        """Whether a request with ``presented`` may act as ``role`` for sure without any I/O or refusal to
        render: auth is off for predict routes, or the key's verdict is cached, valid and allows the role,
        and no rate limit applies. False means: check it the documented way."""
        if self.mode == "off" and role is Role.PREDICT:
            return True
        if not presented or self.rate_limit:
            return False
        cached = self._verdicts.get(hashlib.sha256(presented.encode("utf-8", "replace")).digest())
        if cached is None or cached[0] <= self.clock() or not isinstance(cached[1], ApiKey):
            return False
        key = cached[1]
        return not (key.expires_at is not None and key.expired()) and key.role.allows(role)

    def forget(self, ident: str) -> None:
        """Drop cached verdicts of key ``ident`` (after it is revoked through this server)."""
        self._verdicts = {k: v for k, v in self._verdicts.items()
                          if not (isinstance(v[1], ApiKey) and v[1].id == ident)}

    async def _verdict(self, presented: str) -> ApiKey | InvalidKey:
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        cached = self._verdicts.get(digest)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        lock = self._verifying.setdefault(digest, asyncio.Lock())
        try:
            async with lock:
                cached = self._verdicts.get(digest)  # verified while this request waited
                if cached is not None and cached[0] > self.clock():
                    return cached[1]
                return await self._verify(digest, presented)
        finally:
            if self._verifying.get(digest) is lock and not lock.locked():
                del self._verifying[digest]

    async def _verify(self, digest: bytes, presented: str) -> ApiKey | InvalidKey:
        verdict: ApiKey | InvalidKey
        try:
            verdict = await asyncio.get_running_loop().run_in_executor(self._verifier, self.keys.verify, presented)
        except InvalidKey as exc:
            verdict = exc
        if len(self._verdicts) >= _CACHE_MAX:
            self._verdicts.clear()
        self._verdicts[digest] = (self.clock() + self.cache_seconds, verdict)
        return verdict

    def _bucket(self, ident: str) -> TokenBucket:
        bucket = self._buckets.get(ident)
        if bucket is None:
            assert self.rate_limit
            capacity = max(1.0, self.rate_limit)
            bucket = self._buckets[ident] = TokenBucket(self.rate_limit, capacity, capacity, self.clock())
        return bucket

    async def _deny(self, request: Request, presented: str | None, role: Role, status: int, reason: str) -> None:
        """Refuse the request; on operator and admin routes also audit it, at most once a second per
        key id and client address, so that a flood cannot fill the database."""
        ident = key_id(presented) if presented else None
        if role is not Role.PREDICT:
            address = request.client.host if request.client else "unknown"
            who = f"{ident or '-'}|{address}"
            now = self.clock()
            if now - self._denials.get(who, -math.inf) >= 1.0:
                if len(self._denials) >= _CACHE_MAX:
                    self._denials = {k: t for k, t in self._denials.items() if now - t < 1.0}
                self._denials[who] = now
                details = {"address": address, "method": request.method, "reason": reason, "needed": role.value}
                await run_in_threadpool(self.audit.append, f"key:{ident}" if ident else "anonymous",
                                        "auth.denied", request.url.path, str(status), details)
        raise HTTPException(status, reason, headers=CHALLENGE if status == 401 else None)
