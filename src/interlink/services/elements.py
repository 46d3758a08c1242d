"""Registering an organization's own elements, and listing what it can use."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements.catalog import builtin_elements, check_custom, custom_element_row
from interlink.elements.definition import ElementDefinition
from interlink.elements.loading import InvalidDefinition, load_definition
from interlink.errors import Conflict
from interlink.ids import new_id
from interlink.storage.models import CustomElement, Instance


def parse_custom(text: str, *, expected_key: str | None = None) -> ElementDefinition:
    definition = load_definition(text)
    check_custom(definition)
    if expected_key is not None and definition.key != expected_key:
        raise InvalidDefinition(
            f"key {definition.key!r} does not match the URL's {expected_key!r}", field="key"
        )
    return definition


async def register(session: AsyncSession, organization_id: str, text: str) -> ElementDefinition:
    definition = parse_custom(text)
    existing = await session.scalar(
        select(CustomElement.id).where(
            CustomElement.organization_id == organization_id, CustomElement.key == definition.key
        )
    )
    if existing is not None:
        raise Conflict(f"element {definition.key!r} exists; replace it with PUT")
    session.add(
        CustomElement(
            id=new_id("elem"),
            organization_id=organization_id,
            key=definition.key,
            definition=definition.model_dump(mode="json", by_alias=True, exclude_unset=True),
        )
    )
    await session.flush()
    return definition


async def replace(
    session: AsyncSession, organization_id: str, key: str, text: str
) -> ElementDefinition:
    if key in builtin_elements():
        raise InvalidDefinition(f"built-in element {key!r} cannot be replaced", field="key")
    definition = parse_custom(text, expected_key=key)
    row = await custom_element_row(session, organization_id, key)
    row.definition = definition.model_dump(mode="json", by_alias=True, exclude_unset=True)
    await session.flush()
    return definition


async def remove(session: AsyncSession, organization_id: str, key: str) -> None:
    row = await custom_element_row(session, organization_id, key)
    in_use = await session.scalar(
        select(func.count())
        .select_from(Instance)
        .where(
            Instance.organization_id == organization_id,
            Instance.element_key == key,
            Instance.deleted_at.is_(None),
        )
    )
    if in_use:
        raise Conflict(f"element {key!r} is used by {in_use} instance(s); delete them first")
    await session.delete(row)
