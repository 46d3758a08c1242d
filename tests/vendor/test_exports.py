"""Native bulk export through the vendor client: against a live Sandbox CRM, and against a
small live vendor for the faults the sandbox does not make (a broken file, a cut download,
a throttled start, an echoed credential)."""

from __future__ import annotations

import asyncio
import json
import threading
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from interlink.elements.catalog import builtin_elements
from interlink.elements.definition import ElementDefinition
from interlink.errors import InvalidInput
from interlink.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from interlink.vendor import (
    ExportState,
    FatalVendorError,
    RecordNotFound,
    RetryableVendorError,
    VendorClient,
    VendorError,
)
from interlink.vendor.exports import ndjson_lines

from .support import API_KEY, FakeClock, make_client, make_element, serving

SEEDED = 250
POLL_ROUNDS = 1000  # x 10 ms: ten seconds for the sandbox to write a file
LARGE = 50_000


def sandbox_element() -> ElementDefinition:
    return builtin_elements()["sandbox"]


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(api_key=API_KEY, seed=SEEDED)) as running:
        yield running


@pytest.fixture
async def client(sandbox: RunningSandbox, clock: FakeClock) -> AsyncIterator[VendorClient]:
    async with make_client(sandbox_element(), sandbox.url, clock) as vendor_client:
        yield vendor_client


async def finished(client: VendorClient, object_name: str, export_id: str) -> list[ExportState]:
    """Every state seen until the export is no longer running (bounded)."""
    seen: list[ExportState] = []
    for _ in range(POLL_ROUNDS):
        state = await client.export_state(object_name, export_id)
        seen.append(state)
        if state.status != "running":
            return seen
        await asyncio.sleep(0.01)
    raise AssertionError(f"export {export_id} still running: {seen[-1]}")


async def exported(
    client: VendorClient, object_name: str, updated_since: datetime | None = None
) -> list[dict[str, Any]]:
    export_id = await client.start_export(object_name, updated_since=updated_since)
    assert (await finished(client, object_name, export_id))[-1].status == "complete"
    return [record async for record in client.export_records(object_name, export_id)]


