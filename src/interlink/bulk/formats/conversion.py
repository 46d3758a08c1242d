"""Converting an uploaded record's values by the object's field schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from interlink.elements.definition import SchemaField
from interlink.elements.record_schema import convert
from interlink.errors import InvalidInput

_JSON_KINDS = frozenset({"object", "array"})


class RecordConverter:
    """Converts each top-level value by the schema field of that name; a failure raises
    InvalidInput naming the field. Fields the schema does not know pass untouched (the
    action's own checks decide about them), as does every record when there is no schema.

    A dotted CSV header is converted by its root: `address.city` builds
    `{"address": {"city": …}}`, which the field `address` judges as a whole. With
    `text_cells` (CSV), a cell for an object or array field is read as JSON first, which is
    how a download writes values that cannot be flattened into columns.
    """

    def __init__(self, schema: Sequence[SchemaField] | None, *, text_cells: bool) -> None:
        self._fields = {field.name: field for field in schema or ()}
        self._text_cells = text_cells

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        if not self._fields:
            return record
        converted: dict[str, Any] = {}
        for name, value in record.items():
            field = self._fields.get(name)
            converted[name] = value if field is None else self._value(field, value)
        return converted

    def _value(self, field: SchemaField, value: Any) -> Any:
        if self._text_cells and field.type in _JSON_KINDS and isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise InvalidInput(
                    f"field {field.name!r} must be an {field.type} written as JSON",
                    field=field.name,
                ) from None
        return convert(field, value)
