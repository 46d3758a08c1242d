"""Receiving a bulk upload: a multipart body streamed straight into the file store.

The body is `multipart/form-data` with a `file` part (the records) and an optional
`metadata` part (a JSON object), in either order. It is parsed as it is read, and the file
part's bytes go into the store as they arrive: memory holds one chunk of the body, never
the file. Nothing drives the parsing but the consumer: the chunks handed to
`FileStore.write_part` are pulled from the request by the store itself, so there is no
task to leak and a slow disk slows the reading instead of filling a buffer.

Sizes are checked twice: a declared `Content-Length` over the limit is refused before any
byte is read, and the file's bytes (and the whole body's) are counted as they come, so a
chunked body is cut off as soon as it goes over. Whatever goes wrong, the partial file is
deleted before the error goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from interlink.bulk.formats import Kind, upload_kind
from interlink.bulk.formats.detect import UTF8_BOM, meaningful
from interlink.errors import InvalidInput, PayloadTooLarge
from interlink.files.base import FileStore

logger = logging.getLogger(__name__)

FILE_PART = "file"
METADATA_PART = "metadata"
MAX_METADATA_BYTES = 64 * 1024
# What a body may carry beyond the file: the metadata part, part headers and boundaries.
FRAMING_ALLOWANCE = MAX_METADATA_BYTES + 16 * 1024
# How much of the file's beginning is kept to sniff its format when nothing else says it.
MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class ReceivedUpload:
    metadata: dict[str, Any]
    """The `metadata` part parsed as a JSON object; {} when the part is absent."""
    filename: str | None
    content_type: str | None
    """The file part's own Content-Type, as sent."""
    size: int
    """Bytes of the file written."""
    kind: Kind


async def receive_upload(
    request: Request, store: FileStore, key: str, *, max_bytes: int
) -> ReceivedUpload:
    """Parse the multipart body of `request`, writing its `file` part as part 1 of `key`.

    Raises InvalidInput (naming the part at fault) for a body that is not multipart, is
    malformed, lacks the `file` part or has two, or whose metadata is not a JSON object
    (at most 64 KiB); PayloadTooLarge when the file is over `max_bytes`. On any error,
    cancellation included, `key` is deleted. An empty file is accepted (size 0).
    """
    boundary = _boundary(request.headers.get("content-type"))
    body_limit = max_bytes + FRAMING_ALLOWANCE
    declared = _declared_length(request.headers.get("content-length"))
    if declared is not None and declared > body_limit:
        raise _too_large(max_bytes)
    try:
        async with contextlib.aclosing(request.stream()) as chunks:
            body = _MultipartBody(chunks, boundary, body_limit, max_bytes)
            return await _receive(body, store, key, max_bytes)
    except BaseException:
        await _discard(store, key)
        raise


async def _discard(store: FileStore, key: str) -> None:
    """Delete the partial file of a failed upload; the upload's own error is what goes on.

    Shielded, so a cancelled upload still deletes its file; cancelled again meanwhile, it
    waits for the deletion to finish before the cancellation goes on.
    """
    deletion = asyncio.ensure_future(store.delete(key))
    try:
        await asyncio.shield(deletion)
    except asyncio.CancelledError:
        await asyncio.wait([deletion])
        _log_failed_deletion(deletion, key)
        raise
    except Exception:
        _log_failed_deletion(deletion, key)


def _log_failed_deletion(deletion: asyncio.Future[None], key: str) -> None:
    error = None if deletion.cancelled() else deletion.exception()
    if error is not None:
        logger.error("could not delete the partial upload %r", key, exc_info=error)


async def _receive(
    body: _MultipartBody, store: FileStore, key: str, max_bytes: int
) -> ReceivedUpload:
    metadata: dict[str, Any] | None = None
    file: _FilePart | None = None
    while (part := await body.next_part()) is not None:
        if part.name == FILE_PART:
            if file is not None:
                raise InvalidInput("the body has two `file` parts: send one", field="file")
            file = _FilePart(part, max_bytes)
            async with contextlib.aclosing(file.chunks(body)) as chunks:
                await store.write_part(key, 1, chunks)
        elif part.name == METADATA_PART:
            if metadata is not None:
                raise InvalidInput("the body has two `metadata` parts: send one", field="metadata")
            metadata = _parse_metadata(await body.part_bytes(MAX_METADATA_BYTES, METADATA_PART))
            _declared_format(metadata)  # checked now: before the file, if it comes after
        else:
            await body.skip_part()  # a form field we do not use
    if file is None:
        raise InvalidInput("the body has no `file` part: send the records in it", field="file")
    metadata = metadata or {}
    declared = _declared_format(metadata)
    kind = upload_kind(file.part.filename, file.part.content_type, bytes(file.head), declared)
    return ReceivedUpload(
        metadata=metadata,
        filename=file.part.filename,
        content_type=file.part.content_type,
        size=file.size,
        kind=kind,
    )


@dataclass(frozen=True)
class _Part:
    """A part's headers, as far as we use them."""

    name: str | None
    filename: str | None
    content_type: str | None


class _PartEnd:
    pass


class _End:
    pass


_PART_END = _PartEnd()
_END = _End()
_Event = _Part | bytes | _PartEnd | _End


