"""receive_upload: multipart bodies streamed into a real file store, over real HTTP.

The app is a one-route FastAPI app calling `receive_upload` into a `LocalFileStore`. Each
test runs against it under uvicorn on loopback and through httpx's ASGI transport; the
latter also shows how much of a streamed body the server pulled before refusing it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from interlink.api.problems import install_problem_handlers
from interlink.api.uploads import MAX_METADATA_BYTES, receive_upload
from interlink.asgi_server import serving
from interlink.files.local import LocalFileStore

MAX_BYTES = 2 * 1024 * 1024
KEY = "uploads/one"
BOUNDARY = "test-boundary-7f3a9c"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
# InvalidInput's status (src/interlink/api/problems.py).
INVALID = 422


def upload_app(store: LocalFileStore, max_bytes: int = MAX_BYTES) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        received = await receive_upload(request, store, KEY, max_bytes=max_bytes)
        return dataclasses.asdict(received)

    return app


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "files")


@pytest.fixture(params=["uvicorn", "asgi"])
async def client(
    request: pytest.FixtureRequest, store: LocalFileStore
) -> AsyncIterator[httpx.AsyncClient]:
    app = upload_app(store)
    if request.param == "asgi":
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
        return
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture
async def asgi_client(store: LocalFileStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=upload_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


# -- building bodies ----------------------------------------------------------------------


def part(
    name: str, data: bytes, *, filename: str | None = None, content_type: str | None = None
) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    headers = f"Content-Disposition: {disposition}\r\n"
    if content_type is not None:
        headers += f"Content-Type: {content_type}\r\n"
    return f"--{BOUNDARY}\r\n{headers}\r\n".encode() + data + b"\r\n"


def file_part(
    data: bytes, filename: str | None = "data.csv", content_type: str | None = None
) -> bytes:
    return part("file", data, filename=filename, content_type=content_type)


def metadata_part(metadata: Any) -> bytes:
    data = metadata if isinstance(metadata, bytes) else json.dumps(metadata).encode()
    return part("metadata", data)


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def post(client: httpx.AsyncClient, content: Any, **headers: str) -> httpx.Response:
    return await client.post(
        "/upload", content=content, headers={"Content-Type": MULTIPART, **headers}
    )


class Streamed:
    """A body sent in chunks without Content-Length; counts what the server pulled."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self.sent += len(chunk)
            yield chunk


def file_chunks(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """`size` bytes of a repeating pattern, in chunks."""
    pattern = b"0123456789abcdef,\n" * 4096
    for start in range(0, size, chunk):
        yield pattern[: min(chunk, size - start)]


def streamed_file(head: bytes, size: int, tail: bytes = b"") -> Streamed:
    """A multipart body whose file part has `size` bytes; `tail` holds the parts after it."""

    def chunks() -> Iterator[bytes]:
        yield head
        yield from file_chunks(size)
        yield b"\r\n" + tail + f"--{BOUNDARY}--\r\n".encode()

    return Streamed(chunks())


def file_head(filename: str = "big.csv") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\n\r\n'
    ).encode()


async def stored(store: LocalFileStore) -> bytes:
    return b"".join([chunk async for chunk in await store.read(KEY)])


def leftovers(store: LocalFileStore) -> list[str]:
    """Every file under the store's root: parts and temporary files alike."""
    return [name for _path, _dirs, names in os.walk(store.root) for name in names]


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    if field is not None:
        assert problem["field"] == field, problem


# -- files arrive whole -------------------------------------------------------------------

CSV = b'email,name\r\na@b.c,"Ann, the first"\r\nb@c.d,"multi\nline"\r\n'
NDJSON = b'{"email": "a@b.c"}\n{"email": "\xc3\xa9@b.c"}\n'
JSON = b'[{"email": "a@b.c"},\r\n {"email": "b@c.d"}]'


@pytest.mark.parametrize(
    ("filename", "data", "kind"),
    [("contacts.csv", CSV, "csv"), ("c.ndjson", NDJSON, "ndjson"), ("c.json", JSON, "json")],
    ids=["csv", "ndjson", "json"],
)
async def test_a_file_arrives_byte_identical(
    client: httpx.AsyncClient, store: LocalFileStore, filename: str, data: bytes, kind: str
) -> None:
    metadata = {"action": "upsert", "identifier": "email"}
    response = await post(client, body(metadata_part(metadata), file_part(data, filename)))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "metadata": metadata,
        "filename": filename,
        "content_type": None,
        "size": len(data),
        "kind": kind,
    }
    assert await stored(store) == data
    assert [part.index for part in await store.parts(KEY)] == [1]