async def paged(
    client: VendorClient, object_name: str, changed_since: datetime | None = None
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    async for page in client.iterate_pages(object_name, changed_since=changed_since):
        records += page.records
    return records


async def read_ids(records: AsyncIterator[dict[str, Any]], seen: list[str]) -> None:
    """Reads to the end (or the error), noting each id as it arrives."""
    async for record in records:
        seen.append(record["id"])


def by_id(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda record: record["id"])


# --- against the Sandbox CRM ----------------------------------------------------------------


@pytest.mark.parametrize("object_name", ["contacts", "companies"])
async def test_a_full_export_holds_exactly_what_paging_returns(
    client: VendorClient, object_name: str
) -> None:
    assert client.has_native_export(object_name)
    records = await exported(client, object_name)
    assert records
    assert all(isinstance(record["id"], str) for record in records)
    assert len({record["id"] for record in records}) == len(records)
    assert by_id(records) == by_id(await paged(client, object_name))


async def test_updated_since_restricts_the_export(client: VendorClient) -> None:
    everything = await paged(client, "contacts")
    times = sorted(record["updated_at"] for record in everything)
    middle = times[len(times) // 2]
    since = datetime.fromisoformat(middle.replace("Z", "+00:00"))

    records = await exported(client, "contacts", updated_since=since)

    expected = [record for record in everything if record["updated_at"] >= middle]
    assert 0 < len(records) < len(everything)
    assert by_id(records) == by_id(expected)
    assert by_id(records) == by_id(await paged(client, "contacts", changed_since=since))


async def test_an_export_runs_until_its_file_is_written_then_completes(clock: FakeClock) -> None:
    # The sandbox writes the file with asyncio.to_thread; holding the loop's only worker
    # keeps the export running for as long as the test wants, without any timing.
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    release = threading.Event()
    async with (
        running_sandbox(SandboxConfig(api_key=API_KEY, seed=SEEDED)) as sandbox,
        make_client(sandbox_element(), sandbox.url, clock) as client,
    ):
        holder = loop.run_in_executor(None, release.wait, 30)
        try:
            export_id = await client.start_export("contacts")
            assert await client.export_state("contacts", export_id) == ExportState(
                export_id, "running"
            )
            # The file of a running export is not there yet: an error, but not a missing export.
            with pytest.raises(FatalVendorError) as caught:
                await anext(client.export_records("contacts", export_id))
            assert caught.value.status == 409
            assert not isinstance(caught.value, RecordNotFound)
        finally:
            release.set()
            await holder
        states = await finished(client, "contacts", export_id)
        assert states[-1] == ExportState(export_id, "complete")
        assert {state.status for state in states[:-1]} <= {"running"}
        assert len([record async for record in client.export_records("contacts", export_id)]) == (
            SEEDED
        )


async def test_an_unknown_export_is_a_missing_record(client: VendorClient) -> None:
    with pytest.raises(RecordNotFound) as state_error:
        await client.export_state("contacts", "ex_999999")
    assert state_error.value.status == 404
    assert "ex_999999" in str(state_error.value)

    records = client.export_records("contacts", "ex_999999")
    with pytest.raises(RecordNotFound) as download_error:
        await anext(records)
    assert download_error.value.status == 404


async def test_a_large_export_streams_in_constant_memory(clock: FakeClock) -> None:
    async with (
        running_sandbox(SandboxConfig(api_key=API_KEY, seed=LARGE)) as sandbox,
        make_client(sandbox_element(), sandbox.url, clock) as client,
    ):
        export_id = await client.start_export("contacts")
        assert (await finished(client, "contacts", export_id))[-1].status == "complete"
        ids: set[str] = set()
        streamed = 0
        tracemalloc.start()
        try:
            async for record in client.export_records("contacts", export_id):
                ids.add(record["id"])
                streamed += len(json.dumps(record))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(ids) == LARGE
    # The ids kept above take ~4 MB; the file is ~4 times that. A client holding the body
    # (or its records) would peak well past the file's size.
    assert streamed > 12_000_000
    assert peak < streamed / 2, (peak, streamed)


async def test_an_object_without_native_export_is_refused(clock: FakeClock) -> None:
    # contacts of the test element has no bulk_export; nothing is sent anywhere.
    async with make_client(make_element(), "http://127.0.0.1:9", clock) as client:
        assert not client.has_native_export("contacts")
        refused: list[InvalidInput] = []
        for attempt in (
            client.start_export("contacts"),
            client.export_state("contacts", "1"),
        ):
            with pytest.raises(InvalidInput) as caught:
                await attempt
            refused.append(caught.value)
        with pytest.raises(InvalidInput) as caught:
            client.export_records("contacts", "1")  # at the call, not at the first read
        refused.append(caught.value)
    assert [error.field for error in refused] == ["native"] * 3


# --- against a small vendor for the faults ---------------------------------------------------

ACME_EXPORT = {
    "start": {"method": "POST", "path": "/v2/exports"},
    "object_key": "type",
    "since_key": "since",
    "id_path": "export.id",
    "status": {"path": "/v2/exports/{export_id}"},
    "status_path": "state.name",
    "complete_values": ["DONE"],
    "failed_values": ["ERROR", "CANCELLED"],
    "download": {"path": "/v2/exports/{export_id}/data"},
}


def acme_element() -> ElementDefinition:
    return make_element(
        objects={
            "contacts": {
                "path": "/v2/contacts",
                "id_field": "contact_id",
                "updated_field": {"name": "updated", "format": "unix"},
                "changed_since": {"param": "since", "format": "unix"},
                "bulk_export": ACME_EXPORT,
            }
        }
    )


def line(number: int) -> bytes:
    return json.dumps({"contact_id": number, "email": f"c{number}@example.com"}).encode() + b"\n"


@dataclass
class ExportVendor:
    """Exports by id: a body as chunks, a state, or a misbehaviour."""

    bodies: dict[str, list[bytes]] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    starts: list[Any] = field(default_factory=list)
    throttle_starts: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, request: Request) -> Response:
        self.calls["start"] += 1
        if self.calls["start"] <= self.throttle_starts:
            return JSONResponse({"message": "slow down"}, 429, headers={"Retry-After": "2"})
        self.starts.append(await request.json())
        return JSONResponse({"export": {"id": 41 + len(self.starts)}}, 202)

    async def state(self, request: Request) -> Response:
        export_id = request.path_params["export_id"]
        if export_id not in self.states:
            return self.missing(request)
        return JSONResponse(self.states[export_id])

    async def data(self, request: Request) -> Response:
        export_id = request.path_params["export_id"]
        self.calls[f"data {export_id}"] += 1
        if export_id == "flaky" and self.calls["data flaky"] == 1:
            return JSONResponse({"message": "try again"}, 503)
        if export_id == "cut":
            return StreamingResponse(self.cut(), media_type="application/x-ndjson")
        if export_id == "gated":
            return StreamingResponse(self.gated(), media_type="application/x-ndjson")
        if export_id not in self.bodies:
            return self.missing(request)
        return StreamingResponse(self.chunks(export_id), media_type="application/x-ndjson")

    def missing(self, request: Request) -> Response:
        # As some vendors do: the request quoted back, credentials and all.
        said = request.headers.get("authorization")
        return JSONResponse({"message": f"no export here for {said}"}, 404)

    async def chunks(self, export_id: str) -> AsyncIterator[bytes]:
        for chunk in self.bodies[export_id]:
            yield chunk

    async def cut(self) -> AsyncIterator[bytes]:
        yield line(1) + line(2)
        raise RuntimeError("the vendor's server fell over mid-file")

    async def gated(self) -> AsyncIterator[bytes]:
        yield line(1)
        await self.gate.wait()  # the rest only once the client has had the first record
        yield line(2)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v2/exports", self.start, methods=["POST"]),
                Route("/v2/exports/{export_id}", self.state),
                Route("/v2/exports/{export_id}/data", self.data),
            ]
        )


