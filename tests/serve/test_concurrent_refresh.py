"""What the server caches is refreshed once however many requests wait for it, without a server: a key
whose cached verdict is missing or expired is verified (scrypt and a database write) by one request;
the active deployments are re-read by one request, the others using what was read last.

Before, every request in flight when a period ended did its own refresh on a thread of its own: in the
soak test (benchmarks/serving/SOAK.md) the server went from 12 to 50 threads and from 300 to 600+ MB,
and its p99 latency from tens of milliseconds to seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from aiforge.serve._auth import Authenticator
from aiforge.serve._rollout import Rollouts
from aiforge.workspace import ApiKey, KeyStore, Role, Workspace, WorkspaceSettings


class CountingKeys(KeyStore):
    """The real store, counting verifications and making each take a while (as scrypt does)."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__(workspace)
        self.verified: list[str] = []
        self.threads: set[str] = set()

    def verify(self, presented: str, *, touch: bool = True) -> ApiKey:
        self.verified.append(presented)
        self.threads.add(threading.current_thread().name)
        time.sleep(0.05)
        return super().verify(presented, touch=touch)


def _burst(auth: Authenticator, presented: str, n: int = 30) -> list[Any]:
    async def checks() -> list[Any]:
        return await asyncio.gather(*(auth.check(None, presented, Role.PREDICT) for _ in range(n)),  # type: ignore[arg-type]
                                    return_exceptions=True)

    return asyncio.run(checks())


def test_a_key_is_verified_once_per_cache_period_however_many_requests_wait(tmp_path: Path) -> None:
    workspace = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"))
    try:
        created = KeyStore(workspace).create("app", Role.PREDICT, actor="test")
        now = [100.0]
        auth = Authenticator(workspace, mode="required", cache_seconds=5.0, clock=lambda: now[0])
        keys = auth.keys = CountingKeys(workspace)

        assert {k.id for k in _burst(auth, created.secret)} == {created.key.id}
        assert len(keys.verified) == 1
        now[0] += 4.0  # still cached
        assert {k.id for k in _burst(auth, created.secret)} == {created.key.id}
        assert len(keys.verified) == 1
        now[0] += 2.0  # expired: verified again, once
        assert {k.id for k in _burst(auth, created.secret)} == {created.key.id}
        assert len(keys.verified) == 2

        wrong = created.secret[:-4] + "xxxx"
        refusals = _burst(auth, wrong)
        assert all(isinstance(r, HTTPException) and r.status_code == 401 for r in refusals), refusals
        assert keys.verified.count(wrong) == 1
        assert not auth._verifying  # nothing is kept once the verifications are done
    finally:
        workspace.close()


def test_keys_are_verified_on_one_thread_of_their_own(tmp_path: Path) -> None:
    """Whichever thread ran scrypt kept its 16 MiB in its malloc arena: one thread, one buffer."""
    workspace = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"))
    try:
        made = [KeyStore(workspace).create(f"app{i}", Role.PREDICT, actor="test") for i in range(4)]
        auth = Authenticator(workspace, mode="required", cache_seconds=5.0)
        keys = auth.keys = CountingKeys(workspace)

        async def checks() -> list[ApiKey]:
            return await asyncio.gather(*(auth.check(None, m.secret, Role.PREDICT)  # type: ignore[arg-type]
                                          for m in made for _ in range(3)))

        assert {k.id for k in asyncio.run(checks())} == {m.key.id for m in made}
        assert len(keys.verified) == 4
        assert len(keys.threads) == 1 and keys.threads.pop().startswith("aiforge-keys"), keys.threads
    finally:
        workspace.close()


def test_without_a_cache_period_every_request_is_still_verified(tmp_path: Path) -> None:
    workspace = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"))
    try:
        created = KeyStore(workspace).create("app", Role.PREDICT, actor="test")
        auth = Authenticator(workspace, mode="required", cache_seconds=0.0)
        keys = auth.keys = CountingKeys(workspace)
        assert {k.id for k in _burst(auth, created.secret, n=5)} == {created.key.id}
        assert len(keys.verified) == 5
    finally:
        workspace.close()


class SlowDeployments:
    """A deployment store whose reads take a while, counting them."""

    def __init__(self) -> None:
        self.reads = 0

    def active(self) -> list[Any]:
        self.reads += 1
        time.sleep(0.05)
        return []


def test_the_active_deployments_are_read_once_per_period_however_many_requests_ask() -> None:
    store = SlowDeployments()
    rollouts = Rollouts(store, cache=None, refresh_seconds=0.2)  # type: ignore[arg-type]

    async def burst() -> list[Any]:
        return await asyncio.gather(*(rollouts.current("income") for _ in range(30)))

    try:
        assert asyncio.run(burst()) == [None] * 30
        assert store.reads == 1
        assert asyncio.run(burst()) == [None] * 30  # within the period: not read again
        assert store.reads == 1
        time.sleep(0.25)
        asyncio.run(burst())
        assert store.reads == 2
    finally:
        rollouts.close()
