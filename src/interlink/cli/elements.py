"""`interlink elements schema|list|validate`: the definition format and the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from interlink.elements.capabilities import element_capabilities
from interlink.elements.catalog import builtin_elements
from interlink.elements.definition import ElementDefinition
from interlink.elements.loading import InvalidDefinition, load_definition

app = typer.Typer(help="Element definitions.", no_args_is_help=True)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of element definitions."""
    document = ElementDefinition.model_json_schema(by_alias=True)
    typer.echo(json.dumps(document, indent=2))


@app.command("list")
def list_elements() -> None:
    """List the built-in elements."""
    table = Table("key", "name", "objects", "events", "native batch", "native bulk")
    for element in builtin_elements().values():
        capabilities = element_capabilities(element)
        table.add_row(
            element.key,
            element.name,
            ", ".join(element.objects),
            ", ".join(capabilities["events"]),
            "yes" if capabilities["native_batch"] else "no",
            "yes" if capabilities["native_bulk"] else "no",
        )
    Console().print(table)


@app.command("validate")
def validate(path: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Check a definition file; errors name the field and line."""
    try:
        definition = load_definition(path.read_text(encoding="utf-8"))
    except InvalidDefinition as exc:
        typer.echo(f"{path}: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{path}: element {definition.key!r} is valid ({len(definition.objects)} objects)")
