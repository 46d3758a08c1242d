"""Rows through the vendor's native bulk ingest (the element's `bulk_ingest`): one ingest
job per chunk of rows, uploaded as CSV, its results mapped back to the rows.

**Mapping results to rows.** The vendor answers its results in any order, each result
echoing the uploaded columns after its own (`sf__Id`, `sf__Created` / `sf__Error`). A
column carrying the row number would be refused (it is no field of the object), so a
result is matched to a row by its echoed cells, in order of appearance: rows with the
same cells asked for the same thing, so which of them is given which of their results
cannot matter (each still gets one, with its own row number). A chunk never holds two
rows with the same identifier value or id (as with batches): rows naming one record are
applied in file order, chunk after chunk. A row no result names (the vendor
normalized a value, or dropped the job) gets an error saying its outcome is unknown:
every row still gets exactly one outcome.

**Crash safety.** The job's id goes into the upload's checkpoint (`ingest`: the id and
the chunk's first and last row) after the job is created and before any data is
uploaded. A resumed run reads that chunk's rows again and, instead of starting a new
job, follows the stored one and reads its results. A job still open (the run died
before closing it) has processed nothing: it is aborted and the chunk gets a new job.
An upload or close the vendor refuses is looked into the same way: a job still open is
aborted and its rows fail with the vendor's reason; one that is not (a retried call
whose first answer was lost) is followed to its results.

An update or delete row named by its identifier only goes through the applier after
the job (the ingest needs the vendor's id); so do, in `run.py`, rows a crashed run may
have sent through the applier (its in-flight window).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from interlink.bulk.formats import Row
from interlink.bulk.upload.apply import PAST, Applier, Prepared
from interlink.bulk.upload.outcomes import Outcome, failed
from interlink.elements.definition import BulkIngest, ObjectDefinition
from interlink.vendor import VendorClient
from interlink.vendor.errors import FatalVendorError, RecordNotFound, VendorAuthError
from interlink.vendor.ingest import IngestState, NativeIngest

# Waiting for the vendor's job between two looks at its state (tests make it instant).
sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep


def ingest_for(obj: ObjectDefinition, action: str) -> BulkIngest | None:
    """The object's bulk ingest when it takes this action."""
    spec = obj.bulk_ingest
    return spec if spec is not None and action in spec.operations else None


class ChunkBuilder:
    """Rows for one ingest job: at most `max_rows` rows and about `max_bytes` of CSV,
    no identifier value (or id) twice."""

    def __init__(self, spec: BulkIngest, applier: Applier, action: str, id_field: str) -> None:
        self._spec = spec
        self._applier = applier
        self._action = action
        self._id_field = id_field
        self.rows: list[Row] = []
        self._keys: set[str] = set()
        self._columns: set[str] = set()
        self._bytes = 0

    def accepts(self, row: Row) -> bool:
        if not self.rows:
            return True
        if len(self.rows) >= self._spec.max_rows:
            return False
        prepared = self._applier.prepare(row)
        if isinstance(prepared, Outcome):
            return True
        key = prepared.key or prepared.target
        if key is not None and key in self._keys:
            return False
        cells = csv_cells(prepared, self._action, self._id_field, self._spec.null_value)
        if isinstance(cells, str):
            return True
        columns = self._columns | cells.keys()
        size = self._bytes + _line_bytes(cells) + len(columns) * (len(self.rows) + 2)
        return size + sum(len(c) + 3 for c in columns) <= self._spec.max_bytes

    def add(self, row: Row) -> None:
        self.rows.append(row)
        prepared = self._applier.prepare(row)
        if isinstance(prepared, Outcome):
            return
        key = prepared.key or prepared.target
        if key is not None:
            self._keys.add(key)
        cells = csv_cells(prepared, self._action, self._id_field, self._spec.null_value)
        if not isinstance(cells, str):
            self._columns |= cells.keys()
            self._bytes += _line_bytes(cells)


