"""Validating what a caller says about an instance: its config and its events block."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from interlink.elements.capabilities import event_modes
from interlink.elements.definition import ConfigField, ElementDefinition
from interlink.errors import InvalidInput
from interlink.security.outbound import check_url

MAX_POLL_INTERVAL = 7 * 24 * 3600


class EventsSettings(BaseModel):
    """The `events` block of an instance, as callers send it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    mode: Literal["polling", "webhook"] = "polling"
    objects: list[str] = Field(default_factory=list)
    poll_interval_seconds: int = Field(default=300, ge=1, le=MAX_POLL_INTERVAL)
    callback_url: str | None = Field(default=None, max_length=2048)
    initial: Literal["baseline", "history"] = "baseline"
    reconciliation_interval_seconds: int | None = Field(default=None, ge=60, le=MAX_POLL_INTERVAL)


async def check_events(
    element: ElementDefinition,
    events: EventsSettings,
    *,
    min_poll_interval: int,
    allow_private: bool,
) -> None:
    if events.mode not in event_modes(element):
        raise InvalidInput(
            f"element {element.key!r} supports event modes {event_modes(element)}",
            field="events.mode",
        )
    for index, name in enumerate(events.objects):
        if element.find_object(name) is None:
            raise InvalidInput(
                f"element {element.key!r} has no object {name!r}", field=f"events.objects.{index}"
            )
    if events.poll_interval_seconds < min_poll_interval:
        raise InvalidInput(
            f"poll_interval_seconds must be at least {min_poll_interval}",
            field="events.poll_interval_seconds",
        )
    if events.enabled and not events.objects:
        raise InvalidInput("name the objects to watch", field="events.objects")
    if events.enabled and not events.callback_url:
        raise InvalidInput("events need a callback_url", field="events.callback_url")
    if events.callback_url:
        await check_url(
            events.callback_url, allow_private=allow_private, field="events.callback_url"
        )


async def split_config(
    element: ElementDefinition,
    config: dict[str, Any],
    *,
    allow_private: bool,
    partial: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public settings, secrets) after checking names, types and outbound URLs."""
    fields = {field.name: field for field in element.config}
    for name in config:
        if name not in fields:
            raise InvalidInput(
                f"element {element.key!r} has no config field {name!r}", field=f"config.{name}"
            )
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in config or config[name] is None:
            if field.required and field.default is None and not partial:
                raise InvalidInput(f"config.{name} is required", field=f"config.{name}")
            if field.default is not None and not partial:
                public[name] = field.default
            continue
        value = await _checked_value(field, config[name], allow_private=allow_private)
        (secret if field.secret else public)[name] = value
    return public, secret


async def _checked_value(field: ConfigField, value: Any, *, allow_private: bool) -> Any:
    where = f"config.{field.name}"
    if field.type in {"string", "url"}:
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{where} must be a non-empty string", field=where)
        if field.type == "url":
            await check_url(value, allow_private=allow_private, field=where)
            return value.rstrip("/")
        return value
    if field.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{where} must be an integer", field=where)
        return value
    if not isinstance(value, bool):
        raise InvalidInput(f"{where} must be true or false", field=where)
    return value
