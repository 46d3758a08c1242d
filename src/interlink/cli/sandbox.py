"""`interlink sandbox`: run the Sandbox CRM, the vendor of the demo, tests and benchmarks."""

from __future__ import annotations

import logging

import typer

from interlink.sandbox.config import SandboxConfig
from interlink.sandbox.server import serve_sandbox


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)


def sandbox(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8100, help="Port to listen on."),
    seed: int = typer.Option(0, min=0, help="Contacts to create (and N/10 companies) first."),
    api_key: str = typer.Option("sandbox-key", help="The bearer key clients must send."),
    rate_limit: float | None = typer.Option(None, min=0.001, help="Requests a second, then 429."),
    fail_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="Share of requests answered 500."),
    latency_ms: float = typer.Option(0.0, min=0.0, help="Delay added to every answer."),
) -> None:
    """Run the Sandbox CRM (contacts and companies) until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = SandboxConfig(
        api_key=api_key,
        seed=seed,
        rate_limit=rate_limit,
        fail_rate=fail_rate,
        latency_ms=latency_ms,
    )
    serve_sandbox(config, host=host, port=port)
