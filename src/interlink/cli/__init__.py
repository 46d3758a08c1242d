"""The `interlink` command: serve, worker, migrate, org, elements, sandbox, demo, and bulk
(export, upload, status, download: a running hub's bulk jobs over its HTTP API)."""

from __future__ import annotations

import typer

from interlink.cli import bulk, demo, elements, org, sandbox, serve
from interlink.errors import ConfigurationError

app = typer.Typer(
    name="interlink",
    help="Interlink: an integration hub with eventing and bulk for every connector.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
serve.register(app)
app.add_typer(org.app, name="org")
app.add_typer(elements.app, name="elements")
app.add_typer(bulk.app, name="bulk")
sandbox.register(app)
demo.register(app)


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        typer.echo(f"interlink: {exc}", err=True)
        raise SystemExit(2) from exc