@dataclass
class _FilePart:
    part: _Part
    max_bytes: int
    size: int = 0
    head: bytearray = field(default_factory=bytearray)

    async def chunks(self, body: _MultipartBody) -> AsyncGenerator[bytes, None]:
        """The part's bytes as they are read, counted against the limit."""
        while (chunk := await body.part_data()) is not None:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise _too_large(self.max_bytes)
            if len(self.head) < MAX_HEAD_BYTES and not _telling(bytes(self.head)):
                self.head += chunk[: MAX_HEAD_BYTES - len(self.head)]
            yield chunk


class _MultipartBody:
    """A multipart body parsed as it is read: its events are pulled one at a time.

    Reading happens only when an event is asked for and none is pending, so whoever pulls
    sets the pace. The parser's callbacks queue the events of one chunk of the body: at
    most that chunk's bytes are held.
    """

    def __init__(
        self, chunks: AsyncIterator[bytes], boundary: bytes, limit: int, max_bytes: int
    ) -> None:
        self._chunks = chunks
        self._limit = limit
        self._max_bytes = max_bytes
        self._received = 0
        self._events: deque[_Event] = deque()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._headers.clear,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": lambda: self._events.append(_PART_END),
                "on_end": lambda: self._events.append(_END),
            },
        )

    async def next_part(self) -> _Part | None:
        """The next part's headers; None at the closing boundary (the rest is read)."""
        event = await self._next()
        if isinstance(event, _End):
            await self._drain()
            return None
        if not isinstance(event, _Part):  # the parser emits data only inside a part
            raise _malformed("part data outside a part")
        return event

    async def part_data(self) -> bytes | None:
        """The current part's next bytes; None at its end."""
        event = await self._next()
        if isinstance(event, bytes):
            return event
        if isinstance(event, _PartEnd):
            return None
        raise _malformed("a part that does not end")

    async def part_bytes(self, limit: int, name: str) -> bytes:
        """The whole current part, at most `limit` bytes (InvalidInput about `name` beyond)."""
        data = bytearray()
        while (chunk := await self.part_data()) is not None:
            data += chunk
            if len(data) > limit:
                raise InvalidInput(
                    f"the `{name}` part is over its limit of {limit // 1024} KiB", field=name
                )
        return bytes(data)

    async def skip_part(self) -> None:
        while await self.part_data() is not None:
            pass

    async def _next(self) -> _Event:
        while not self._events:
            chunk = await anext(self._chunks, None)
            if chunk is None:
                raise _malformed("the body ends before its closing boundary")
            self._count(len(chunk))
            try:
                self._parser.write(chunk)
            except FormParserError as exc:
                raise _malformed(str(exc)) from exc
        return self._events.popleft()

    async def _drain(self) -> None:
        """Read the epilogue after the closing boundary (ignored, but counted)."""
        async for chunk in self._chunks:
            self._count(len(chunk))

    def _count(self, size: int) -> None:
        self._received += size
        if self._received > self._limit:
            raise _too_large(self._max_bytes)

    # -- parser callbacks ----------------------------------------------------------------

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        content_type = self._headers.get(b"content-type")
        self._events.append(
            _Part(
                name=_text(options.get(b"name")),
                filename=_text(options.get(b"filename")),
                content_type=_text(content_type.strip()) if content_type else None,
            )
        )

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(data[start:end])


def _telling(head: bytes) -> bool:
    """Whether the file's beginning `head` is enough to sniff its format from."""
    if len(head) < len(UTF8_BOM) and UTF8_BOM.startswith(head):
        return False  # maybe the start of a byte order mark
    return bool(meaningful(head))


def _boundary(content_type: str | None) -> bytes:
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise InvalidInput(
            "send the upload as multipart/form-data, with the records in a `file` part",
            field="file",
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidInput("the multipart/form-data Content-Type has no boundary", field="file")
    if len(boundary) > 70:  # RFC 2046 §5.1.1
        raise InvalidInput("the multipart boundary is over 70 characters", field="file")
    return boundary


def _declared_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None  # absent (a chunked body), or for the server to refuse
    return int(value)


def _parse_metadata(data: bytes) -> dict[str, Any]:
    try:
        metadata = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(
            f"the `metadata` part is not valid JSON: {exc}", field="metadata"
        ) from exc
    if not isinstance(metadata, dict):
        raise InvalidInput(
            f"the `metadata` part is a JSON object, not {_json_type(metadata)}", field="metadata"
        )
    return metadata


def _declared_format(metadata: dict[str, Any]) -> str | None:
    """The metadata's `format`, checked (InvalidInput about `metadata.format`); None if absent."""
    declared = metadata.get("format")
    if declared is None:
        return None
    if not isinstance(declared, str):
        raise InvalidInput(
            f"`format` is a string (csv, ndjson or json), not {_json_type(declared)}",
            field="metadata.format",
        )
    upload_kind(None, None, b"", declared)  # refuses an unknown one
    return declared


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _text(value: bytes | None) -> str | None:
    """A header's bytes as text: UTF-8 as browsers send it, else Latin-1 (HTTP's own)."""
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _malformed(why: str) -> InvalidInput:
    return InvalidInput(f"the multipart body is malformed: {why}", field="file")


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the uploaded file is over the limit of {_size_text(max_bytes)} ({max_bytes} bytes)",
        limit=max_bytes,
    )


def _size_text(size: int) -> str:
    mib = size / (1024 * 1024)
    if mib >= 1:
        return f"{mib:g} MiB" if mib == int(mib) else f"{mib:.1f} MiB"
    return f"{size / 1024:g} KiB" if size >= 1024 else f"{size} bytes"
