"""`interlink serve`, `interlink worker`, `interlink migrate`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

import typer
import uvicorn

from interlink.asgi_server import bind_socket, url_of, uvicorn_config
from interlink.elements.catalog import builtin_elements
from interlink.server import build_app, run_workers
from interlink.settings import Settings, load_settings
from interlink.storage.database import Database
from interlink.storage.migrate import migrate as apply_migrations


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("migrate")(migrate)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    no_workers: bool = typer.Option(False, "--no-workers", help="API only, no background jobs."),
) -> None:
    """Run the HTTP API and (unless --no-workers) the background workers in one process."""
    _configure_logging()
    settings = load_settings()
    sock = bind_socket(host, port)
    app = build_app(settings, workers=not no_workers, listen_url=url_of(sock))
    database = _shown(settings.resolved_database_url)
    typer.echo(f"Interlink listening on {url_of(sock)} (database: {database})")
    server = uvicorn.Server(uvicorn_config(app, log_level=logging.INFO))
    app.state.hub.tls_context  # noqa: B018 - loaded now, not on the first vendor call
    _settle_heap()
    # uvicorn shuts down gracefully on Ctrl+C, then re-raises it: a normal end, not a trace.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])


def worker(
    concurrency: int = typer.Option(
        None, min=1, help="Jobs run at the same time [default: INTERLINK_WORKER_CONCURRENCY, 4]."
    ),
) -> None:
    """Background workers only, for the distributed deployment (PostgreSQL)."""
    settings = load_settings()
    if settings.is_sqlite:
        typer.echo(
            "interlink worker is for the distributed deployment: set INTERLINK_DATABASE_URL "
            "to PostgreSQL. On SQLite, `interlink serve` runs the workers itself.",
            err=True,
        )
        raise typer.Exit(2)
    _configure_logging()
    if not settings.public_url:
        logging.getLogger("interlink").warning(
            "INTERLINK_PUBLIC_URL is not set: webhook-mode instances cannot register "
            "their vendor webhooks from this worker (it does not know the API's address)"
        )
    workers = concurrency or settings.worker_concurrency
    typer.echo(
        f"Interlink worker running {workers} jobs at a time "
        f"(database: {_shown(settings.resolved_database_url)}); Ctrl+C or SIGTERM stops it"
    )
    _settle_heap()
    asyncio.run(_work(settings, workers))


async def _work(settings: Settings, concurrency: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    await run_workers(settings, concurrency=concurrency, stop=stop)


def migrate() -> None:
    """Apply every schema migration."""
    settings = load_settings()

    async def run() -> None:
        database = Database(settings.resolved_database_url)
        try:
            await apply_migrations(database)
        finally:
            await database.dispose()

    asyncio.run(run())
    typer.echo(f"Database is up to date ({_shown(settings.resolved_database_url)})")


def _settle_heap() -> None:
    """Load the built-in element catalog (parsing its YAML took ~130 ms, paid by the first
    poll or export otherwise), then collect once and freeze what start-up made: the
    garbage collector never walks it again. Otherwise the first full collection comes
    during the first jobs (~90 ms measured in an export), and every later one walks it all
    again (gc.freeze in the Python docs)."""
    builtin_elements()
    gc.collect()
    gc.freeze()


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every vendor request at INFO: thousands of lines a second during an
    # export (and ~2% of its CPU); Interlink logs what matters about its jobs itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _shown(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