class Ingester:
    """One chunk of rows through one ingest job; one outcome per row, in row order."""

    def __init__(
        self,
        client: VendorClient,
        object_name: str,
        obj: ObjectDefinition,
        spec: BulkIngest,
        applier: Applier,
        *,
        action: str,
        identifier: str | None,
    ) -> None:
        self._native: NativeIngest = client.ingest(object_name)
        self._obj = obj
        self.spec = spec
        self._applier = applier
        self._action = action
        self._external_id = identifier or obj.id_field
        self.jobs_started = 0

    def builder(self) -> ChunkBuilder:
        return ChunkBuilder(self.spec, self._applier, self._action, self._obj.id_field)

    async def apply(
        self,
        rows: list[Row],
        existing: str | None,
        on_started: Callable[[str], Awaitable[None]],
    ) -> list[Outcome]:
        """`existing`: the job a previous run started for exactly these rows. `on_started`
        is awaited with a new job's id before any data is uploaded to it."""
        outcomes: dict[int, Outcome] = {}
        carried: list[tuple[Prepared, dict[str, str]]] = []
        aside: list[Row] = []
        for row in rows:
            prepared = self._applier.prepare(row)
            if isinstance(prepared, Outcome):
                outcomes[row.number] = prepared
                continue
            if self._action in ("update", "delete") and prepared.target is None:
                aside.append(row)  # named by its identifier only: the ingest needs the id
                continue
            cells = csv_cells(prepared, self._action, self._obj.id_field, self.spec.null_value)
            if isinstance(cells, str):
                outcomes[row.number] = failed(row.number, row.record, cells)
            else:
                carried.append((prepared, cells))
        if carried:
            for outcome in await self._ingest(carried, existing, on_started):
                outcomes[outcome.row] = outcome
        if aside:
            # Applied again after a crash only as updates and deletes are: idempotently.
            resumed = existing is not None
            for outcome in await self._applier.apply(aside, lambda _: resumed):
                outcomes[outcome.row] = outcome
        return [outcomes[row.number] for row in rows]

    async def _ingest(
        self,
        carried: list[tuple[Prepared, dict[str, str]]],
        existing: str | None,
        on_started: Callable[[str], Awaitable[None]],
    ) -> list[Outcome]:
        header = _header(cells for _, cells in carried)
        job_id = existing
        if job_id is not None:
            try:
                state = await self._native.state(job_id)
            except RecordNotFound:
                return self._all_failed(
                    carried,
                    f"the vendor no longer knows ingest job {job_id}: whether this row was "
                    "applied is unknown",
                )
            if state.status == "open":
                # Nothing of an open job is processed: drop it, ingest the chunk anew.
                await self._native.abort(job_id)
                job_id = None
        if job_id is None:
            try:
                job_id = await self._native.start(self._action, self._external_id)
            except VendorAuthError:
                raise
            except FatalVendorError as exc:
                return self._all_failed(carried, str(exc))
            self.jobs_started += 1
            await on_started(job_id)
            try:
                await self._native.upload(job_id, _csv(header, [c for _, c in carried]))
                await self._native.close(job_id)
            except VendorAuthError:
                raise
            except FatalVendorError as exc:
                # A retried call whose first answer was lost may be refused although it
                # took effect: only a job still open has surely processed nothing.
                if (await self._native.state(job_id)).status != "open":
                    return await self._outcomes(carried, header, await self._finished(job_id))
                await self._native.abort(job_id)
                return self._all_failed(carried, str(exc))
        state = await self._finished(job_id)
        return await self._outcomes(carried, header, state)

    async def _finished(self, job_id: str) -> IngestState:
        while True:
            state = await self._native.state(job_id)
            if state.status in ("complete", "failed"):
                return state
            await sleep(self.spec.poll_interval_seconds)

    async def _outcomes(
        self,
        carried: list[tuple[Prepared, dict[str, str]]],
        header: list[str],
        state: IngestState,
    ) -> list[Outcome]:
        spec = self.spec
        waiting: dict[tuple[str, ...], deque[Prepared]] = defaultdict(deque)
        for prepared, cells in carried:
            waiting[tuple(cells.get(column, "") for column in header)].append(prepared)
        outcomes: list[Outcome] = []

        def take(result: dict[str, str]) -> Prepared | None:
            queue = waiting.get(tuple(result.get(column, "") for column in header))
            return queue.popleft() if queue else None

        for result in await self._native.results(state.id, "successful"):
            found = take(result)
            if found is None:
                continue
            created = spec.created_column is not None and (
                result.get(spec.created_column, "").lower() == "true"
            )
            outcome = (
                ("created" if created else "updated")
                if self._action == "upsert"
                else PAST[self._action]
            )
            outcomes.append(
                Outcome(
                    row=found.row.number,
                    outcome=outcome,
                    id=result.get(spec.id_column) or found.target,
                )
            )
        for result in await self._native.results(state.id, "failed"):
            refused = take(result)
            if refused is not None:
                error = result.get(spec.error_column) or "rejected by the vendor"
                outcomes.append(failed(refused.row.number, refused.row.record, error))
        for result in await self._native.results(state.id, "unprocessed"):
            left = take(result)
            if left is not None:
                outcomes.append(
                    failed(
                        left.row.number,
                        left.row.record,
                        f"not processed: the vendor's ingest job {state.id} ended "
                        f"{state.state} ({state.error or 'no reason given'})",
                    )
                )
        for queue in waiting.values():
            for prepared in queue:
                outcomes.append(
                    failed(
                        prepared.row.number,
                        prepared.row.record,
                        f"the results of the vendor's ingest job {state.id} "
                        f"({state.state}) do not name this row: its outcome is unknown",
                    )
                )
        return outcomes

    @staticmethod
    def _all_failed(carried: list[tuple[Prepared, dict[str, str]]], error: str) -> list[Outcome]:
        return [failed(p.row.number, p.row.record, error) for p, _ in carried]


# --- the CSV ---------------------------------------------------------------------------------


def csv_cells(
    prepared: Prepared, action: str, id_field: str, null_value: str
) -> dict[str, str] | str:
    """The row's cells by column (nested objects as dotted columns), or why it cannot go
    in a CSV (a list value)."""
    cells: dict[str, str] = {}
    if action != "create" and prepared.target is not None:
        cells[id_field] = prepared.target
    if action == "delete":
        return cells

    def add(prefix: str, value: Any) -> str | None:
        if isinstance(value, dict):
            for name, item in value.items():
                problem = add(f"{prefix}.{name}", item)
                if problem:
                    return problem
            return None
        if isinstance(value, list | tuple):
            return f"{prefix}: a list cannot be sent in the vendor's CSV"
        if value is None:
            cells[prefix] = null_value
        elif isinstance(value, bool):
            cells[prefix] = "true" if value else "false"
        else:
            cells[prefix] = str(value)
        return None

    for name, value in prepared.body.items():
        problem = add(str(name), value)
        if problem:
            return problem
    return cells


def _header(rows: Any) -> list[str]:
    seen: dict[str, None] = {}
    for cells in rows:
        for column in cells:
            seen.setdefault(column, None)
    return list(seen)


def _csv(header: list[str], rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for cells in rows:
        writer.writerow([cells.get(column, "") for column in header])
    return buffer.getvalue().encode()


def _line_bytes(cells: dict[str, str]) -> int:
    # Quoted with doubled quotes at worst, a comma each.
    return sum(len(value.encode()) * 2 + 3 for value in cells.values()) + 1
