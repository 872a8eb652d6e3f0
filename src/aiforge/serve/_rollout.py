"""Traffic between the champion and the challenger of an active deployment, measured and judged live.

For each request to a model with an active deployment (``registry.DeploymentStore``):

- ``canary`` and ``ab``: the challenger answers its share (canary: a random share of requests; A/B: a
  share of request keys, sticky: the same ``X-Request-Key`` always gets the same arm). If the challenger
  fails — it raises, or refuses input that the champion accepts — the champion answers instead, so a
  faulty challenger costs the caller nothing, and the failure counts against the challenger's error rate.
- ``shadow``: the champion answers; the challenger predicts a copy of the request on a background
  thread (a bounded queue: copies beyond it are dropped and counted, never queued without limit), and
  both predictions are logged under the same prediction id with roles ``champion`` and ``shadow``.

Each challenger request feeds the current window (``registry.Window``); ``registry.judge`` decides when
to advance, promote or roll back, and the verdict is applied through the store off the request path.
The active deployments are re-read every ``refresh_seconds``, so a rollback or promotion made by the
CLI or another worker takes effect here within that time, with no database query on the hot path.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool

from aiforge.registry import Deployment, DeploymentStore, Strategy, Verdict, Window, judge
from aiforge.serve._metrics import _label
from aiforge.serve._models import ModelCache, ServedModel
from aiforge.serve._schema import InvalidInput

__all__ = ["INLINE_RECORDS", "Rollouts", "Tag", "Work"]

log = logging.getLogger("aiforge.serve")
SHADOW_QUEUE = 1000  # copies waiting for the challenger; more are dropped
INLINE_RECORDS = 64  # batches up to this size are predicted on the event loop (no thread hop)


@dataclass(frozen=True)
class Tag:
    """How a prediction is logged: its deployment and role (``champion``, ``challenger``, ``shadow``)
    and, for a shadow copy, the ids of the champion's predictions it mirrors."""

    deployment: str | None = None
    role: str | None = None
    ids: list[str] | None = None


# A request's work for one model: (model, tag) -> a callable that validates, predicts and logs, and
# returns the response body with the prediction ids it logged.
Work = Callable[[ServedModel, Tag], Callable[[], tuple[dict[str, Any], list[str]]]]


