"""The elements an organization can use: the built-in files plus its own registered ones."""

from __future__ import annotations

from functools import cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements.definition import ElementDefinition
from interlink.elements.loading import InvalidDefinition, load_definition, validate_definition
from interlink.errors import NotFound
from interlink.storage.models import CustomElement


@cache
def builtin_elements() -> dict[str, ElementDefinition]:
    """Every `*.yaml` in `interlink/elements/builtin`, shipped as package data."""
    elements: dict[str, ElementDefinition] = {}
    for entry in resources.files("interlink.elements.builtin").iterdir():
        if entry.name.endswith(".yaml"):
            definition = load_definition(entry.read_text(encoding="utf-8"))
            elements[definition.key] = definition
    return dict(sorted(elements.items()))


def check_custom(definition: ElementDefinition) -> None:
    """Rules for tenant elements: no built-in key, no code."""
    if definition.key in builtin_elements():
        raise InvalidDefinition(
            f"key {definition.key!r} belongs to a built-in element", field="key"
        )
    if definition.hooks is not None:
        raise InvalidDefinition("custom elements cannot carry code", field="hooks")


async def find_element(session: AsyncSession, organization_id: str, key: str) -> ElementDefinition:
    builtin = builtin_elements().get(key)
    if builtin is not None:
        return builtin
    row = await custom_element_row(session, organization_id, key)
    return validate_definition(row.definition)


async def custom_element_row(
    session: AsyncSession, organization_id: str, key: str
) -> CustomElement:
    row = await session.scalar(
        select(CustomElement).where(
            CustomElement.organization_id == organization_id, CustomElement.key == key
        )
    )
    if row is None:
        raise NotFound(f"no element {key!r}")
    return row


async def custom_elements(session: AsyncSession, organization_id: str) -> list[CustomElement]:
    rows = await session.scalars(
        select(CustomElement)
        .where(CustomElement.organization_id == organization_id)
        .order_by(CustomElement.key)
    )
    return list(rows)
