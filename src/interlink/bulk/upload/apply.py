"""Applying rows to the vendor: through its native batch endpoint where it has one for the
action, otherwise record by record with bounded concurrency.

Rows that share an identifier value are applied in file order (a batch never holds two
of them; record by record, they run one after the other). A vendor's refusal of a row is
that row's error. A vendor that stays unavailable raises (`RetryableVendorError`): the
job pauses and resumes from its checkpoint.

Rows marked uncertain (a previous run may have sent them before it died) are checked
before they act twice: a create first looks its identifier up, or counts the vendor's
"duplicate" answer naming the existing record as its own earlier success; a delete that
finds nothing counts as done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interlink.bulk.formats import Row
from interlink.bulk.upload.outcomes import Outcome, failed
from interlink.ceql import lookup
from interlink.elements.definition import ObjectDefinition
from interlink.elements.record_schema import check_write
from interlink.errors import InvalidInput
from interlink.vendor import VendorClient
from interlink.vendor.batch import BatchOutcome
from interlink.vendor.errors import (
    FatalVendorError,
    RecordNotFound,
    RecordRejected,
    VendorAuthError,
    VendorError,
)

PAST = {"create": "created", "update": "updated", "delete": "deleted"}


@dataclass(frozen=True)
class Prepared:
    """A row ready to send: the body, the id it targets (if it names one), its identifier."""

    row: Row
    body: dict[str, Any]
    target: str | None
    key: str | None  # the identifier's value, as text


class Applier:
    def __init__(
        self,
        client: VendorClient,
        object_name: str,
        obj: ObjectDefinition,
        *,
        action: str,
        identifier: str | None,
        concurrency: int,
        duplicate_id_paths: list[str],
    ) -> None:
        self._client = client
        self._object = object_name
        self._obj = obj
        self._action = action
        self._identifier = identifier
        self._gate = asyncio.Semaphore(concurrency)
        self._duplicate_paths = duplicate_id_paths
        batch = obj.batch
        self.native = batch is not None and action in batch.actions
        self.chunk_size = batch.max_size if batch is not None and self.native else 100

    async def apply(self, rows: list[Row], uncertain: Callable[[int], bool]) -> list[Outcome]:
        """One outcome per row, in row order."""
        outcomes: dict[int, Outcome] = {}
        ready: list[Prepared] = []
        for row in rows:
            prepared = self._prepare(row)
            if isinstance(prepared, Outcome):
                outcomes[row.number] = prepared
            else:
                ready.append(prepared)
        checked = [p for p in ready if uncertain(p.row.number)]
        fresh = [p for p in ready if not uncertain(p.row.number)]
        # Uncertain rows go one by one: each is checked on its own before it acts again.
        for outcome in await self._one_by_one(checked, uncertain=True):
            outcomes[outcome.row] = outcome
        sent = await (
            self._batches(fresh) if self.native else self._one_by_one(fresh, uncertain=False)
        )
        for outcome in sent:
            outcomes[outcome.row] = outcome
        return [outcomes[row.number] for row in rows]

    # -- preparing a row -----------------------------------------------------------------

    def prepare(self, row: Row) -> Prepared | Outcome:
        """The row ready to send, or its outcome when it cannot be sent at all."""
        return self._prepare(row)

    def _prepare(self, row: Row) -> Prepared | Outcome:
        if not row.ok or row.record is None:
            return failed(row.number, row.raw, row.error or "unreadable row")
        record = dict(row.record)
        raw_id = record.pop(self._obj.id_field, None) if self._action != "create" else None
        target = None if raw_id in (None, "") else str(raw_id)
        key_value = lookup(row.record, self._identifier) if self._identifier else None
        key = None if key_value in (None, "") else str(key_value)
        try:
            body = check_write(self._obj, record, partial=self._action != "create")
        except InvalidInput as exc:
            return failed(row.number, row.record, str(exc))
        if self._action in ("update", "delete") and target is None and key is None:
            needs = f"'{self._obj.id_field}'" + (
                f" or '{self._identifier}'" if self._identifier else ""
            )
            return failed(row.number, row.record, f"a row to {self._action} needs {needs}")
        if self._action == "upsert" and target is None and key is None and self._identifier:
            return failed(row.number, row.record, f"a row to upsert needs '{self._identifier}'")
        return Prepared(row, body, target, key)

    # -- native batches --------------------------------------------------------------------

    async def _batches(self, ready: list[Prepared]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for group in _without_repeated_keys(ready, self.chunk_size):
            outcomes += await self._batch(group)
        return outcomes

    async def _batch(self, group: list[Prepared]) -> list[Outcome]:
        id_property = self._identifier if self._action != "create" else None
        inputs: list[dict[str, Any]] = []
        for prepared in group:
            item = dict(prepared.body)
            if prepared.target is not None:
                item[self._obj.id_field] = prepared.target
            inputs.append(item)
        if id_property is None and self._action != "create":
            id_property = self._obj.id_field
        try:
            answers = await self._client.batch(self._object, self._action, inputs, id_property)  # type: ignore[arg-type]
        except VendorAuthError:
            raise
        except FatalVendorError as exc:
            # The vendor refused the call as a whole: each of its rows says why.
            return [failed(p.row.number, p.row.record, str(exc)) for p in group]
        return [self._batch_outcome(p, answer) for p, answer in zip(group, answers, strict=True)]

    def _batch_outcome(self, prepared: Prepared, answer: BatchOutcome) -> Outcome:
        row = prepared.row.number
        if not answer.ok:
            return failed(row, prepared.row.record, answer.error or "rejected")
        if self._action == "upsert":
            outcome = "created" if str(answer.status) == "201" else "updated"
        else:
            outcome = PAST[self._action]
        return Outcome(row=row, outcome=outcome, id=answer.id or prepared.target)

    # -- record by record --------------------------------------------------------------------

    async def _one_by_one(self, ready: list[Prepared], *, uncertain: bool) -> list[Outcome]:
        """Rows of one identifier value in file order; different values concurrently."""
        if not ready:
            return []
        chains: dict[str, list[Prepared]] = {}
        for prepared in ready:
            chain = prepared.key or prepared.target or f"row:{prepared.row.number}"
            chains.setdefault(chain, []).append(prepared)

        async def run(chain: list[Prepared]) -> list[Outcome]:
            return [await self._one(prepared, uncertain=uncertain) for prepared in chain]

        results: list[Outcome] = []
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(run(chain)) for chain in chains.values()]
        except ExceptionGroup as errors:
            # What stopped the rows (the vendor unavailable, credentials refused) is the
            # same for all of them: raise it as itself, for the job to act on.
            raise errors.exceptions[0] from None
        for task in tasks:
            results += task.result()
        return results

    async def _one(self, prepared: Prepared, *, uncertain: bool) -> Outcome:
        row, record = prepared.row.number, prepared.row.record
        async with self._gate:
            try:
                return await self._act(prepared, uncertain=uncertain)
            except RecordRejected as exc:
                return failed(row, record, str(exc))
            except _Ambiguous as exc:
                return failed(row, record, str(exc))

    async def _act(self, prepared: Prepared, *, uncertain: bool) -> Outcome:
        row = prepared.row.number
        action = self._action
        if action == "create":
            if uncertain and prepared.key is not None:
                found = await self._find(prepared.key)
                if found is not None:
                    return Outcome(row=row, outcome="created", id=found)
            try:
                created = await self._client.create(self._object, prepared.body)
            except RecordRejected as exc:
                existing = self._duplicate_of(exc) if uncertain else None
                if existing is None:
                    raise
                return Outcome(row=row, outcome="created", id=existing)
            return Outcome(row=row, outcome="created", id=str(created.get("id")))
        target = prepared.target
        if target is None and prepared.key is not None:
            target = await self._find(prepared.key)
        if action == "upsert":
            if target is None:
                created = await self._client.create(self._object, prepared.body)
                return Outcome(row=row, outcome="created", id=str(created.get("id")))
            await self._client.update(self._object, target, prepared.body)
            return Outcome(row=row, outcome="updated", id=target)
        if target is None:
            raise RecordNotFound(f"no record with {self._identifier} = {prepared.key!r}")
        if action == "update":
            await self._client.update(self._object, target, prepared.body)
            return Outcome(row=row, outcome="updated", id=target)
        try:
            await self._client.delete(self._object, target)
        except RecordNotFound:
            if not uncertain:
                raise
        return Outcome(row=row, outcome="deleted", id=target)

    async def _find(self, key: str) -> str | None:
        """The id of the one record whose identifier is `key`, None if there is none."""
        assert self._identifier is not None
        page = await self._client.list_page(
            self._object, filters={self._identifier: key}, page_size=2
        )
        if len(page.records) > 1 or (page.records and page.next_state is not None):
            raise _Ambiguous(f"{self._identifier} = {key!r} matches more than one record")
        return str(page.records[0]["id"]) if page.records else None

    def _duplicate_of(self, error: VendorError) -> str | None:
        for path in self._duplicate_paths:
            found = lookup(error.body, path) if isinstance(error.body, dict) else None
            if isinstance(found, str | int) and not isinstance(found, bool) and str(found):
                return str(found)
        return None


class _Ambiguous(Exception):
    """An identifier value that matches several records: that row's error."""


def _without_repeated_keys(ready: list[Prepared], size: int) -> list[list[Prepared]]:
    """Consecutive groups of at most `size`, none holding one identifier value twice
    (a vendor may apply one batch's inputs in any order)."""
    groups: list[list[Prepared]] = []
    current: list[Prepared] = []
    keys: set[str] = set()
    for prepared in ready:
        key = prepared.key or prepared.target
        if len(current) >= size or (key is not None and key in keys):
            groups.append(current)
            current, keys = [], set()
        current.append(prepared)
        if key is not None:
            keys.add(key)
    if current:
        groups.append(current)
    return groups
