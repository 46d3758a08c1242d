"""`/healthz` and `/metrics`: public, for load balancers and Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from interlink import __version__
from interlink.api.auth import get_hub
from interlink.api.problems import Problem
from interlink.api.state_metrics import render_state_metrics
from interlink.hub import Hub

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    try:
        async with hub.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise Problem(503, "Unhealthy", "the database does not answer") from exc
    return {"status": "ok", "version": __version__}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, hub: Hub = Depends(get_hub)) -> Response:
    """This process's HTTP metrics, then the deployment's state (see api.state_metrics)."""
    body = request.app.state.metrics.render() + await render_state_metrics(hub)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
