"""The records of one object, with the indexes that serve every listing order in O(log n)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from sortedcontainers import SortedList

from interlink.sandbox.cursors import BY_DELETED, BY_ID, BY_UPDATED, decode_cursor, encode_cursor
from interlink.sandbox.errors import BadRequest, DuplicateRecord, NotFoundError
from interlink.sandbox.schema import ObjectSchema
from interlink.sandbox.timestamps import Clock, parse_timestamp

MAX_PAGE_SIZE = 100

# Records are never changed in place: a write stores a new dict. A record handed out (to a
# page, a webhook event, an export snapshot) is therefore a stable snapshot, safe to read
# later or from an export thread without copying.
Record = Mapping[str, Any]
ChangeKind = Literal["created", "updated", "deleted"]


@dataclass(frozen=True)
class Change:
    """One create, update or delete, as the webhook dispatcher hears of it."""

    schema: ObjectSchema
    kind: ChangeKind
    record: Record  # for a deletion, the record as it was last
    occurred_at: str

    @property
    def event_type(self) -> str:
        """`contact.created`, `company.deleted`, …"""
        return f"{self.schema.singular}.{self.kind}"


@dataclass(frozen=True)
class Page:
    """One page of a listing and the cursor to the next, None on the last page."""

    results: list[Record]
    next_cursor: str | None


class Collection:
    """Records by id, plus sorted indexes by id, (updated_at, id) and (deleted_at, id).

    Ids are a prefix and a zero-padded counter, so string order is creation order and new
    ids always land at the end of the id index.
    """

    def __init__(self, schema: ObjectSchema, clock: Clock, on_change: Callable[[Change], None]):
        self.schema = schema
        self._clock = clock
        self._on_change = on_change
        self._records: dict[str, dict[str, Any]] = {}  # insertion order is id order
        self._by_id = SortedList()
        self._by_updated = SortedList()  # (updated_at, id): timestamps tie, ids break ties
        self._deleted = SortedList()  # (deleted_at, id)
        self._unique: dict[str, dict[Any, str]] = {field: {} for field in schema.unique_fields}
        self._last_number = 0

    def __len__(self) -> int:
        return len(self._records)

    # Reads

    def get(self, record_id: str) -> Record:
        """The record with that id; 404 if there is none (or it was deleted)."""
        record = self._records.get(record_id)
        if record is None:
            raise NotFoundError(f"no {self.schema.singular} with id '{record_id}'")
        return record

    def find(self, field: str, value: Any) -> Record | None:
        """The record whose `field` (`id` or a unique field) equals `value`, if any."""
        if field == "id":
            return self._records.get(value) if isinstance(value, str) else None
        index = self._unique.get(field)
        if index is None:
            raise BadRequest(f"'{field}' is not a unique property of {self.schema.name}")
        record_id = index.get(value)
        return None if record_id is None else self._records[record_id]

    def page(
        self,
        *,
        limit: int = MAX_PAGE_SIZE,
        cursor: str | None = None,
        updated_since: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> Page:
        """A page in id order, or with `updated_since` (inclusive) in (updated_at, id) order.

        `filters` are equalities on fields; on `id` or a unique field they are answered from
        the index, on other fields by scanning in order until the page is full.
        """
        _check_limit(limit)
        filters = dict(filters or {})
        for field in filters:
            if field != "id" and field not in self.schema.fields:
                raise BadRequest(f"unknown parameter '{field}' for {self.schema.name}")
        if updated_since is None:
            order, key_of = BY_ID, _id_key
            bound = _Bound((), True)
            if cursor is not None:
                bound = _Bound(decode_cursor(cursor, BY_ID, 1), False)
        else:
            order, key_of = BY_UPDATED, _updated_key
            since = parse_timestamp(updated_since, parameter="updated_since")
            bound = _Bound((since, ""), True)
            if cursor is not None:
                after = decode_cursor(cursor, BY_UPDATED, 2)
                # A cursor from before a later `updated_since` must not reach back past it.
                if after >= bound.key:
                    bound = _Bound(after, False)
        indexed = self._indexed_candidate(filters)
        if indexed is not None:
            # At most one record: no scan, and never a next page.
            results = [
                record
                for record in indexed
                if bound.admits(key_of(record)) and _matches(record, filters)
            ]
            return Page(results, None)
        scan = self._scan(order, bound)
        if filters:
            scan = (record for record in scan if _matches(record, filters))
        chunk = list(islice(scan, limit + 1))
        next_cursor = None
        if len(chunk) > limit:
            chunk = chunk[:limit]
            next_cursor = encode_cursor(order, key_of(chunk[-1]))
        return Page(chunk, next_cursor)

    def deleted_page(
        self, *, since: str | None = None, limit: int = MAX_PAGE_SIZE, cursor: str | None = None
    ) -> Page:
        """Deletions as `{"id", "deleted_at"}` in (deleted_at, id) order, `since` inclusive."""
        _check_limit(limit)
        bound = _Bound((), True)
        if since is not None:
            bound = _Bound((parse_timestamp(since, parameter="since"), ""), True)
        if cursor is not None:
            after = decode_cursor(cursor, BY_DELETED, 2)
            if after >= bound.key:
                bound = _Bound(after, False)
        keys = list(islice(bound.irange(self._deleted), limit + 1))
        next_cursor = None
        if len(keys) > limit:
            keys = keys[:limit]
            next_cursor = encode_cursor(BY_DELETED, keys[-1])
        results: list[Record] = [{"id": key[1], "deleted_at": key[0]} for key in keys]
        return Page(results, next_cursor)

    def snapshot(self, updated_since: str | None = None) -> list[Record]:
        """Every record (id order), or those updated since (updated order), as of now."""
        if updated_since is None:
            return list(self._records.values())
        since = parse_timestamp(updated_since, parameter="updated_since")
        records = self._records
        return [records[key[1]] for key in self._by_updated.irange((since, ""))]

    # Writes

    def create(self, values: Mapping[str, Any]) -> Record:
        """A new record from `values`; 422 if invalid, 409 if a unique value is taken."""
        fields = self.schema.clean(values)
        record: dict[str, Any] = {"id": ""}  # id first, as CRMs print it
        for field in self.schema.fields:
            record[field] = fields.get(field)
        self.schema.check(record)
        self._check_unique(record, record_id=None)
        record_id = self._next_id()
        now = self._clock.timestamp()
        record.update(id=record_id, created_at=now, updated_at=now)
        self._records[record_id] = record
        self._by_id.add(record_id)
        self._by_updated.add((now, record_id))
        self._index_unique(record, previous=None)
        self._on_change(Change(self.schema, "created", record, now))
        return record

    def update(self, record_id: str, values: Mapping[str, Any]) -> Record:
        """The record with `values` merged in (null clears a field); a no-op if nothing changes."""
        previous = self.get(record_id)
        changes = self.schema.clean(values)
        if all(previous[field] == value for field, value in changes.items()):
            # Nothing to change: like most CRMs, no new `updated_at` and no event.
            return previous
        record = {**previous, **changes}
        self.schema.check(record)
        self._check_unique(record, record_id=record_id)
        now = self._clock.timestamp()
        record["updated_at"] = now
        self._records[record_id] = record
        self._by_updated.remove((previous["updated_at"], record_id))
        self._by_updated.add((now, record_id))
        self._index_unique(record, previous=previous)
        self._on_change(Change(self.schema, "updated", record, now))
        return record

    def delete(self, record_id: str) -> None:
        """Removes the record and records its deletion for the deleted feed."""
        record = self.get(record_id)
        del self._records[record_id]
        self._by_id.remove(record_id)
        self._by_updated.remove((record["updated_at"], record_id))
        for field, index in self._unique.items():
            index.pop(record[field], None)
        now = self._clock.timestamp()
        self._deleted.add((now, record_id))
        self._on_change(Change(self.schema, "deleted", record, now))

    def new_ids(self, count: int) -> list[str]:
        """The next `count` ids, taken for good (for bulk loading)."""
        first = self._last_number + 1
        self._last_number += count
        return [self._format_id(number) for number in range(first, first + count)]

    def load(self, records: list[dict[str, Any]]) -> None:
        """Adds trusted, complete records at once (seeding), building indexes in bulk.

        The records must carry ids from `new_ids`, in that order. Sorting an already sorted
        run is linear, so this is far faster than adding them one by one.
        """
        for field, index in self._unique.items():
            before = len(index)
            index.update((record[field], record["id"]) for record in records)
            if len(index) != before + len(records):
                raise ValueError(f"loaded {self.schema.name} repeat a unique '{field}'")
        self._records.update((record["id"], record) for record in records)
        self._by_id.update(record["id"] for record in records)
        self._by_updated.update((record["updated_at"], record["id"]) for record in records)

    # Internals

    def _next_id(self) -> str:
        self._last_number += 1
        return self._format_id(self._last_number)

    def _format_id(self, number: int) -> str:
        return f"{self.schema.id_prefix}{number:012d}"

    def _scan(self, order: str, bound: _Bound) -> Iterator[Record]:
        records = self._records
        if order == BY_ID:
            ids = bound.irange(self._by_id, single=True)
            return map(records.__getitem__, ids)
        return (records[key[1]] for key in bound.irange(self._by_updated))

    def _indexed_candidate(self, filters: Mapping[str, Any]) -> list[Record] | None:
        """The (at most one) record an `id` or unique filter allows; None if unindexed."""
        for field, value in filters.items():
            if field == "id" or field in self._unique:
                found = self.find(field, value)
                return [] if found is None else [found]
        return None

    def _check_unique(self, record: Mapping[str, Any], *, record_id: str | None) -> None:
        for field, index in self._unique.items():
            holder = index.get(record[field])
            if holder is not None and holder != record_id:
                raise DuplicateRecord(
                    f"a {self.schema.singular} with this {field} already exists",
                    existing_id=holder,
                )

    def _index_unique(self, record: Mapping[str, Any], *, previous: Record | None) -> None:
        for field, index in self._unique.items():
            if previous is not None and previous[field] != record[field]:
                index.pop(previous[field], None)
            if record[field] is not None:
                index[record[field]] = record["id"]


@dataclass(frozen=True)
class _Bound:
    """Where a listing starts: at or after `key` (inclusive) or strictly after it."""

    key: tuple[str, ...]  # () means from the very start
    inclusive: bool

    def admits(self, key: tuple[str, ...]) -> bool:
        return key > self.key or (self.inclusive and key == self.key)

    def irange(self, index: SortedList, *, single: bool = False) -> Iterator[Any]:
        """Keys of `index` from this bound on; `single` for an index of plain ids."""
        if not self.key:
            return iter(index)
        start: Any = self.key[0] if single else self.key
        return iter(index.irange(start, inclusive=(self.inclusive, True)))


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"'limit' must be between 1 and {MAX_PAGE_SIZE}")


def _id_key(record: Record) -> tuple[str, ...]:
    return (record["id"],)


def _updated_key(record: Record) -> tuple[str, ...]:
    return (record["updated_at"], record["id"])


def _matches(record: Record, filters: Mapping[str, Any]) -> bool:
    return all(record.get(field) == value for field, value in filters.items())
