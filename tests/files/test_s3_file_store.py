"""What only the S3 store does: its layout, multipart uploads, batches, configuration.

The contract (tests/files/test_file_store_contract.py) runs against it too; these tests
look behind its back, with a plain client on the same moto server.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from types_aiobotocore_s3 import S3Client

from interlink.files import CHUNK_SIZE, PartInfo, S3FileStore, file_store_from_settings
from interlink.files import s3 as s3_module
from interlink.settings import Settings
from tests.files.helpers import read_all, read_chunks, s3_store

KEY = "bulk/bulk_1/data.ndjson"
MiB = 1024 * 1024


@pytest.fixture
async def store(moto_endpoint: str, s3_bucket: str) -> AsyncIterator[S3FileStore]:
    store = s3_store(moto_endpoint, s3_bucket, prefix="tenant/files")
    try:
        yield store
    finally:
        await store.aclose()


async def calls_of(store: S3FileStore) -> list[tuple[str, dict[str, Any]]]:
    """Every S3 operation the store makes from now on: (name, its parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    client = await store._s3()
    client.meta.events.register("provide-client-params.s3.*", record)
    return calls


async def object_keys(admin: S3Client, bucket: str) -> list[str]:
    answer = await admin.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in answer.get("Contents", [])]


async def pending_uploads(admin: S3Client, bucket: str) -> list[str]:
    answer = await admin.list_multipart_uploads(Bucket=bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


async def test_one_object_per_part_under_the_prefix(
    store: S3FileStore, s3_admin: S3Client, s3_bucket: str
) -> None:
    await store.write_part(KEY, 2, b"two")
    await store.write_part(KEY, 1, b"one")
    await store.write_part(KEY, 999_999, b"last")

    assert await object_keys(s3_admin, s3_bucket) == [
        "tenant/files/bulk/bulk_1/data.ndjson/part-000001",
        "tenant/files/bulk/bulk_1/data.ndjson/part-000002",
        "tenant/files/bulk/bulk_1/data.ndjson/part-999999",
    ]
    answer = await s3_admin.get_object(Bucket=s3_bucket, Key=store.object_key(KEY, 2))
    async with answer["Body"] as body:
        assert await body.read() == b"two"


async def test_listing_a_file_is_one_request(store: S3FileStore) -> None:
    await store.write_part(KEY, 1, b"a")
    await store.write(f"{KEY}/inside", b"another file")
    calls = await calls_of(store)

    assert await store.parts(KEY) == [PartInfo(1, 1)]

    assert calls == [
        (
            "ListObjectsV2",
            {"Bucket": store.bucket, "Prefix": "tenant/files/bulk/bulk_1/data.ndjson/part-"},
        )
    ]


async def test_stores_with_other_prefixes_and_other_objects_are_left_alone(
    store: S3FileStore, s3_admin: S3Client, s3_bucket: str, moto_endpoint: str
) -> None:
    neighbour = s3_store(moto_endpoint, s3_bucket, prefix="tenant/other")
    try:
        await neighbour.write(KEY, b"neighbour's")
        await s3_admin.put_object(Bucket=s3_bucket, Key=f"tenant/files/{KEY}/notes.txt", Body=b"")
        await s3_admin.put_object(Bucket=s3_bucket, Key="tenant/files/stray", Body=b"")
        await store.write(KEY, b"mine")

        assert await store.parts(KEY) == [PartInfo(1, 4)]
        assert await store.delete_older_than("", datetime.now(UTC) + timedelta(days=1)) == 1

        assert not await store.exists(KEY)
        assert await read_all(neighbour, KEY) == b"neighbour's"
        assert sorted(await object_keys(s3_admin, s3_bucket)) == [
            f"tenant/files/{KEY}/notes.txt",
            "tenant/files/stray",
            f"tenant/other/{KEY}/part-000001",
        ]
    finally:
        await neighbour.aclose()


def source_of(total: int, consumed: list[int], chunk: int = 100_003) -> AsyncIterator[bytes]:
    """`total` bytes of a known pattern, in chunks; `consumed[0]` counts what was taken."""

    async def chunks() -> AsyncIterator[bytes]:
        number = 0
        while consumed[0] < total:
            piece = pattern(number, min(chunk, total - consumed[0]))
            consumed[0] += len(piece)
            number += 1
            yield piece

    return chunks()


def pattern(number: int, size: int) -> bytes:
    return (number.to_bytes(4, "big") * (size // 4 + 1))[:size]


def expected_digest(total: int, chunk: int = 100_003) -> str:
    digest, sent, number = hashlib.sha256(), 0, 0
    while sent < total:
        piece = pattern(number, min(chunk, total - sent))
        digest.update(piece)
        sent += len(piece)
        number += 1
    return digest.hexdigest()


async def test_a_large_streamed_part_goes_up_in_parts_with_bounded_memory(
    store: S3FileStore, s3_admin: S3Client, s3_bucket: str
) -> None:
    total, consumed = 20 * MiB, [0]
    client = await store._s3()
    # What the store holds at any moment is what it took from the source minus what it
    # has sent: recorded as each part leaves.
    held: list[int] = []
    sent = [0]

    def on_upload_part(params: dict[str, Any], **_: Any) -> None:
        held.append(consumed[0] - sent[0])
        sent[0] += len(params["Body"])

    client.meta.events.register("provide-client-params.s3.UploadPart", on_upload_part)
    calls = await calls_of(store)

    await store.write_part(KEY, 1, source_of(total, consumed))

    operations = Counter(name for name, _params in calls)
    assert operations == {"CreateMultipartUpload": 1, "UploadPart": 3, "CompleteMultipartUpload": 1}
    sizes = [len(params["Body"]) for name, params in calls if name == "UploadPart"]
    assert sizes == [8 * MiB, 8 * MiB, 4 * MiB]
    # Never more than a part and one chunk of the source in hand.
    assert max(held) <= s3_module.PART_SIZE + 100_003
    head = await s3_admin.head_object(Bucket=s3_bucket, Key=store.object_key(KEY, 1))
    assert head["ContentLength"] == total
    assert head["ETag"].strip('"').endswith("-3")  # a multipart object of three parts

    digest, largest = hashlib.sha256(), 0
    for chunk in await read_chunks(store, KEY):
        digest.update(chunk)
        largest = max(largest, len(chunk))
    assert digest.hexdigest() == expected_digest(total)
    assert largest == CHUNK_SIZE


async def test_a_streamed_part_up_to_a_part_size_is_one_put(store: S3FileStore) -> None:
    calls = await calls_of(store)

    await store.write_part(KEY, 1, source_of(s3_module.PART_SIZE, [0]))

    assert [name for name, _params in calls] == ["PutObject"]
    assert await store.size(KEY) == s3_module.PART_SIZE


async def test_an_interrupted_streamed_write_leaves_nothing(
    store: S3FileStore, s3_admin: S3Client, s3_bucket: str
) -> None:
    await store.write_part(KEY, 1, b"kept")

    async def breaking() -> AsyncIterator[bytes]:
        consumed = [0]
        async for chunk in source_of(20 * MiB, consumed):
            yield chunk
            if consumed[0] > 12 * MiB:  # one part already uploaded
                raise ConnectionError("the upload broke off")

    calls = await calls_of(store)
    with pytest.raises(ConnectionError):
        await store.write_part(KEY, 1, breaking())
    with pytest.raises(ConnectionError):
        await store.write_part(KEY, 2, breaking())

    assert [name for name, _ in calls].count("UploadPart") == 2
    assert [name for name, _ in calls].count("AbortMultipartUpload") == 2
    assert await pending_uploads(s3_admin, s3_bucket) == []
    assert await store.parts(KEY) == [PartInfo(1, 4)]
    assert await read_all(store, KEY) == b"kept"


async def test_a_cancelled_streamed_write_leaves_nothing(
    store: S3FileStore, s3_admin: S3Client, s3_bucket: str
) -> None:
    consumed, stuck = [0], asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        async for chunk in source_of(20 * MiB, consumed):
            yield chunk
            if consumed[0] > 12 * MiB:
                stuck.set()
                await asyncio.Event().wait()  # the client went quiet

    writing = asyncio.create_task(store.write_part(KEY, 1, stalling()))
    await stuck.wait()
    assert await pending_uploads(s3_admin, s3_bucket) == [store.object_key(KEY, 1)]
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing

    assert await pending_uploads(s3_admin, s3_bucket) == []
    assert not await store.exists(KEY)


async def test_deletes_go_in_batches(
    store: S3FileStore, monkeypatch: pytest.MonkeyPatch, s3_admin: S3Client, s3_bucket: str
) -> None:
    monkeypatch.setattr(s3_module, "DELETE_BATCH", 3)  # S3's limit is 1,000
    for index in range(1, 9):
        await store.write_part(KEY, index, b"%d" % index)
    calls = await calls_of(store)

    await store.delete_parts_after(KEY, 1)

    batches = [params["Delete"]["Objects"] for name, params in calls if name == "DeleteObjects"]
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert await object_keys(s3_admin, s3_bucket) == [store.object_key(KEY, 1)]


async def test_the_client_is_opened_on_first_use_and_closed(store: S3FileStore) -> None:
    assert store._client is None
    await store.write(KEY, b"x")
    assert store._client is not None

    await store.aclose()
    assert store._client is None
    await store.aclose()  # twice is fine
    assert await read_all(store, KEY) == b"x"  # and the store opens a new client


# -- configuration ------------------------------------------------------------------------


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the variables a test sets: no profile or config file of this machine."""
    for name in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.mark.usefixtures("aws_environment")
async def test_the_factory_store_uses_the_endpoint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, s3_admin: S3Client, s3_bucket: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    store = file_store_from_settings(Settings(file_store=f"s3://{s3_bucket}/hub"))
    assert isinstance(store, S3FileStore)
    try:
        assert store.endpoint_url == moto_endpoint
        await store.write(KEY, b"through the endpoint")
        client = await store._s3()
        assert client.meta.endpoint_url == moto_endpoint
    finally:
        await store.aclose()

    assert await object_keys(s3_admin, s3_bucket) == [f"hub/{KEY}/part-000001"]


@pytest.mark.usefixtures("aws_environment")
async def test_the_endpoint_given_is_passed_to_the_client(
    moto_endpoint: str, s3_bucket: str
) -> None:
    # Given in a mapping rather than the process environment: the store passes it on
    # itself, whatever botocore would read.
    settings = Settings(file_store=f"s3://{s3_bucket}")
    store = file_store_from_settings(settings, environ={"AWS_ENDPOINT_URL": moto_endpoint})
    assert isinstance(store, S3FileStore)
    try:
        await store.write(KEY, b"x")
        assert await read_all(store, KEY) == b"x"
        client = await store._s3()
        assert client.meta.endpoint_url == moto_endpoint
        # Not in the stubs of Config, which lists only its constructor's arguments.
        assert client.meta.config.s3 == {"addressing_style": "path"}  # type: ignore[attr-defined]
    finally:
        await store.aclose()
