"""A vendor's native bulk export: start it, follow its state, stream its NDJSON file.

An export the vendor no longer knows (expired, or never existed) raises `RecordNotFound`
from both `state` and `records`: the one thing asked for by id is missing, as with `get`.
The caller tells it apart from a failing vendor and starts a new export.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, aclosing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from interlink.elements.definition import (
    BulkExport,
    ElementDefinition,
    ObjectDefinition,
    SchemaField,
)
from interlink.elements.record_schema import convert
from interlink.errors import InvalidInput
from interlink.vendor.errors import (
    MAX_MESSAGE_CHARS,
    FatalVendorError,
    RecordNotFound,
    VendorAuthError,
    decode_json,
)
from interlink.vendor.hooks import ExportContext, Hooks
from interlink.vendor.paths import lookup
from interlink.vendor.records import normalize_record
from interlink.vendor.sending import Sender
from interlink.vendor.specs import body_argument, fill_params, fill_path, wrap_body
from interlink.vendor.times import format_time

# A record far larger than any CRM's; past it a line is a broken file, not a record, and
# buffering on would let one missing newline hold the whole download in memory.
MAX_LINE_BYTES = 16 * 1024 * 1024

ExportStatus = Literal["running", "complete", "failed"]


@dataclass(frozen=True)
class ExportState:
    """Where a vendor's export stands; `error` is the vendor's reason once it `failed`."""

    id: str
    status: ExportStatus
    error: str | None = None


def bulk_export_of(obj: ObjectDefinition, object_name: str) -> BulkExport:
    if obj.bulk_export is None:
        raise InvalidInput(f"{object_name} has no native bulk export", field="native")
    return obj.bulk_export


@dataclass(frozen=True)
class NativeExport:
    """The calls of one object's `bulk_export`, through the client's `Sender`."""

    element: ElementDefinition
    config: Mapping[str, Any]
    sender: Sender
    hooks: Hooks
    object_name: str
    obj: ObjectDefinition
    spec: BulkExport

    async def start(self, updated_since: datetime | None) -> str:
        spec = self.spec
        body: dict[str, Any] = {spec.object_key: self.object_name}
        if updated_since is not None and spec.since_key is not None:
            # The object's changed-since format: the vendor writes its times one way.
            time_format = self.obj.changed_since.format if self.obj.changed_since else "rfc3339"
            body[spec.since_key] = format_time(updated_since, time_format)
        body = self.hooks.prepare_export(
            body, ExportContext(self.element, self.object_name, updated_since)
        )
        response = await self.sender.send(
            "export_start",
            self.object_name,
            spec.start.method,
            fill_path(spec.start.path, self.config),
            params=fill_params(spec.start, self.config),
            **body_argument(spec.start, wrap_body(spec.start, body)),
        )
        found = lookup(self.sender.decode(response), spec.id_path)
        if isinstance(found, bool) or not isinstance(found, str | int) or found == "":
            raise FatalVendorError(
                f"{self._where('export_start')}: the answer has no export id at {spec.id_path!r}"
            )
        return str(found)

    async def state(self, export_id: str) -> ExportState:
        spec = self.spec
        with self._missing_export(export_id):
            response = await self.sender.send(
                "export_status",
                self.object_name,
                spec.status.method,
                self._path(spec.status.path, export_id),
                params=fill_params(spec.status, self.config),
            )
        body = self.sender.decode(response)
        found = lookup(body, spec.status_path)
        if isinstance(found, bool) or not isinstance(found, str | int):
            # Read as "running", a misread answer would be polled for ever.
            raise FatalVendorError(
                f"{self._where('export_status')}: the answer has no status at {spec.status_path!r}"
            )
        status = str(found)
        if status in spec.complete_values:
            return ExportState(export_id, "complete")
        if status in spec.failed_values:
            reason = _message(body, self.element.errors.message_paths)
            return ExportState(export_id, "failed", reason or f"the vendor's export is {status}")
        return ExportState(export_id, "running")

    async def records(self, export_id: str) -> AsyncGenerator[dict[str, Any], None]:
        """The file's records one at a time, read as they arrive (constant memory); with
        a `locator_header`, page after page until the vendor names no next one."""
        spec = self.spec
        where = self._where("export_download")
        locator: str | None = None
        seen: set[str] = set()
        page = 1
        while True:
            params = fill_params(spec.download, self.config)
            if locator is not None:
                params[spec.locator_param] = locator
            page_where = where if page == 1 else f"{where}, page {page}"
            async with AsyncExitStack() as stack:
                with self._missing_export(export_id):
                    response = await stack.enter_async_context(
                        self.sender.stream(
                            "export_download",
                            self.object_name,
                            spec.download.method,
                            self._path(spec.download.path, export_id),
                            params=params,
                        )
                    )
                following = (
                    None
                    if spec.locator_header is None
                    else response.headers.get(spec.locator_header)
                )
                # Closed with the download, not left for the garbage collector, when the
                # caller stops early.
                parsed = await stack.enter_async_context(
                    aclosing(self._parsed(response.aiter_bytes(), page_where))
                )
                async for number, record in parsed:
                    yield normalize_record(
                        self.object_name,
                        record,
                        self.obj.id_field,
                        self.hooks,
                        where=f"{page_where}, line {number}",
                    )
            if following is None or following.strip() in spec.locator_end_values:
                return
            if following in seen:
                raise FatalVendorError(f"{where}: the vendor named the same page twice")
            seen.add(following)
            locator, page = following, page + 1

    async def _parsed(
        self, chunks: AsyncIterator[bytes], where: str
    ) -> AsyncGenerator[tuple[int, dict[str, Any]], None]:
        if self.spec.download_format == "csv":
            async with aclosing(csv_records(chunks, self.obj, where=where)) as records:
                async for number, record in records:
                    yield number, record
            return
        async with aclosing(ndjson_lines(chunks, where=where)) as lines:
            async for number, line in lines:
                yield number, parse_line(line, number, where=where)

    def _path(self, template: str, export_id: str) -> str:
        return fill_path(template, self.config, {"export_id": export_id})

    def _where(self, operation: str) -> str:
        return f"{self.element.key}: {operation} {self.object_name}"

    @contextmanager
    def _missing_export(self, export_id: str) -> Iterator[None]:
        # A 404 on these calls means the export is gone. The one classification sees a
        # collection-level call and calls it fatal; the caller needs to tell it apart.
        try:
            yield
        except FatalVendorError as error:
            if error.status != 404 or isinstance(error, VendorAuthError | RecordNotFound):
                raise
            raise RecordNotFound(
                f"{error.summary} (no export {export_id!r}: expired or unknown)",
                status=error.status,
                vendor_message=error.vendor_message,
                body=error.body,
                retry_after=error.retry_after,
            ) from error


async def ndjson_lines(
    chunks: AsyncIterator[bytes], *, where: str, max_line_bytes: int = MAX_LINE_BYTES
) -> AsyncGenerator[tuple[int, bytes], None]:
    """`(line number, line)` of every non-blank line, counted from 1 over every line."""
    pending = bytearray()
    number = 0
    async for chunk in chunks:
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            number += 1
            pending += piece
            if len(pending) > max_line_bytes:
                raise _too_long(number, max_line_bytes, where)
            if pending.strip():
                yield number, bytes(pending)
            pending.clear()
        pending += rest
        if len(pending) > max_line_bytes:
            raise _too_long(number + 1, max_line_bytes, where)
    if pending.strip():  # a last line without its newline
        yield number + 1, bytes(pending)


async def csv_records(
    chunks: AsyncIterator[bytes],
    obj: ObjectDefinition,
    *,
    where: str,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> AsyncGenerator[tuple[int, dict[str, Any]], None]:
    """`(line number, record)` of a CSV file with a header row (RFC 4180, UTF-8).

    A record may span lines inside a quoted cell. An empty cell is `None` (CSV cannot tell
    null from an empty text; vendors write null as nothing); a dotted header (`Owner.Name`)
    builds a nested object; cells of the object's declared fields take their types.
    """
    schema = {field.name: field for field in obj.fields or []}
    header: list[str] | None = None
    pending: list[bytes] = []
    first_line = 0
    async for number, line in _physical_lines(chunks, where=where, max_line_bytes=max_line_bytes):
        if not pending:
            first_line = number
        pending.append(line)
        joined = b"\n".join(pending)
        if joined.count(b'"') % 2:
            if len(joined) > max_line_bytes:
                raise _too_long(first_line, max_line_bytes, where)
            continue  # inside a quoted cell: the record goes on
        pending.clear()
        try:
            text = joined.decode("utf-8-sig" if header is None else "utf-8")
            (cells,) = list(csv.reader([text], strict=True)) or [[]]
        except (UnicodeDecodeError, csv.Error, ValueError) as exc:
            raise FatalVendorError(f"{where}: line {first_line} is not CSV ({exc})") from exc
        if header is None:
            header = cells
            continue
        if cells == [] or (cells == [""] and len(header) > 1):
            continue
        if len(cells) != len(header):
            raise FatalVendorError(
                f"{where}: line {first_line} has {len(cells)} cells, the header {len(header)}"
            )
        yield first_line, _csv_record(header, cells, schema, where=f"{where}, line {first_line}")
    if pending:
        raise FatalVendorError(f"{where}: line {first_line} ends inside a quoted cell")


def _csv_record(
    header: list[str], cells: list[str], schema: Mapping[str, SchemaField], *, where: str
) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        value: Any = None if cell == "" else cell
        field = schema.get(name)
        if field is not None and value is not None:
            try:
                value = convert(field, value)
            except InvalidInput as exc:
                raise FatalVendorError(f"{where}: {exc}") from exc
        *parents, leaf = name.split(".")
        node = record
        for parent in parents:
            child = node.setdefault(parent, {})
            if not isinstance(child, dict):
                raise FatalVendorError(f"{where}: column {name!r} nests under a value")
            node = child
        node[leaf] = value
    return record


async def _physical_lines(
    chunks: AsyncIterator[bytes], *, where: str, max_line_bytes: int
) -> AsyncGenerator[tuple[int, bytes], None]:
    """Every line (blank ones too, for quoted cells), without its `\\n` or `\\r\\n`."""
    pending = bytearray()
    number = 0
    async for chunk in chunks:
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            number += 1
            pending += piece
            if len(pending) > max_line_bytes:
                raise _too_long(number, max_line_bytes, where)
            yield number, bytes(pending).removesuffix(b"\r")
            pending.clear()
        pending += rest
        if len(pending) > max_line_bytes:
            raise _too_long(number + 1, max_line_bytes, where)
    if pending:
        yield number + 1, bytes(pending).removesuffix(b"\r")


def parse_line(line: bytes, number: int, *, where: str) -> dict[str, Any]:
    try:
        record = decode_json(line)  # as list pages are decoded
    except ValueError as exc:
        raise FatalVendorError(f"{where}: line {number} is not JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise FatalVendorError(f"{where}: line {number} is not a JSON object")
    return record


def _too_long(number: int, limit: int, where: str) -> FatalVendorError:
    return FatalVendorError(f"{where}: line {number} is longer than {limit} bytes")


def _message(body: Any, message_paths: list[str]) -> str | None:
    """The vendor's words for a failed export: the first text at one of the message paths."""
    for path in message_paths:
        found = lookup(body, path)
        if isinstance(found, str) and found.strip():
            text = " ".join(found.split())
            return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
    return None
