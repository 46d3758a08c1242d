"""What reading an upload yields: one Row per record, or an InvalidFile for the whole file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from interlink.errors import InvalidInput

Kind = Literal["csv", "ndjson", "json"]
"""The upload formats: CSV with a header row, NDJSON, or one JSON array of objects."""

MAX_ROW_BYTES = 1 << 20
"""The longest row (CSV record, NDJSON line, JSON array element) read; longer is an error."""
ROW_LIMIT_TEXT = "1 MiB"

RAW_TEXT_LIMIT = 4096
"""How much of a bad row's text a Row keeps to show in the errors file."""


@dataclass(frozen=True, slots=True)
class Row:
    """One record of an upload, numbered from 1 in file order; a bad one carries `error`.

    `record` is the record to act on (values converted by the schema where one was given),
    None when `error` is set. `raw` is set only on errors: the record as read, before
    conversion, when the row could be read as an object; otherwise the row's text (cut to
    RAW_TEXT_LIMIT characters), or None when even that is unavailable.
    """

    number: int
    record: dict[str, Any] | None
    error: str | None = None
    raw: str | dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class InvalidFile(InvalidInput):
    """An upload that cannot be read at all: empty, no usable header, not a JSON array.

    `line` and `column` (from 1) locate the problem where it can be pinned down; the
    message says the same in words. `field` is the multipart part that carried the file.
    """

    def __init__(self, detail: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(detail, field="file")
        self.line = line
        self.column = column


def raw_text(data: bytes | str) -> str:
    """A bad row's text for the errors file: decoded leniently, line end dropped, bounded."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.rstrip("\r\n")
    if len(text) > RAW_TEXT_LIMIT:
        return text[: RAW_TEXT_LIMIT - 1] + "…"
    return text


def describe_json(value: Any) -> str:
    """`a JSON array`, `a JSON string`, … — for errors about what was found instead of an object."""
    if value is None:
        return "JSON null"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, int | float):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, list):
        return "a JSON array"
    return "a JSON object"
