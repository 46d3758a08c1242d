"""Which format an upload is in: what the caller declared, else what the file part says."""

from __future__ import annotations

from typing import get_args

from interlink.bulk.formats.rows import Kind
from interlink.errors import InvalidInput

KINDS: tuple[Kind, ...] = get_args(Kind)

BY_EXTENSION: dict[str, Kind] = {
    "csv": "csv",
    "ndjson": "ndjson",
    "jsonl": "ndjson",
    "json": "json",
}

BY_CONTENT_TYPE: dict[str, Kind] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "application/json": "json",
}

UTF8_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"


def upload_kind(
    filename: str | None, content_type: str | None, head: bytes, declared: str | None
) -> Kind:
    """The upload's format, from the first of these that says one.

    1. `declared`: the metadata's `format`; anything but a known kind is InvalidInput.
    2. The extension of `filename` (`.csv`, `.ndjson`/`.jsonl`, `.json`; any case).
    3. The media type of `content_type`, parameters ignored.
    4. The first byte of `head` (the file's beginning) that is not whitespace, after an
       optional UTF-8 byte order mark: `[` is a JSON array, `{` NDJSON, anything else
       (an empty head too) CSV.
    """
    if declared is not None:
        for kind in KINDS:
            if declared == kind:
                return kind
        known = ", ".join(f'"{kind}"' for kind in KINDS)
        raise InvalidInput(
            f"unknown format {declared!r}: it is one of {known}", field="metadata.format"
        )
    if filename:
        _, dot, extension = filename.rpartition(".")
        if dot and extension.lower() in BY_EXTENSION:
            return BY_EXTENSION[extension.lower()]
    if content_type:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type in BY_CONTENT_TYPE:
            return BY_CONTENT_TYPE[media_type]
    return sniffed_kind(head)


def sniffed_kind(head: bytes) -> Kind:
    """The format the file's first meaningful byte suggests (see `upload_kind`)."""
    first = meaningful(head)[:1]
    if first == b"[":
        return "json"
    if first == b"{":
        return "ndjson"
    return "csv"


def meaningful(head: bytes) -> bytes:
    """`head` without a leading UTF-8 byte order mark and whitespace."""
    return head.removeprefix(UTF8_BOM).lstrip(_WHITESPACE)
