"""Prometheus metrics of the server, in the text exposition format, with no dependency.

Requests are counted and timed by route template (``/v1/models/{name}/predict``, never the raw path, so
the label set stays bounded) and status; predictions are counted and timed per model version. A pure
ASGI middleware does the request side (a Starlette ``BaseHTTPMiddleware`` would cost more per request
than the prediction itself).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

__all__ = ["BUCKETS", "Metrics", "MetricsMiddleware"]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _Histogram:
    __slots__ = ("counts", "sum", "count")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                break
        self.sum += seconds
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        for bound, n in zip(BUCKETS, self.counts, strict=True):
            running += n
            out.append(f'{name}_bucket{{{labels},le="{bound:g}"}} {running}')
        out += [f'{name}_bucket{{{labels},le="+Inf"}} {self.count}', f"{name}_sum{{{labels}}} {self.sum:.6f}",
                f"{name}_count{{{labels}}} {self.count}"]
        return out


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Thread-safe counters and histograms, rendered for Prometheus."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._request_seconds: dict[tuple[str, str], _Histogram] = defaultdict(_Histogram)
        self._predictions: dict[tuple[str, int], int] = defaultdict(int)
        self._prediction_seconds: dict[tuple[str, int], _Histogram] = defaultdict(_Histogram)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            self._request_seconds[(method, route)].observe(seconds)

    def observe_predictions(self, model: str, version: int, rows: int, seconds: float) -> None:
        with self._lock:
            self._predictions[(model, version)] += rows
            self._prediction_seconds[(model, version)].observe(seconds)

    def render(self, *more: list[str]) -> str:
        """The exposition text, followed by the ``more`` lines other parts of the server keep."""
        with self._lock:
            lines = ["# HELP aiforge_requests_total HTTP requests by method, route template and status.",
                     "# TYPE aiforge_requests_total counter"]
            lines += [f'aiforge_requests_total{{method="{m}",route="{_label(r)}",status="{s}"}} {n}'
                      for (m, r, s), n in sorted(self._requests.items())]
            lines += ["# HELP aiforge_request_seconds HTTP request latency by method and route template.",
                      "# TYPE aiforge_request_seconds histogram"]
            for (m, r), h in sorted(self._request_seconds.items()):
                lines += h.lines("aiforge_request_seconds", f'method="{m}",route="{_label(r)}"')
            lines += ["# HELP aiforge_predictions_total Records predicted, by model and version.",
                      "# TYPE aiforge_predictions_total counter"]
            lines += [f'aiforge_predictions_total{{model="{_label(mo)}",version="{v}"}} {n}'
                      for (mo, v), n in sorted(self._predictions.items())]
            lines += ["# HELP aiforge_prediction_seconds Time to validate and predict one request's records, "
                      "by model and version.", "# TYPE aiforge_prediction_seconds histogram"]
            for (mo, v), h in sorted(self._prediction_seconds.items()):
                lines += h.lines("aiforge_prediction_seconds", f'model="{_label(mo)}",version="{v}"')
        for extra in more:
            lines += extra
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template and status."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            self.metrics.observe_request(scope.get("method", "?"), template, status, time.perf_counter() - started)
