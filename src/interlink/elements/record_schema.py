"""Checking and converting records against an object's declared field schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from interlink.elements.definition import ObjectDefinition, SchemaField
from interlink.errors import InvalidInput

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def check_write(obj: ObjectDefinition, record: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """The record to send: unknown and read-only fields refused, values converted.

    Objects without a schema pass through untouched: the vendor is the judge.
    """
    if obj.fields is None:
        return record
    schema = {field.name: field for field in obj.fields}
    converted: dict[str, Any] = {}
    for name, value in record.items():
        root = name.split(".", 1)[0]
        field = schema.get(name) or schema.get(root)
        if field is None:
            raise InvalidInput(f"unknown field {name!r}", field=name)
        if field.read_only:
            raise InvalidInput(f"field {name!r} is read-only", field=name)
        converted[name] = convert(field, value) if field.name == name else value
    if not partial:
        for field in obj.fields:
            if field.required and converted.get(field.name) is None:
                raise InvalidInput(f"field {field.name!r} is required", field=field.name)
    return converted


def convert(field: SchemaField, value: Any) -> Any:
    """JSON values of the right type pass; text (from CSV) is converted; the rest refused."""
    if value is None:
        return None
    kind = field.type
    try:
        if kind == "string":
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return str(value)
        elif kind == "integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return int(value.strip())
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind == "number":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return float(value.strip())
        elif kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
        elif kind == "datetime":
            if isinstance(value, str):
                datetime.fromisoformat(value.replace("Z", "+00:00"))
                return value
        elif kind == "object":
            if isinstance(value, dict):
                return value
        elif kind == "array" and isinstance(value, list):
            return value
    except ValueError:
        pass
    raise InvalidInput(f"field {field.name!r} must be {_article(kind)} {kind}", field=field.name)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"
