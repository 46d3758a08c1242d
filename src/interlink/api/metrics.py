"""Prometheus metrics of the API: requests by route and status, and their latency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match


class ApiMetrics:
    """One registry per app, so several hubs in one process (tests, demo) stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "interlink_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "interlink_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_template(request)
        self.requests.labels(request.method, route, str(response.status_code)).inc()
        self.latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response


def _route_template(request: Request) -> str:
    """The route's template (`/v1/instances/{instance_id}`), never raw ids: bounded labels."""
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "other"))
    return "unmatched"
