"""The element conformance suite: every element of the catalog, through a real VendorClient
on its vendor (simulated on loopback), does what the hub relies on.

Which checks apply to an element comes from its definition (what it declares it can do);
its harness (`tests/conformance/harnesses`) supplies only the vendor-specific parts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
import pytest

from interlink.bulk.formats import Row
from interlink.bulk.upload import ingest as ingest_module
from interlink.bulk.upload.apply import Applier
from interlink.bulk.upload.ingest import Ingester
from interlink.elements.catalog import builtin_elements
from interlink.elements.definition import (
    DeletedEndpoint,
    ElementDefinition,
    ObjectDefinition,
    Tombstone,
)
from interlink.elements.record_schema import check_write
from interlink.errors import InvalidInput
from interlink.eventing.webhooks.signatures import signs_time
from interlink.vendor import (
    RecordNotFound,
    RecordRejected,
    VendorAuthError,
    VendorClient,
    parse_time,
)
from interlink.vendor.paths import lookup
from tests.conformance.harness import WAIT_SECONDS, Harness
from tests.conformance.harnesses import HARNESSES
from tests.conformance.support import (
    ObjectFilter,
    ids_of,
    in_vendor_shape,
    per_element,
    per_object,
    query_text,
    read_deleted,
    read_event,
    read_pages,
    receiving,
    records_of,
    vendor_client,
    vendor_id,
    writable,
)

MAX_CHUNKED_BATCH = 500  # the largest max_size whose chunking the suite checks


def _object(harness: Harness, object_name: str) -> ObjectDefinition:
    return harness.element.objects[object_name]


def _assert_has_fields(record: Mapping[str, Any], fields: Mapping[str, Any], what: str) -> None:
    wrong = {name: record.get(name) for name, value in fields.items() if record.get(name) != value}
    assert not wrong, f"{what}: fields differ from what was written: {wrong}"


async def _raw_by_id(harness: Harness, object_name: str) -> dict[str, dict[str, Any]]:
    obj = _object(harness, object_name)
    return {vendor_id(raw, obj): raw for raw in await harness.vendor_records(object_name)}


# --- the catalog ---------------------------------------------------------------------------


def test_every_element_of_the_catalog_has_a_harness() -> None:
    catalog = builtin_elements()
    missing = sorted(set(catalog) - set(HARNESSES))
    assert not missing, f"elements without a conformance harness: {missing}"
    stale = sorted(set(HARNESSES) - set(catalog))
    assert not stale, f"harnesses of elements no longer in the catalog: {stale}"
    for key, harness_class in HARNESSES.items():
        assert harness_class.element_key == key


# --- connection ----------------------------------------------------------------------------


@per_element()
async def test_check_passes(client: VendorClient) -> None:
    await client.check()


@per_element()
async def test_wrong_credentials_fail_check_with_the_vendors_message_and_no_secret(
    harness: Harness,
) -> None:
    wrong = harness.wrong_credentials()
    async with vendor_client(harness, wrong) as client:
        with pytest.raises(VendorAuthError) as caught:
            await client.check()
    error = caught.value
    assert error.vendor_message is not None
    assert harness.auth_failure_message in error.vendor_message
    assert harness.auth_failure_message in str(error)
    secrets = [
        str(config[name])
        for config in (wrong, harness.config)
        for name in harness.element.secret_fields
        if config.get(name) is not None
    ]
    assert secrets, "the element's config declares no secret field"
    shown = " ".join([str(error), repr(error), *map(str, error.args), repr(error.body)])
    leaked = [secret for secret in secrets if secret in shown]
    assert not leaked, "a credential appears in the error"


# --- reading -------------------------------------------------------------------------------


@per_object()
async def test_paging_to_the_end_returns_every_record_once_in_the_vendors_shape(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    raw = await _raw_by_id(harness, object_name)
    assert len(raw) >= 4, "the harness must seed enough records for several pages"
    page_size = len(raw) // 4

    pages = await read_pages(client, object_name, page_size=page_size)

    assert len(pages) >= 4, f"{len(raw)} records came in {len(pages)} pages of {page_size}"
    assert all(len(page.records) <= page_size for page in pages)
    records = records_of(pages)
    ids = ids_of(records)
    assert all(isinstance(record_id, str) and record_id for record_id in ids)
    repeated = [record_id for record_id, seen in Counter(ids).items() if seen > 1]
    assert not repeated, f"records listed more than once: {repeated}"
    assert set(ids) == set(raw), "the listing does not hold exactly the vendor's records"
    for record in records:
        assert record == in_vendor_shape(raw[record["id"]], obj)


@per_object()
async def test_a_page_state_is_a_checkpoint_to_resume_from(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    page_size = max(1, len(await harness.vendor_records(object_name)) // 4)
    pages = await read_pages(client, object_name, page_size=page_size)
    middle = len(pages) // 2 - 1
    # A checkpoint goes to the database as JSON and comes back from it.
    state = json.loads(json.dumps(pages[middle].next_state))

    rest = await read_pages(client, object_name, page_size=page_size, page_state=state)

    assert ids_of(records_of(rest)) == ids_of(records_of(pages[middle + 1 :]))


@per_object()
async def test_get_of_a_listed_record_returns_it(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    raw = await _raw_by_id(harness, object_name)
    listed = records_of(await read_pages(client, object_name))
    for record in (listed[0], listed[len(listed) // 2], listed[-1]):
        fetched = await client.get(object_name, record["id"])
        assert fetched["id"] == record["id"]
        assert fetched == in_vendor_shape(raw[record["id"]], obj)


_SCHEMA_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "datetime": (str,),
    "object": (dict,),
    "array": (list,),
}


def _declares_fields(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return obj.fields is not None


@per_object(_declares_fields)
async def test_declared_fields_describe_the_vendors_records(
    harness: Harness, object_name: str
) -> None:
    obj = _object(harness, object_name)
    assert obj.fields is not None
    schema = {field.name: field for field in obj.fields}
    raw = await harness.vendor_records(object_name)
    if not obj.read_only:
        raw.append(await harness.vendor_create(object_name))
        check_write(obj, harness.new_record(object_name), partial=False)
    for record in raw:
        undeclared = sorted(set(record) - set(schema))
        assert not undeclared, f"fields the vendor sends but the schema lacks: {undeclared}"
        for name, field in schema.items():
            value = record.get(name)
            if value is None:
                assert not field.required, f"required field {name!r} missing"
                continue
            is_bool = isinstance(value, bool)
            assert isinstance(value, _SCHEMA_TYPES[field.type]), f"{name}={value!r}"
            assert field.type == "boolean" or not is_bool, f"{name}={value!r}"
            if field.type == "datetime":
                parse_time(str(value), "rfc3339")


# --- writing -------------------------------------------------------------------------------


@per_object(writable)
async def test_create_get_update_delete(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    new = harness.new_record(object_name)

    created = await client.create(object_name, new)
    record_id = created["id"]
    assert isinstance(record_id, str)
    assert record_id
    _assert_has_fields(created, new, "created")
    raw = await _raw_by_id(harness, object_name)
    assert created == in_vendor_shape(raw[record_id], obj)
    assert await client.get(object_name, record_id) == created

    changes = harness.record_update(object_name, created)
    updated = await client.update(object_name, record_id, changes)
    assert updated["id"] == record_id
    _assert_has_fields(updated, changes, "updated")
    assert await client.get(object_name, record_id) == updated

    if not obj.deletable:  # the vendor's API deletes nothing: the client refuses to try
        with pytest.raises(InvalidInput):
            await client.delete(object_name, record_id)
        assert record_id in await _raw_by_id(harness, object_name)
        return
    await client.delete(object_name, record_id)
    with pytest.raises(RecordNotFound):
        await client.get(object_name, record_id)
    with pytest.raises(RecordNotFound):
        await client.update(object_name, record_id, harness.record_update(object_name, created))
    assert record_id not in await _raw_by_id(harness, object_name)


@per_object(writable)
async def test_a_refused_create_is_record_rejected_with_the_vendors_message(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    rejection = harness.invalid_record(object_name)
    before = await _raw_by_id(harness, object_name)

    with pytest.raises(RecordRejected) as caught:
        await client.create(object_name, rejection.record)

    error = caught.value
    assert not isinstance(error, RecordNotFound)
    assert error.status in harness.element.errors.record_statuses
    assert error.vendor_message is not None
    assert rejection.message in error.vendor_message
    assert rejection.message in str(error)
    assert await _raw_by_id(harness, object_name) == before


# --- changes -------------------------------------------------------------------------------


def _changed_since(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return obj.changed_since is not None and not obj.read_only


@per_object(_changed_since)
async def test_changed_since_returns_exactly_the_later_changes(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    assert obj.changed_since is not None
    assert obj.updated_field is not None
    old = list(await _raw_by_id(harness, object_name))
    picks = list(dict.fromkeys(old[index] for index in (0, len(old) // 2, -1)))
    await harness.tick()
    since = await harness.vendor_now()
    changed: list[str] = []  # in the order of the changes, each strictly later
    for record_id in picks:
        await harness.tick()
        changed.append(vendor_id(await harness.vendor_update(object_name, record_id), obj))
        await harness.tick()
        changed.append(vendor_id(await harness.vendor_create(object_name), obj))

    pages = await read_pages(client, object_name, changed_since=since, page_size=2)

    records = records_of(pages)
    ids = ids_of(records)
    assert len(ids) == len(set(ids)), f"a change listed twice: {ids}"
    assert set(ids) == set(changed), "changed-since must hold the later changes and nothing older"
    assert len(pages) >= len(changed) // 2
    if obj.changed_since.ascending:
        field = obj.updated_field
        times = [parse_time(lookup(record, field.name), field.format) for record in records]
        assert times == sorted(times), "the definition says ascending: pages must be in order"
        assert ids == changed


@per_object(_changed_since)
async def test_changed_since_pages_through_equal_updated_times(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    await harness.tick()
    since = await harness.vendor_now()
    # Back to back, so that several share one updated time (and page boundaries split them).
    created = [vendor_id(await harness.vendor_create(object_name), obj) for _ in range(7)]

    listed = ids_of(
        records_of(await read_pages(client, object_name, changed_since=since, page_size=2))
    )

    assert sorted(listed) == sorted(created)


@per_object(_changed_since)
async def test_changed_since_respects_its_inclusive_bound(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    assert obj.changed_since is not None
    assert obj.updated_field is not None
    oldest = next(iter(await _raw_by_id(harness, object_name)))
    await harness.tick()
    first = await harness.vendor_update(object_name, oldest)
    feed = obj.changed_since.request
    if feed is not None and feed.updated_path is not None:
        # A change feed's time is its item's, not the record's: the vendor's clock then.
        at = await harness.vendor_now()
    else:
        at = parse_time(lookup(first, obj.updated_field.name), obj.updated_field.format)
    await harness.tick()
    second = await harness.vendor_create(object_name)

    listed = ids_of(records_of(await read_pages(client, object_name, changed_since=at)))

    later = [vendor_id(second, obj)]
    expected = [vendor_id(first, obj), *later] if obj.changed_since.inclusive else later
    assert sorted(listed) == sorted(expected), (
        f"changed_since at a record's own updated time, inclusive={obj.changed_since.inclusive}"
    )


def _deleted_endpoint(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return obj.deletes.type == "endpoint"


@per_object(_deleted_endpoint)
async def test_deletes_at_the_vendor_appear_in_deleted_since(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    ids = list(await _raw_by_id(harness, object_name))
    assert len(ids) >= 4, "the harness must seed at least four records"
    earlier, later = ids[0], [ids[1], ids[2], ids[-1]]
    await harness.vendor_delete(object_name, earlier)
    await harness.tick()
    since = await harness.vendor_now()
    await harness.tick()
    for record_id in later:  # back to back: some share a deleted time
        await harness.vendor_delete(object_name, record_id)

    pages = await read_deleted(client, object_name, since, page_size=1)

    entries = records_of(pages)
    assert sorted(entry["id"] for entry in entries) == sorted(later)
    assert all(entry["deleted_at"] is not None for entry in entries)
    deletes = _object(harness, object_name).deletes
    assert isinstance(deletes, DeletedEndpoint)
    paged = deletes.pagination or _object(harness, object_name).pagination
    if (paged or harness.element.pagination).type != "none":  # getDeleted has one page
        assert len(pages) >= 2
    with pytest.raises(RecordNotFound):
        await client.get(object_name, later[0])


def _tombstones(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return obj.deletes.type == "tombstone" and obj.changed_since is not None


@per_object(_tombstones)
async def test_deletes_at_the_vendor_show_as_tombstones_in_changed_since(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    tombstone = _object(harness, object_name).deletes
    assert isinstance(tombstone, Tombstone)
    record_id = next(iter(await _raw_by_id(harness, object_name)))
    await harness.tick()
    since = await harness.vendor_now()
    await harness.tick()
    await harness.vendor_delete(object_name, record_id)

    listed = records_of(await read_pages(client, object_name, changed_since=since))

    marked = [r for r in listed if r["id"] == record_id]
    assert marked, "a deleted record must come back from changed-since with its tombstone"
    assert lookup(marked[0], tombstone.field) in tombstone.values


# --- filters -------------------------------------------------------------------------------


def _filterable(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return bool(obj.equality_filters)


def _filter_fields(obj: ObjectDefinition, sample: Mapping[str, Any]) -> list[str]:
    if obj.equality_filters != "*":
        return list(obj.equality_filters)
    if obj.fields is not None:
        return [field.name for field in obj.fields if field.name != obj.id_field]
    return [name for name in sample if name != obj.id_field]


def _matching(
    records: list[dict[str, Any]], obj: ObjectDefinition, field: str, value: str
) -> set[str]:
    return {
        vendor_id(r, obj)
        for r in records
        if lookup(r, field) is not None and query_text(lookup(r, field)) == value
    }


@per_object(_filterable)
async def test_declared_equality_filters_filter(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    # A record of the harness's own making too: its values hold characters a query string
    # must carry intact (spaces, +, &, quotes, non-ASCII).
    fresh = None if obj.read_only else await harness.vendor_create(object_name)
    raw = await harness.vendor_records(object_name)
    for field in _filter_fields(obj, raw[0]):
        values = Counter(query_text(lookup(r, field)) for r in raw if lookup(r, field) is not None)
        assert values, f"the harness seeds no {object_name} with a {field!r}"
        tried = [values.most_common(1)[0][0]]  # shared by several records where possible
        if fresh is not None and lookup(fresh, field) is not None:
            tried.append(query_text(lookup(fresh, field)))
        for value in tried:
            listed = ids_of(
                records_of(
                    await read_pages(client, object_name, filters={field: value}, page_size=2)
                )
            )

            assert sorted(listed) == sorted(_matching(raw, obj, field, value)), (
                f"filter {field}={value!r}"
            )


def _filterable_since(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return bool(obj.equality_filters) and _changed_since(element, obj)


@per_object(_filterable_since)
async def test_equality_filters_combine_with_changed_since(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    old = list((await _raw_by_id(harness, object_name)).values())
    await harness.tick()
    since = await harness.vendor_now()
    await harness.tick()
    changed = [
        await harness.vendor_update(object_name, vendor_id(old[0], obj)),
        await harness.vendor_create(object_name),
    ]
    for field in _filter_fields(obj, old[0]):
        if lookup(changed[1], field) is None:
            continue
        value = query_text(lookup(changed[1], field))
        expected = _matching(changed, obj, field, value)

        listed = ids_of(
            records_of(
                await read_pages(client, object_name, filters={field: value}, changed_since=since)
            )
        )

        assert sorted(listed) == sorted(expected), f"filter {field}={value!r} changed since"


# --- native batch --------------------------------------------------------------------------


def _batch(action: str) -> ObjectFilter:
    def where(element: ElementDefinition, obj: ObjectDefinition) -> bool:
        return obj.batch is not None and action in obj.batch.actions and not obj.read_only

    return where


@per_object(_batch("create"))
async def test_native_batch_create_answers_every_input_on_its_own(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    rejection = harness.invalid_record(object_name)
    inputs = [harness.new_record(object_name), rejection.record, harness.new_record(object_name)]
    before = await _raw_by_id(harness, object_name)

    outcomes = await client.batch(object_name, "create", inputs)

    assert [outcome.index for outcome in outcomes] == [0, 1, 2]
    refused = outcomes[1]
    assert not refused.ok
    assert refused.error is not None
    assert rejection.message in refused.error
    accepted = [outcomes[0], outcomes[2]]
    assert all(outcome.ok and outcome.id for outcome in accepted), outcomes
    after = await _raw_by_id(harness, object_name)
    assert set(after) - set(before) == {outcome.id for outcome in accepted}
    for outcome, sent in zip(accepted, (inputs[0], inputs[2]), strict=True):
        assert outcome.id is not None
        _assert_has_fields(after[outcome.id], sent, "batch-created")


@per_object(_batch("create"))
async def test_native_batch_of_more_than_max_size_answers_every_input_in_order(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    endpoint = _object(harness, object_name).batch
    assert endpoint is not None
    if endpoint.max_size > MAX_CHUNKED_BATCH:
        pytest.skip(f"a batch of {endpoint.max_size + 1} inputs is too big for this suite")
    inputs = [harness.new_record(object_name) for _ in range(endpoint.max_size + 1)]
    inputs[-2] = harness.invalid_record(object_name).record  # the end of the first chunk

    outcomes = await client.batch(object_name, "create", inputs)

    assert [outcome.index for outcome in outcomes] == list(range(len(inputs)))
    assert [outcome.ok for outcome in outcomes] == [
        index != len(inputs) - 2 for index in range(len(inputs))
    ]
    after = await _raw_by_id(harness, object_name)
    for outcome, sent in zip(outcomes, inputs, strict=True):
        if outcome.ok:
            assert outcome.id is not None
            _assert_has_fields(after[outcome.id], sent, f"batch input {outcome.index}")


@per_object(_batch("upsert"))
async def test_native_batch_upsert_updates_instead_of_duplicating(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    identifier = harness.upsert_identifier(object_name)
    assert identifier, "the harness must name the property upserts match records by"
    existing = await harness.vendor_create(object_name)
    existing_id = vendor_id(existing, obj)
    changes = harness.record_update(object_name, existing)
    fresh = harness.new_record(object_name)
    before = await _raw_by_id(harness, object_name)

    outcomes = await client.batch(
        object_name,
        "upsert",
        [{identifier: lookup(existing, identifier), **changes}, fresh],
        id_property=identifier,
    )

    assert all(outcome.ok for outcome in outcomes), outcomes
    assert outcomes[0].id == existing_id, "an upsert of an existing record must update it"
    assert outcomes[1].id is not None
    assert outcomes[1].id != existing_id
    after = await _raw_by_id(harness, object_name)
    assert set(after) - set(before) == {outcomes[1].id}, "exactly one record created"
    _assert_has_fields(after[existing_id], changes, "upserted")
    _assert_has_fields(after[outcomes[1].id], fresh, "upsert-created")


# --- native bulk ingest --------------------------------------------------------------------


def _bulk_ingest_create(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return (
        obj.bulk_ingest is not None and "create" in obj.bulk_ingest.operations and not obj.read_only
    )


@per_object(_bulk_ingest_create)
async def test_native_bulk_ingest_create_maps_every_result_to_its_row(
    harness: Harness, client: VendorClient, object_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ingest job through the upload framework's `Ingester`: each row gets its own
    outcome (the vendor's results come in any order), a refused row an error."""

    async def no_sleep(seconds: float) -> None:
        await asyncio.sleep(0.01)

    monkeypatch.setattr(ingest_module, "sleep", no_sleep)
    obj = _object(harness, object_name)
    assert obj.bulk_ingest is not None
    rejection = harness.invalid_record(object_name)
    records = [harness.new_record(object_name) for _ in range(4)]
    records.insert(2, rejection.record)
    rows = [Row(number, record) for number, record in enumerate(records, start=1)]
    applier = Applier(
        client,
        object_name,
        obj,
        action="create",
        identifier=None,
        concurrency=1,
        duplicate_id_paths=[],
    )
    ingester = Ingester(
        client, object_name, obj, obj.bulk_ingest, applier, action="create", identifier=None
    )
    started: list[str] = []

    async def on_started(ingest_id: str) -> None:
        started.append(ingest_id)

    before = await _raw_by_id(harness, object_name)
    async with asyncio.timeout(WAIT_SECONDS):
        outcomes = await ingester.apply(rows, None, on_started)

    assert len(started) == 1
    assert [outcome.row for outcome in outcomes] == [1, 2, 3, 4, 5]
    assert [outcome.ok for outcome in outcomes] == [True, True, False, True, True]
    assert outcomes[2].error is not None  # the hub's schema check or the vendor's reason
    after = await _raw_by_id(harness, object_name)
    created = [outcome for outcome in outcomes if outcome.ok]
    assert set(after) - set(before) == {outcome.id for outcome in created}
    for outcome in created:
        assert outcome.outcome == "created"
        assert outcome.id is not None
        _assert_has_fields(after[outcome.id], records[outcome.row - 1], "ingest-created")


