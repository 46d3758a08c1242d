"""Filling a definition's `Request`: path placeholders, query parameters, the body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.elements.definition import Request
from interlink.elements.templates import render


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
