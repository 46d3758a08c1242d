"""Filling a definition's `Request`: path placeholders, query parameters, the body."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from interlink.elements.definition import Request
from interlink.elements.templates import render
from interlink.errors import InvalidInput


def fill_path(
    template: str, config: Mapping[str, Any], values: Mapping[str, str] | None = None
) -> str:
    """`{config.x}` from the instance and `{name}` (`{id}`, `{export_id}`) from `values`.

    Values are quoted into one path segment, so a record id cannot reach another endpoint.
    """
    return render(template, config, values or {})


def fill_params(spec: Request, config: Mapping[str, Any]) -> dict[str, str]:
    return {name: render(value, config) for name, value in spec.params.items()}


def wrap_body(spec: Request, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as the vendor wants it sent: as is, or under the request's `body_key`."""
    return {spec.body_key: dict(record)} if spec.body_key else dict(record)


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def form_pairs(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`body` as form fields, the way Stripe and Rails-style APIs read them: nested objects
    as `key[sub]`, lists as `key[0]`, `key[1]` (objects in them as `key[0][sub]`), booleans
    as `true`/`false`, `None` and empty objects or lists as an empty value (which such
    APIs read as "unset")."""
    pairs: list[tuple[str, str]] = []

    def add(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            if not value:
                pairs.append((key, ""))
            for name, item in value.items():
                add(f"{key}[{name}]", item)
        elif isinstance(value, list | tuple):
            if not value:
                pairs.append((key, ""))
            for index, item in enumerate(value):
                add(f"{key}[{index}]", item)
        elif value is None:
            pairs.append((key, ""))
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"{key}: {value!r} cannot be sent in a form", field=key)
        else:
            pairs.append((key, str(value)))

    for name, value in body.items():
        add(str(name), value)
    return pairs


def encode_form(body: Mapping[str, Any]) -> bytes:
    """The form-encoded body (`application/x-www-form-urlencoded`, UTF-8) of `body`."""
    return urlencode(form_pairs(body)).encode()


def body_argument(spec: Request, body: Mapping[str, Any]) -> dict[str, Any]:
    """`Sender.send`'s keyword for `body` as `spec` sends it: `json=` or `form=`."""
    return {"form": body} if spec.body_format == "form" else {"json": body}
