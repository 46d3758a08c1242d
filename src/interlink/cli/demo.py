"""`interlink demo`: the whole product in a couple of minutes, on loopback."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo() -> None:
    """Start a sandbox vendor and a hub on free loopback ports and walk through the product."""
    from interlink.demo import run_demo
    from interlink.demo_run import DemoFailed

    console = Console()
    try:
        asyncio.run(asyncio.wait_for(run_demo(console), timeout=110))
    except DemoFailed as exc:
        console.print(f"[red]Demo failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    except TimeoutError as exc:
        console.print("[red]Demo did not finish in time[/red]")
        raise typer.Exit(1) from exc