# --- native bulk export --------------------------------------------------------------------


def _bulk_export(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return obj.bulk_export is not None


async def _export(
    harness: Harness,
    client: VendorClient,
    object_name: str,
    *,
    updated_since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Starts a native export, polls it until complete, and reads its file (NDJSON, or CSV
    pages) through the client, as a bulk job does."""
    spec = _object(harness, object_name).bulk_export
    assert spec is not None
    export_id = await client.start_export(object_name, updated_since=updated_since)
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            state = await client.export_state(object_name, export_id)
            assert state.status != "failed", f"the export failed: {state.error}"
            if state.status == "complete":
                break
            await asyncio.sleep(min(spec.poll_interval_seconds, 0.02))
        return [record async for record in client.export_records(object_name, export_id)]


@per_object(_bulk_export)
async def test_native_bulk_export_holds_every_record_once(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    raw = await _raw_by_id(harness, object_name)

    exported = await _export(harness, client, object_name)

    ids = [vendor_id(record, obj) for record in exported]
    assert len(ids) == len(set(ids)), "a record exported twice"
    assert set(ids) == set(raw)
    for record in exported:
        expected = in_vendor_shape(raw[vendor_id(record, obj)], obj)
        assert record == expected, "exported records keep the vendor's shape"


def _bulk_export_since(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return obj.bulk_export is not None and obj.bulk_export.since_key is not None


@per_object(_bulk_export_since)
async def test_native_bulk_export_since_holds_only_later_changes(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    obj = _object(harness, object_name)
    spec = obj.bulk_export
    assert spec is not None
    assert spec.since_key is not None
    oldest = next(iter(await _raw_by_id(harness, object_name)))
    await harness.tick()
    since = await harness.vendor_now()
    await harness.tick()
    changed = {
        vendor_id(await harness.vendor_update(object_name, oldest), obj),
        vendor_id(await harness.vendor_create(object_name), obj),
    }

    exported = await _export(harness, client, object_name, updated_since=since)

    assert sorted(vendor_id(record, obj) for record in exported) == sorted(changed)


# --- webhooks ------------------------------------------------------------------------------


def _webhooks(element: ElementDefinition, obj: ObjectDefinition) -> bool:
    return element.webhooks is not None and not obj.read_only


@per_object(_webhooks)
async def test_webhooks_deliver_signed_events_of_changes_at_the_vendor(
    harness: Harness, client: VendorClient, object_name: str
) -> None:
    webhooks = harness.element.webhooks
    assert webhooks is not None
    obj = _object(harness, object_name)
    secret = harness.webhook_secret()
    registration = webhooks.registration
    async with receiving() as receiver:
        webhook_id = None
        if registration is not None:
            body = {registration.url_key: receiver.url}
            if registration.secret_key is not None:
                body[registration.secret_key] = secret
            answer = await client.call(registration.create, json=body)
            webhook_id = lookup(answer, registration.id_path)
            assert webhook_id is not None, f"the registration answered no id: {answer}"
        else:
            await harness.subscribe_webhook(receiver.url, secret)
        try:
            created = await harness.vendor_create(object_name)
            record_id = vendor_id(created, obj)
            updated = await harness.vendor_update(object_name, record_id)
            await harness.vendor_delete(object_name, record_id)
            await receiver.wait_for_posts(3)  # one for every change
        finally:
            if registration is not None and webhook_id is not None:
                await client.call(registration.delete, path_values={"webhook_id": str(webhook_id)})

    events = [read_event(webhooks.events, post.body, post.headers) for post in receiver.posts]
    assert [(event.object_name, event.change, event.record_id) for event in events] == [
        (object_name, change, record_id) for change in ("created", "updated", "deleted")
    ], "the definition's webhooks.events must read the vendor's events"
    if webhooks.events.record_path is not None and not webhooks.events.fetch_record:
        assert events[0].record == created, "events carry the record in the vendor's shape"
        assert events[1].record == updated

    tolerance = webhooks.signature.tolerance_seconds
    for post in receiver.posts:
        if webhooks.signature.header is not None:
            assert webhooks.signature.header in post.headers
        assert harness.verify_webhook(secret, post.body, post.headers, tolerance_seconds=tolerance)
        assert not harness.verify_webhook(
            "some-other-secret", post.body, post.headers, tolerance_seconds=tolerance
        )
        tampered = post.body.replace(record_id.encode(), b"forged", 1)
        assert tampered != post.body
        assert not harness.verify_webhook(
            secret, tampered, post.headers, tolerance_seconds=tolerance
        )


@per_element(lambda element: element.webhooks is not None)
async def test_webhook_signatures_can_be_computed_and_forgeries_refused(harness: Harness) -> None:
    webhooks = harness.element.webhooks
    assert webhooks is not None
    tolerance = webhooks.signature.tolerance_seconds
    secret = harness.webhook_secret()
    body = b'{"id": "evt_conformance", "type": "conformance.updated"}'
    now = int(time.time())

    def verifies(headers: dict[str, str], payload: bytes = body) -> bool:
        return harness.verify_webhook(
            secret, payload, httpx.Headers(headers), tolerance_seconds=tolerance
        )

    signed = harness.sign_webhook(secret, body, now)
    assert verifies(signed)
    assert not verifies(signed, body + b" ")
    assert not verifies(harness.sign_webhook("forged-secret", body, now))
    if signs_time(webhooks.signature):  # schemes without a signed time cannot go stale
        assert not verifies(harness.sign_webhook(secret, body, now - tolerance - 60)), "stale"
    assert not verifies({})
