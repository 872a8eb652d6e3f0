"""The fast lane: prediction requests straight to the prediction code, past FastAPI's routing and
dependency resolution.

In process, FastAPI spends about as much time finding the route, solving its dependencies and
validating the body as aiforge spends validating, predicting and logging one record (measured
~0.5 ms of ~1.1 ms per request on this machine). ``FastLane`` is a pure ASGI middleware for the two hot
routes, ``POST /v1/models/{name}/predict`` and ``POST /v2/models/{name}/infer``: it reads the body, and
when the request is plainly well formed and its key is already verified, it calls the same ``answer``
the routes call. Anything else — another route, a body of another shape, a key not yet verified, a rate
limit to apply — goes to FastAPI unchanged, the body replayed, so every refusal and every error reads
exactly as the documented routes give it. The OpenAPI document still describes these routes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

if TYPE_CHECKING:
    from aiforge.serve._metrics import Metrics

__all__ = ["FastLane", "Lane"]

ROUTES = {
    "v1": re.compile(r"^/v1/models/([^/]+)/predict$"),
    "v2": re.compile(r"^/v2/models/([^/]+)/infer$"),
}
MAX_BODY = 64 * 1024 * 1024
log = logging.getLogger("aiforge.serve")

# (route kind, model name, parsed body, request headers) -> a response, or None: let FastAPI answer
Lane = Callable[[str, str, Any, dict[str, str]], Awaitable[Response | None]]


class FastLane:
    """In front of the whole app, FastAPI's middleware stack included (its error and telemetry middlewares and
    aiforge's metrics cost about 15% of a one-row request): a request the lane answers is timed and counted
    here, by the template of the route it stands for, as ``MetricsMiddleware`` counts the others. A lane that
    fails hands the request to the app, which answers it the documented way."""

    def __init__(self, app: Any, lane: Lane, templates: dict[str, Any], metrics: Metrics) -> None:
        self.app = app
        self.lane = lane
        self.templates = templates  # route kind -> the APIRoute it stands for (metrics label by its template)
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        kind, match = next(((k, m) for k, r in ROUTES.items() if (m := r.match(path))), (None, None))
        if kind is None or match is None:
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        size = 0
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            more = message.get("more_body", False)
            if size > MAX_BODY:
                break
        body = b"".join(chunks)
        started = time.perf_counter()
        response = None
        if not more:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if headers.get("content-type", "").split(";")[0].strip() == "application/json":
                try:
                    payload = json.loads(body)
                except (ValueError, RecursionError):  # FastAPI answers these (422)
                    payload = None
                if payload is not None:
                    try:
                        response = await self.lane(kind, match.group(1), payload, headers)  # the path is decoded
                    except Exception:  # noqa: BLE001 - the app's own route answers it (or says what failed)
                        log.exception("the fast lane failed on %s; the route answers instead", path)
                        response = None
        if response is None:
            await self.app(scope, _replay(body, receive, more), send)
            return
        route = self.templates.get(kind)
        scope["route"] = route
        try:
            await response(scope, receive, send)
        finally:
            self.metrics.observe_request("POST", getattr(route, "path", None) or "(unmatched)", response.status_code,
                                         time.perf_counter() - started)


def _replay(body: bytes, receive: Any, more: bool) -> Any:
    """A ``receive`` that gives the body already read, then whatever else the client sends."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return dict(await receive())

    return replayed