@pytest.fixture
def export_vendor() -> ExportVendor:
    return ExportVendor()


@pytest.fixture
async def acme(export_vendor: ExportVendor, clock: FakeClock) -> AsyncIterator[VendorClient]:
    async with (
        serving(export_vendor.app()) as url,
        make_client(acme_element(), url, clock) as vendor_client,
    ):
        yield vendor_client


async def test_the_start_body_and_ids_follow_the_definition(
    acme: VendorClient, export_vendor: ExportVendor
) -> None:
    since = datetime(2024, 5, 1, 12, 0, 0, 900_000, tzinfo=UTC)
    assert await acme.start_export("contacts", updated_since=since) == "42"
    assert await acme.start_export("contacts") == "43"
    assert export_vendor.starts == [
        {"type": "contacts", "since": "1714564800"},
        {"type": "contacts"},
    ]


async def test_a_throttled_start_waits_its_retry_after_and_goes_again(
    acme: VendorClient, export_vendor: ExportVendor, clock: FakeClock
) -> None:
    export_vendor.throttle_starts = 1
    assert await acme.start_export("contacts") == "42"
    assert export_vendor.calls["start"] == 2
    assert clock.sleeps == [2.0]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"state": {"name": "QUEUED"}}, ExportState("7", "running")),
        ({"state": {"name": "DONE"}}, ExportState("7", "complete")),
        (
            {"state": {"name": "ERROR"}, "message": "disk full"},
            ExportState("7", "failed", "disk full"),
        ),
        (
            {"state": {"name": "CANCELLED"}},
            ExportState("7", "failed", "the vendor's export is CANCELLED"),
        ),
    ],
)
async def test_the_vendors_status_maps_to_a_state(
    acme: VendorClient, export_vendor: ExportVendor, answer: dict[str, Any], expected: ExportState
) -> None:
    export_vendor.states["7"] = answer
    assert await acme.export_state("contacts", "7") == expected


async def test_a_status_answer_without_a_status_is_an_error_not_running(
    acme: VendorClient, export_vendor: ExportVendor
) -> None:
    export_vendor.states["7"] = {"state": {}}
    with pytest.raises(FatalVendorError, match=r"no status at 'state\.name'"):
        await acme.export_state("contacts", "7")


async def test_records_are_normalized_like_list_pages(
    acme: VendorClient, export_vendor: ExportVendor
) -> None:
    export_vendor.bodies["7"] = [line(1) + line(2)[:9], line(2)[9:] + b"\r\n\n", line(3)[:-1]]
    records = [record async for record in acme.export_records("contacts", "7")]
    assert records == [
        {"id": "1", "contact_id": 1, "email": "c1@example.com"},
        {"id": "2", "contact_id": 2, "email": "c2@example.com"},
        {"id": "3", "contact_id": 3, "email": "c3@example.com"},
    ]