class Rollouts:
    """The active deployments of one server process, and their live windows."""

    def __init__(self, store: DeploymentStore, cache: ModelCache, *, refresh_seconds: float) -> None:
        self.store = store
        self.cache = cache
        self.refresh_seconds = refresh_seconds
        self._active: dict[str, Deployment] = {}
        self._resolved_at = float("-inf")
        self._refreshing: asyncio.Future[None] | None = None
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, Window]] = {}  # deployment id -> (revision, window)
        self._applying: set[str] = set()
        self._ended: set[str] = set()  # deployments this process saw end (bounded by the deployments made)
        self._shadow = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiforge-shadow")
        self._shadow_waiting = 0
        self.shadow_dropped = 0
        self.last_verdicts: dict[str, dict[str, Any]] = {}  # deployment id -> the latest judged window
        self._background: set[asyncio.Future[Any]] = set()
        self._outcomes: dict[tuple[str, int, str], int] = {}  # (model, challenger, ok|error) -> requests

    # -- which deployment is active -------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the active deployments from the store (blocking)."""
        active = {d.name: d for d in self.store.active()}
        with self._lock:
            self._active = active
            self._resolved_at = time.monotonic()
            for ident in [i for i in self._windows if i not in {d.id for d in active.values()}]:
                del self._windows[ident]

    def active_deployments(self) -> list[Deployment]:
        return list(self._active.values())

    async def current(self, name: str) -> Deployment | None:
        if time.monotonic() - self._resolved_at > self.refresh_seconds:
            # one request re-reads the store and those arriving meanwhile wait for the same read (else every
            # request in flight when the period ends runs its own query on a thread of its own); a deployment
            # made elsewhere is in force for every request within refresh_seconds
            if self._refreshing is None:
                self._refreshing = asyncio.ensure_future(run_in_threadpool(self.refresh))
                self._refreshing.add_done_callback(self._refreshed)
            await asyncio.shield(self._refreshing)
        return self._active.get(name)

    def _refreshed(self, task: asyncio.Future[None]) -> None:
        self._refreshing = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not re-read the deployments", exc_info=task.exception())

    def close(self) -> None:
        self._shadow.shutdown(wait=True, cancel_futures=False)

    # -- answering ------------------------------------------------------------------------------

    async def answer(self, deployment: Deployment, size: int, work: Work, key: str | None) -> dict[str, Any]:
        """The response body for a request to ``deployment.name``, from the arm the request falls in."""
        champion = await self._model(deployment.name, deployment.champion)
        assert champion is not None  # the champion is accepted and answering: its loading errors are the caller's
        if deployment.strategy is Strategy.SHADOW:
            body, ids = await _compute(size, work(champion, Tag(deployment.id, "champion")))
            self._mirror(deployment, work, ids)
            return body
        if not self._to_challenger(deployment, key):
            body, _ = await _compute(size, work(champion, Tag(deployment.id, "champion")))
            return body
        started = time.perf_counter()
        try:
            challenger = await self._model(deployment.name, deployment.challenger)
            body, _ = await run_in_threadpool(work(challenger, Tag(deployment.id, "challenger")))
        except InvalidInput:
            # the champion judges the input: invalid for it too, it is the caller's error (422, not counted)
            body, _ = await _compute(size, work(champion, Tag(deployment.id, "champion")))
            self._observe(deployment, False, 0.0)
            return body
        except Exception:
            log.warning("challenger %s v%d failed; the champion answered", deployment.name, deployment.challenger,
                        exc_info=True)
            body, _ = await _compute(size, work(champion, Tag(deployment.id, "champion")))
            self._observe(deployment, False, 0.0)
            return body
        self._observe(deployment, True, 1000 * (time.perf_counter() - started))
        return body

    def _to_challenger(self, deployment: Deployment, key: str | None) -> bool:
        share = deployment.traffic
        if deployment.strategy is Strategy.AB and key:
            digest = hashlib.sha256(f"{deployment.id}:{key}".encode()).digest()
            return int.from_bytes(digest[:8], "big") % 100 < share
        return random.random() * 100 < share

    async def _model(self, name: str, version: int) -> ServedModel:
        loaded = self.cache.loaded(name, str(version))
        return loaded if loaded is not None else await run_in_threadpool(self.cache.version, name, str(version))

    def _mirror(self, deployment: Deployment, work: Work, ids: list[str]) -> None:
        with self._lock:
            if self._shadow_waiting >= SHADOW_QUEUE:
                self.shadow_dropped += 1
                return
            self._shadow_waiting += 1

        def copy() -> None:
            started = time.perf_counter()
            ok = True
            try:
                challenger = self.cache.version(deployment.name, str(deployment.challenger))
                work(challenger, Tag(deployment.id, "shadow", ids))()
            except Exception:
                ok = False
                log.warning("shadow %s v%d failed", deployment.name, deployment.challenger, exc_info=True)
            finally:
                with self._lock:
                    self._shadow_waiting -= 1
            verdict = self._judge(deployment, ok, 1000 * (time.perf_counter() - started))
            if verdict is not None:
                self._apply(deployment, verdict)

        self._shadow.submit(copy)

    def metrics_lines(self) -> list[str]:
        """Prometheus lines: each active deployment's challenger share, the challenger's requests by
        outcome, and the shadow copies dropped."""
        with self._lock:
            active = list(self._active.values())
            outcomes = sorted(self._outcomes.items())
            dropped = self.shadow_dropped
        lines = ["# HELP aiforge_deployment_traffic_percent The challenger's share of requests in each active "
                 "deployment (shadow: 0, it sees copies).", "# TYPE aiforge_deployment_traffic_percent gauge"]
        lines += [f'aiforge_deployment_traffic_percent{{model="{_label(d.name)}",deployment="{d.id}",strategy='
                  f'"{d.strategy.value}",champion="{d.champion}",challenger="{d.challenger}"}} {d.traffic}'
                  for d in active]
        lines += ["# HELP aiforge_challenger_requests_total Requests a challenger handled, by outcome (error: the "
                  "champion answered instead).", "# TYPE aiforge_challenger_requests_total counter"]
        lines += [f'aiforge_challenger_requests_total{{model="{_label(m)}",version="{v}",outcome="{o}"}} {n}'
                  for (m, v, o), n in outcomes]
        lines += ["# HELP aiforge_shadow_dropped_total Shadow copies dropped because the challenger's queue was full.",
                  "# TYPE aiforge_shadow_dropped_total counter", f"aiforge_shadow_dropped_total {dropped}"]
        return lines

    # -- judging --------------------------------------------------------------------------------

    def _observe(self, deployment: Deployment, ok: bool, latency_ms: float) -> None:
        verdict = self._judge(deployment, ok, latency_ms)
        if verdict is not None:
            future = asyncio.get_running_loop().run_in_executor(None, self._apply, deployment, verdict)
            self._background.add(future)
            future.add_done_callback(self._background.discard)

    def _judge(self, deployment: Deployment, ok: bool, latency_ms: float) -> Verdict | None:
        """Count one challenger request; a verdict to apply, if this request closed the matter."""
        with self._lock:
            tally = (deployment.name, deployment.challenger, "ok" if ok else "error")
            self._outcomes[tally] = self._outcomes.get(tally, 0) + 1  # it happened, whatever its window
            revision, window = self._windows.get(deployment.id, (-1, Window()))
            if deployment.revision < revision or deployment.id in self._applying or deployment.id in self._ended:
                return None  # a request that started before the deployment changed: not this window's
            if deployment.revision > revision:
                window = Window()
                self._windows[deployment.id] = (deployment.revision, window)
            window.requests += 1
            if ok:
                window.latencies_ms.append(latency_ms)
            else:
                window.errors += 1
            verdict = judge(deployment, window)
            if verdict.action == "hold":
                return None
            self.last_verdicts[deployment.id] = {"action": verdict.action, "reason": verdict.reason,
                                                 "window": verdict.figures, "at": time.time()}
            if verdict.action == "next_window":
                self._windows[deployment.id] = (deployment.revision, Window())
                return None
            self._applying.add(deployment.id)
            return verdict

    def _apply(self, deployment: Deployment, verdict: Verdict) -> None:
        try:
            done = self.store.apply(deployment, verdict, actor="server")
            if done is not None and not done.active:
                with self._lock:  # requests still in flight with the old deployment are not judged again
                    self._ended.add(deployment.id)
            if done is None:
                log.info("deployment %s changed elsewhere; not applying %s", deployment.id, verdict.action)
            else:
                log.warning("deployment %s of %s v%d: %s (%s)", deployment.id, deployment.name,
                            deployment.challenger, verdict.action, verdict.reason)
        except Exception:
            log.exception("could not apply %s to deployment %s", verdict.action, deployment.id)
        finally:
            self.cache.forget_serving()
            self.refresh()
            with self._lock:
                self._applying.discard(deployment.id)


async def _compute(size: int, work: Callable[[], tuple[dict[str, Any], list[str]]]) -> tuple[dict[str, Any], list[str]]:
    return work() if size <= INLINE_RECORDS else await run_in_threadpool(work)
