"""A vendor's native bulk ingest (Salesforce's Bulk API 2.0 ingest): start a job, upload
its CSV, close it, follow its state, read its result CSVs.

The results are read whole (a job holds at most the element's `max_bytes` of CSV) and
answered as rows of text cells by column name, exactly as the vendor wrote them: the
caller matches them to the rows it uploaded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from interlink.elements.definition import BulkIngest, ElementDefinition
from interlink.errors import InvalidInput
from interlink.vendor.errors import FatalVendorError, RecordNotFound, VendorAuthError
from interlink.vendor.paths import lookup
from interlink.vendor.sending import Sender
from interlink.vendor.specs import fill_params, fill_path

IngestStatus = Literal["open", "running", "complete", "failed"]
ResultKind = Literal["successful", "failed", "unprocessed"]
CSV_CONTENT_TYPE = "text/csv"


@dataclass(frozen=True)
class IngestState:
    """Where a vendor's ingest job stands: `open` (taking data, nothing processed),
    `running`, `complete`, or `failed` (some rows may have been processed: read the
    results); `state` is the vendor's own word, `error` its reason for a failure."""

    id: str
    status: IngestStatus
    state: str
    error: str | None = None


def bulk_ingest_of(element: ElementDefinition, object_name: str) -> BulkIngest:
    obj = element.find_object(object_name)
    if obj is None or obj.bulk_ingest is None:
        raise InvalidInput(f"{object_name} has no native bulk ingest", field="object")
    return obj.bulk_ingest


@dataclass(frozen=True)
class NativeIngest:
    """The calls of one object's `bulk_ingest`, through the client's `Sender`."""

    element: ElementDefinition
    config: Mapping[str, Any]
    sender: Sender
    object_name: str
    spec: BulkIngest

    async def start(self, action: str, external_id: str | None) -> str:
        spec = self.spec
        operation = spec.operations.get(action)  # type: ignore[call-overload]
        if operation is None:
            raise InvalidInput(f"{self.object_name} has no native bulk {action}", field="action")
        body: dict[str, Any] = {
            **spec.body,
            spec.object_key: self.object_name,
            spec.operation_key: operation,
        }
        if action == "upsert" and spec.external_id_key is not None and external_id:
            body[spec.external_id_key] = external_id
        response = await self.sender.send(
            "ingest_start",
            self.object_name,
            spec.start.method,
            fill_path(spec.start.path, self.config),
            params=fill_params(spec.start, self.config),
            json=body,
        )
        found = lookup(self.sender.decode(response), spec.id_path)
        if isinstance(found, bool) or not isinstance(found, str | int) or found == "":
            raise FatalVendorError(
                f"{self._where('ingest_start')}: the answer has no job id at {spec.id_path!r}"
            )
        return str(found)

    async def upload(self, ingest_id: str, data: bytes) -> None:
        spec = self.spec.upload
        await self.sender.send(
            "ingest_upload",
            self.object_name,
            spec.method,
            self._path(spec.path, ingest_id),
            params=fill_params(spec, self.config),
            content=(data, CSV_CONTENT_TYPE),
        )

    async def close(self, ingest_id: str) -> None:
        await self._set_state(ingest_id, self.spec.close_body, "ingest_close")

    async def abort(self, ingest_id: str) -> None:
        await self._set_state(ingest_id, self.spec.abort_body, "ingest_abort")

    async def state(self, ingest_id: str) -> IngestState:
        spec = self.spec
        response = await self._missing(
            ingest_id,
            "ingest_status",
            spec.status.method,
            self._path(spec.status.path, ingest_id),
            params=fill_params(spec.status, self.config),
        )
        body = self.sender.decode(response)
        found = lookup(body, spec.status_path)
        if isinstance(found, bool) or not isinstance(found, str | int):
            raise FatalVendorError(
                f"{self._where('ingest_status')}: the answer has no state at {spec.status_path!r}"
            )
        state = str(found)
        if state in spec.open_values:
            return IngestState(ingest_id, "open", state)
        if state in spec.complete_values:
            return IngestState(ingest_id, "complete", state)
        if state in spec.failed_values:
            reason = lookup(body, "errorMessage")
            error = reason if isinstance(reason, str) and reason.strip() else None
            return IngestState(ingest_id, "failed", state, error or f"the job is {state}")
        return IngestState(ingest_id, "running", state)

    async def results(self, ingest_id: str, kind: ResultKind) -> list[dict[str, str]]:
        """One result CSV of the job, as rows of text cells by column name."""
        spec = {
            "successful": self.spec.successful_results,
            "failed": self.spec.failed_results,
            "unprocessed": self.spec.unprocessed_results,
        }[kind]
        if spec is None:
            return []
        response = await self._missing(
            ingest_id,
            f"ingest_{kind}_results",
            spec.method,
            self._path(spec.path, ingest_id),
            params=fill_params(spec, self.config),
        )
        where = f"{self._where('ingest_results')}, {kind}"
        try:
            text = response.content.decode("utf-8-sig")
            reader = csv.reader(io.StringIO(text, newline=""), strict=True)
            rows = list(reader)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FatalVendorError(f"{where}: the results are not CSV ({exc})") from exc
        if not rows:
            return []
        header, *lines = rows
        answered: list[dict[str, str]] = []
        for number, cells in enumerate(lines, start=2):
            if not cells or (cells == [""] and len(header) > 1):
                continue
            if len(cells) != len(header):
                raise FatalVendorError(
                    f"{where}: line {number} has {len(cells)} cells, the header {len(header)}"
                )
            answered.append(dict(zip(header, cells, strict=True)))
        return answered

    async def _set_state(self, ingest_id: str, body: dict[str, Any], operation: str) -> None:
        spec = self.spec.close
        await self._missing(
            ingest_id,
            operation,
            spec.method,
            self._path(spec.path, ingest_id),
            params=fill_params(spec, self.config),
            json=dict(body),
        )

    async def _missing(
        self,
        ingest_id: str,
        operation: str,
        method: Any,
        path: str,
        *,
        params: Mapping[str, str],
        json: Any = None,
    ) -> Any:
        # A 404 here means the job is gone (or never was): the caller tells it apart.
        try:
            return await self.sender.send(
                operation, self.object_name, method, path, params=params, json=json
            )
        except FatalVendorError as error:
            if error.status != 404 or isinstance(error, VendorAuthError | RecordNotFound):
                raise
            raise RecordNotFound(
                f"{error.summary} (no ingest job {ingest_id!r})",
                status=error.status,
                vendor_message=error.vendor_message,
                body=error.body,
            ) from error

    def _path(self, template: str, ingest_id: str) -> str:
        return fill_path(template, self.config, {"ingest_id": ingest_id})

    def _where(self, operation: str) -> str:
        return f"{self.element.key}: {operation} {self.object_name}"