async def test_a_multi_mib_streamed_file_arrives_byte_identical(
    client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    size = MAX_BYTES  # exactly the limit: allowed
    sent = streamed_file(file_head(), size, tail=metadata_part({"action": "create"}))
    response = await post(client, sent)
    assert response.status_code == 200, response.text
    assert response.json()["size"] == size
    assert response.json()["metadata"] == {"action": "create"}
    assert await stored(store) == b"".join(file_chunks(size))


async def test_a_larger_limit_takes_a_several_mib_file_in_odd_chunks(
    store: LocalFileStore,
) -> None:
    app = upload_app(store, max_bytes=8 * MAX_BYTES)
    data = os.urandom(5 * MAX_BYTES + 12345)
    whole = body(file_part(data, "blob.csv"), metadata_part({"a": 1}))
    # Odd chunk sizes, so boundaries and CRLFs get split across chunks.
    pieces = Streamed(whole[i : i + 7919] for i in range(0, len(whole), 7919))
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        response = await post(client, pieces)
    assert response.status_code == 200, response.text
    assert response.json()["size"] == len(data)
    assert await stored(store) == data


async def test_a_large_file_passes_through_in_bounded_memory(store: LocalFileStore) -> None:
    size = 24 * 1024 * 1024
    transport = httpx.ASGITransport(app=upload_app(store, max_bytes=size))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        tracemalloc.start()
        try:
            response = await post(client, streamed_file(file_head(), size))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert response.status_code == 200, response.text
    assert await store.size(KEY) == size
    # The store gathers up to 1 MiB per disk write; the rest is a chunk or two.
    assert peak < 4 * 1024 * 1024, peak


# -- metadata -----------------------------------------------------------------------------


@pytest.mark.parametrize("metadata_first", [True, False])
async def test_metadata_may_come_before_or_after_the_file(
    client: httpx.AsyncClient, store: LocalFileStore, metadata_first: bool
) -> None:
    metadata = {"action": "delete", "identifier": "id", "nested": {"x": [1, 2]}}
    parts = [metadata_part(metadata), file_part(CSV)]
    response = await post(client, body(*(parts if metadata_first else reversed(parts))))
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == metadata
    assert await stored(store) == CSV


async def test_without_a_metadata_part_the_metadata_is_empty(
    client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    response = await post(client, body(file_part(CSV, "x.csv", "text/csv; charset=utf-8")))
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {}
    assert response.json()["content_type"] == "text/csv; charset=utf-8"


async def test_other_parts_are_ignored(client: httpx.AsyncClient, store: LocalFileStore) -> None:
    response = await post(client, body(part("note", b"hello"), file_part(CSV), part("x", b"")))
    assert response.status_code == 200, response.text
    assert await stored(store) == CSV


@pytest.mark.parametrize(
    ("metadata", "detail"),
    [
        (b'{"action": "upsert"', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
        (b"[" * 10_000 + b"]" * 10_000, "not valid JSON"),
        (b'[{"action": "upsert"}]', "a JSON object, not an array"),
        (b'"upsert"', "a JSON object, not a string"),
        (b"null", "a JSON object, not null"),
    ],
)
@pytest.mark.parametrize("metadata_first", [True, False])
async def test_metadata_that_is_not_a_json_object_is_refused(
    client: httpx.AsyncClient,
    store: LocalFileStore,
    metadata: bytes,
    detail: str,
    metadata_first: bool,
) -> None:
    parts = [metadata_part(metadata), file_part(CSV)]
    response = await post(client, body(*(parts if metadata_first else reversed(parts))))
    assert_problem(response, INVALID, "metadata")
    assert detail in response.json()["detail"]
    assert not await store.exists(KEY)  # written first, the file is deleted
    assert leftovers(store) == []


@pytest.mark.parametrize("metadata_first", [True, False])
async def test_metadata_over_64_kib_is_refused(
    client: httpx.AsyncClient, store: LocalFileStore, metadata_first: bool
) -> None:
    big = {"action": "upsert", "pad": "x" * MAX_METADATA_BYTES}
    parts = [metadata_part(big), file_part(CSV)]
    response = await post(client, body(*(parts if metadata_first else reversed(parts))))
    assert_problem(response, INVALID, "metadata")
    assert "64 KiB" in response.json()["detail"]
    assert not await store.exists(KEY)


async def test_metadata_of_exactly_64_kib_is_accepted(
    client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    pad = MAX_METADATA_BYTES - len(json.dumps({"pad": ""}))
    metadata = {"pad": "x" * pad}
    assert len(json.dumps(metadata)) == MAX_METADATA_BYTES
    response = await post(client, body(metadata_part(metadata), file_part(CSV)))
    assert response.status_code == 200, response.text


async def test_two_metadata_parts_are_refused(client: httpx.AsyncClient) -> None:
    response = await post(client, body(metadata_part({}), metadata_part({}), file_part(CSV)))
    assert_problem(response, INVALID, "metadata")


# -- size limits --------------------------------------------------------------------------


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    asgi_client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    sent = streamed_file(file_head(), 2 * MAX_BYTES)
    response = await post(asgi_client, sent, **{"Content-Length": str(2 * MAX_BYTES + 200)})
    assert_problem(response, 413)
    assert "2 MiB (2097152 bytes)" in response.json()["detail"]
    assert response.json()["limit"] == MAX_BYTES
    assert sent.sent == 0  # not one byte of the body was pulled
    assert leftovers(store) == []


async def test_a_declared_length_over_the_limit_is_refused_over_http(
    client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    response = await post(client, body(file_part(b"x" * (MAX_BYTES + 100_000))))
    assert_problem(response, 413)
    assert leftovers(store) == []


async def test_a_chunked_file_over_the_limit_is_cut_off_and_deleted(
    client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    sent = streamed_file(file_head(), 4 * MAX_BYTES, tail=metadata_part({}))
    response = await post(client, sent)
    assert_problem(response, 413)
    assert "2 MiB" in response.json()["detail"]
    assert not await store.exists(KEY)
    assert leftovers(store) == []


async def test_reading_stops_at_the_limit(
    asgi_client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    sent = streamed_file(file_head(), 4 * MAX_BYTES)
    response = await post(asgi_client, sent)
    assert_problem(response, 413)
    # Stopped within a chunk of the limit, long before the end of the body.
    assert MAX_BYTES < sent.sent <= MAX_BYTES + 2 * 64 * 1024
    assert leftovers(store) == []


async def test_a_file_one_byte_over_the_limit_is_refused(
    client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    response = await post(client, streamed_file(file_head(), MAX_BYTES + 1))
    assert_problem(response, 413)
    assert leftovers(store) == []


async def test_other_parts_count_towards_the_body_limit(
    asgi_client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    def chunks() -> Iterator[bytes]:
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="junk"\r\n\r\n'.encode()
        for _ in range(100):
            yield b"y" * 65536

    junk = Streamed(chunks())
    response = await post(asgi_client, junk)
    assert_problem(response, 413)
    assert junk.sent < MAX_BYTES + MAX_METADATA_BYTES + 4 * 65536
    assert leftovers(store) == []


# -- interrupted uploads -----------------------------------------------------------------


async def wait_for(condition: Any, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_cancelled_upload_leaves_nothing(store: LocalFileStore) -> None:
    messages = [{"type": "http.request", "body": file_head() + b"x" * 100_000, "more_body": True}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the rest of the body never comes
        raise AssertionError("unreachable")

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "headers": [(b"content-type", MULTIPART.encode())],
    }
    upload = asyncio.create_task(
        receive_upload(Request(scope, receive), store, KEY, max_bytes=MAX_BYTES)
    )
    await wait_for(lambda: leftovers(store) != [])  # the part being written
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload
    assert leftovers(store) == []  # deleted before the cancellation went on


async def test_a_client_that_disconnects_mid_file_leaves_nothing(store: LocalFileStore) -> None:
    async def stalled() -> AsyncIterator[bytes]:
        yield file_head() + b"x" * 100_000
        await asyncio.Event().wait()

    async with (
        serving(upload_app(store)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        request = asyncio.create_task(post(client, stalled()))
        await wait_for(lambda: leftovers(store) != [])
        request.cancel()  # closes the connection
        with pytest.raises(asyncio.CancelledError):
            await request
        await wait_for(lambda: leftovers(store) == [])


# -- bad bodies ---------------------------------------------------------------------------


async def test_a_body_that_is_not_multipart_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", json={"file": "a,b"})
    assert_problem(response, INVALID, "file")
    assert "multipart/form-data" in response.json()["detail"]


async def test_a_multipart_content_type_without_boundary_is_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/upload", content=body(file_part(CSV)), headers={"Content-Type": "multipart/form-data"}
    )
    assert_problem(response, INVALID, "file")
    assert "boundary" in response.json()["detail"]


@pytest.mark.parametrize(
    "content",
    [
        b"this is not multipart at all",
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'.encode(),
        f"--{BOUNDARY}\r\nBad Header\x00: x\r\n\r\nabc\r\n--{BOUNDARY}--\r\n".encode(),
        b"",
    ],
    ids=["garbage", "truncated", "bad-header", "empty"],
)
async def test_a_malformed_body_is_refused_and_leaves_nothing(
    client: httpx.AsyncClient, store: LocalFileStore, content: bytes
) -> None:
    response = await post(client, content)
    assert_problem(response, INVALID, "file")
    assert "malformed" in response.json()["detail"]
    assert leftovers(store) == []


async def test_a_body_without_a_file_part_is_refused(
    client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    response = await post(client, body(metadata_part({"action": "create"})))
    assert_problem(response, INVALID, "file")
    assert "no `file` part" in response.json()["detail"]
    assert leftovers(store) == []


async def test_two_file_parts_are_refused_and_the_first_is_deleted(
    client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    response = await post(client, body(file_part(CSV), file_part(NDJSON, "b.ndjson")))
    assert_problem(response, INVALID, "file")
    assert "two `file` parts" in response.json()["detail"]
    assert leftovers(store) == []


async def test_an_empty_file_is_accepted(client: httpx.AsyncClient, store: LocalFileStore) -> None:
    response = await post(client, body(file_part(b"", "empty.ndjson")))
    assert response.status_code == 200, response.text
    assert response.json()["size"] == 0
    assert response.json()["kind"] == "ndjson"
    assert await store.size(KEY) == 0


async def test_an_existing_file_under_the_key_is_replaced(
    client: httpx.AsyncClient, store: LocalFileStore
) -> None:
    await store.write(KEY, b"old contents")
    response = await post(client, body(file_part(NDJSON)))
    assert response.status_code == 200, response.text
    assert await stored(store) == NDJSON


async def test_a_utf8_filename_is_read_as_such(client: httpx.AsyncClient) -> None:
    response = await post(client, body(file_part(CSV, "données.csv")))
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "données.csv"


# -- the kind -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "filename", "content_type", "data", "kind"),
    [
        ({"format": "json"}, "x.csv", "text/csv", b"a,b\n", "json"),
        ({"format": "csv"}, None, None, b"[1]", "csv"),
        ({}, "X.JSONL", "text/csv", b"a,b\n", "ndjson"),
        ({}, "x.ndjson", None, b"a,b\n", "ndjson"),
        ({}, "x.Json", None, b"a,b\n", "json"),
        ({}, "x.txt", "application/x-ndjson", b"[1]", "ndjson"),
        ({}, None, "application/json; charset=utf-8", b"a,b\n", "json"),
        ({}, "upload", "text/csv", b"[1]", "csv"),
        ({}, None, "application/octet-stream", b'\xef\xbb\xbf \r\n\t[{"a": 1}]', "json"),
        ({}, None, None, b'\n\n{"a": 1}\n', "ndjson"),
        ({}, "data", "text/plain", b"a,b\n1,2\n", "csv"),
        (None, None, None, b"", "csv"),
    ],
)
async def test_the_kind_is_declared_or_detected(
    client: httpx.AsyncClient,
    metadata: dict[str, str] | None,
    filename: str | None,
    content_type: str | None,
    data: bytes,
    kind: str,
) -> None:
    parts = [file_part(data, filename, content_type)]
    if metadata is not None:
        parts.append(metadata_part(metadata))
    response = await post(client, body(*parts))
    assert response.status_code == 200, response.text
    assert response.json()["kind"] == kind


async def test_the_kind_is_sniffed_past_a_byte_order_mark_split_across_chunks(
    asgi_client: httpx.AsyncClient,
) -> None:
    whole = body(file_part(b'\xef\xbb\xbf  {"a": 1}\n', None))
    start = whole.index(b"\xef")
    pieces = [whole[: start + 1], whole[start + 1 : start + 2], whole[start + 2 : start + 4]]
    sent = Streamed(iter([*pieces, whole[start + 4 :]]))
    response = await post(asgi_client, sent)
    assert response.status_code == 200, response.text
    assert response.json()["kind"] == "ndjson"


@pytest.mark.parametrize("metadata_first", [True, False])
@pytest.mark.parametrize("declared", ["xml", 5, ["csv"]])
async def test_an_unknown_declared_format_is_refused(
    client: httpx.AsyncClient, store: LocalFileStore, declared: Any, metadata_first: bool
) -> None:
    parts = [metadata_part({"format": declared}), file_part(CSV)]
    response = await post(client, body(*(parts if metadata_first else reversed(parts))))
    assert_problem(response, INVALID, "metadata.format")
    assert leftovers(store) == []
