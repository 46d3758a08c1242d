"""The FastAPI application: routes, problem handlers, metrics, over one `Hub`."""

from __future__ import annotations

from fastapi import FastAPI

from interlink import __version__
from interlink.api.metrics import ApiMetrics
from interlink.api.problems import install_problem_handlers
from interlink.api.routes import (
    api_keys,
    bulk,
    elements,
    events,
    health,
    hooks,
    instances,
    oauth,
    polling,
    records,
)
from interlink.api.vendor_problems import install_vendor_problems
from interlink.hub import Hub


def create_app(hub: Hub) -> FastAPI:
    app = FastAPI(
        title="Interlink",
        version=__version__,
        description="Integration hub: elements, instances, records, eventing and bulk.",
    )
    app.state.hub = hub
    app.state.metrics = ApiMetrics()
    app.middleware("http")(app.state.metrics.middleware)
    install_problem_handlers(app)
    install_vendor_problems(app)
    for module in (
        health,
        api_keys,
        elements,
        instances,
        oauth,
        polling,
        records,
        events,
        hooks,
        bulk,
    ):
        app.include_router(module.router)
    return app
