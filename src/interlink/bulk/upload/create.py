"""Creating an upload job: where it goes and what it does, checked before and after the
file is received (the metadata part may come after the file)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from interlink.bulk.jobs import Action, Format
from interlink.elements.catalog import find_element
from interlink.elements.definition import ElementDefinition, ObjectDefinition
from interlink.errors import InvalidInput, NotFound
from interlink.hub import Hub
from interlink.security.outbound import check_url
from interlink.services.instances import get_instance
from interlink.storage.models import Instance


class UploadMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    identifier: str | None = Field(None, min_length=1, max_length=200)
    format: Format | None = None
    callback_url: str | None = Field(None, max_length=2000)


async def upload_target(
    hub: Hub, organization_id: str, instance_id: str, object_name: str
) -> tuple[Instance, ElementDefinition, ObjectDefinition]:
    """The instance and object an upload writes to: 404 before any byte is read."""
    async with hub.database.transaction() as session:
        instance = await get_instance(session, organization_id, instance_id)
        element = await find_element(session, organization_id, instance.element_key)
    obj = element.find_object(object_name)
    if obj is None:
        raise NotFound(f"element {element.key!r} has no object {object_name!r}")
    if obj.read_only:
        raise InvalidInput(f"{object_name} of {element.key} is read-only", field="object")
    return instance, element, obj


async def check_metadata(hub: Hub, obj: ObjectDefinition, raw: dict[str, Any]) -> UploadMetadata:
    try:
        metadata = UploadMetadata.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}", field=f"metadata.{where}") from exc
    identifier = metadata.identifier
    if identifier is not None and identifier != obj.id_field:
        known = [field.name for field in obj.fields] if obj.fields is not None else None
        if known is not None and identifier not in known:
            raise InvalidInput(
                f"identifier {identifier!r} is not a field of the object",
                field="metadata.identifier",
            )
        if obj.equality_filters != "*" and identifier not in obj.equality_filters:
            # Upserts, updates by identifier and crash recovery all look records up by it.
            raise InvalidInput(
                f"the vendor cannot look records up by {identifier!r}; "
                f"use one of: {', '.join(obj.equality_filters) or 'none'}",
                field="metadata.identifier",
            )
    if metadata.callback_url is not None:
        await check_url(
            metadata.callback_url,
            allow_private=hub.settings.allow_private_networks,
            field="metadata.callback_url",
        )
    return metadata