async def test_a_line_orjson_refuses_is_read_by_the_standard_decoder(
    acme: VendorClient, export_vendor: ExportVendor
) -> None:
    # An integer past 64 bits: orjson refuses it, Python's json reads it, as for list pages.
    big = 2**70
    export_vendor.bodies["7"] = [line(1) + b'{"contact_id": 2, "score": %d}\n' % big]
    records = [record async for record in acme.export_records("contacts", "7")]
    assert records[1] == {"id": "2", "contact_id": 2, "score": big}


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b'{"contact_id": 4, "email": ', "line 5 is not JSON"),
        (b"[4, 5]", "line 5 is not a JSON object"),
        (b'{"email": "nobody@example.com"}', "line 5: a record without a usable 'contact_id'"),
    ],
)
async def test_a_malformed_line_fails_naming_it_after_the_good_ones(
    acme: VendorClient, export_vendor: ExportVendor, bad_line: bytes, message: str
) -> None:
    export_vendor.bodies["7"] = [line(1) + b"\n" + line(2) + b"   \n" + bad_line + b"\n" + line(6)]
    seen: list[str] = []
    with pytest.raises(FatalVendorError, match=message):
        await read_ids(acme.export_records("contacts", "7"), seen)
    assert seen == ["1", "2"]


async def test_a_failed_first_answer_of_the_download_is_retried(
    acme: VendorClient, export_vendor: ExportVendor, clock: FakeClock
) -> None:
    export_vendor.bodies["flaky"] = [line(1)]
    records = [record async for record in acme.export_records("contacts", "flaky")]
    assert [record["id"] for record in records] == ["1"]
    assert export_vendor.calls["data flaky"] == 2
    assert len(clock.sleeps) == 1


async def test_a_download_cut_midway_is_retryable_but_not_retried(
    acme: VendorClient, export_vendor: ExportVendor
) -> None:
    seen: list[str] = []
    with pytest.raises(RetryableVendorError, match="connection lost"):
        await read_ids(acme.export_records("contacts", "cut"), seen)
    assert seen == ["1", "2"]
    assert export_vendor.calls["data cut"] == 1  # the caller restarts from its checkpoint


async def test_records_arrive_before_the_rest_of_the_file_is_sent(
    acme: VendorClient, export_vendor: ExportVendor
) -> None:
    # The vendor sends the second line only once the first record has been handed out: a
    # client that read the whole body first would wait for ever (here: fail at the timeout).
    async with asyncio.timeout(10), aclosing(acme.export_records("contacts", "gated")) as records:
        first = await anext(records)
        export_vendor.gate.set()
        rest = [record async for record in records]
    assert [first["id"], *(record["id"] for record in rest)] == ["1", "2"]


async def test_stopping_early_closes_the_download(
    acme: VendorClient, export_vendor: ExportVendor
) -> None:
    export_vendor.bodies["7"] = [line(number) for number in range(1, 1000)]
    async with aclosing(acme.export_records("contacts", "7")) as records:
        assert (await anext(records))["id"] == "1"
    # The connection went back to the pool (or was dropped): the client still works.
    export_vendor.states["7"] = {"state": {"name": "DONE"}}
    assert (await acme.export_state("contacts", "7")).status == "complete"


async def test_credentials_never_reach_an_error_or_a_state(
    acme: VendorClient, export_vendor: ExportVendor
) -> None:
    export_vendor.states["7"] = {"state": {"name": "ERROR"}, "message": f"bad key {API_KEY}"}
    failed = await acme.export_state("contacts", "7")
    assert failed.error == "bad key [redacted]"

    errors: list[VendorError] = []
    with pytest.raises(RecordNotFound) as caught:
        await acme.export_state("contacts", "nope")
    errors.append(caught.value)
    with pytest.raises(RecordNotFound) as caught:
        await anext(acme.export_records("contacts", "nope"))
    errors.append(caught.value)
    for error in errors:
        texts = [str(error), repr(error), error.args, error.vendor_message, error.body]
        assert "[redacted]" in str(error)
        assert not [text for text in texts if API_KEY in str(text)]


# --- the line splitter ------------------------------------------------------------------------


async def chunks_of(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_lines_are_numbered_over_every_line_blank_ones_included() -> None:
    lines = ndjson_lines(chunks_of(b"a\n\nb", b"c\r\n  \n", b"", b"d"), where="w")
    assert [item async for item in lines] == [(1, b"a"), (3, b"bc\r"), (5, b"d")]


@pytest.mark.parametrize("chunks", [(b"12345678901\n",), (b"1234", b"5678", b"901")])
async def test_a_line_past_the_limit_fails_before_it_is_all_held(chunks: tuple[bytes, ...]) -> None:
    lines = ndjson_lines(chunks_of(b"ok\n", *chunks), where="w", max_line_bytes=10)
    with pytest.raises(FatalVendorError, match="line 2 is longer than 10 bytes"):
        [item async for item in lines]
