"""`interlink org create NAME [--json]`: a new organization and its API key, shown once."""

from __future__ import annotations

import asyncio
import json

import typer
from rich.console import Console

from interlink.services.organizations import create_organization
from interlink.settings import load_settings
from interlink.storage.database import Database
from interlink.storage.migrate import migrate

app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The organization's name."),
    as_json: bool = typer.Option(False, "--json", help='One line: {"id": …, "api_key": …}'),
) -> None:
    """Create an organization and print its API key (it is never shown again)."""

    async def run() -> tuple[str, str]:
        settings = load_settings()
        database = Database(settings.resolved_database_url)
        try:
            await migrate(database)
            async with database.transaction() as session:
                organization, key = await create_organization(session, name)
                return organization.id, key
        finally:
            await database.dispose()

    organization_id, key = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps({"id": organization_id, "api_key": key}))
        return
    console = Console()
    console.print(f"Organization [bold]{name}[/bold] created: {organization_id}")
    console.print(f"API key (shown once, keep it safe): [bold green]{key}[/bold green]")
