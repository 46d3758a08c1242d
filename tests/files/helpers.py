"""Helpers for the file store tests: the stores under test, reading back, feeding chunks."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from aiobotocore.session import AioSession, get_session
from types_aiobotocore_s3 import S3Client

from interlink.files import FileStore, InMemoryFileStore, LocalFileStore, PartData, S3FileStore
from interlink.files.keys import part_name

# What the tests give moto, which takes any credentials.
S3_KEY = "testing"
S3_REGION = "us-east-1"


async def read_chunks(store: FileStore, key: str) -> list[bytes]:
    async with aclosing(await store.read(key)) as stream:
        return [chunk async for chunk in stream]


async def read_all(store: FileStore, key: str) -> bytes:
    return b"".join(await read_chunks(store, key))


async def chunked(chunks: Iterable[bytes], *, pause: bool = False) -> AsyncIterator[bytes]:
    """Yield `chunks` one by one, letting other tasks run between them with `pause`."""
    for chunk in chunks:
        if pause:
            await asyncio.sleep(0)
        yield chunk


@dataclass
class Subject:
    """A store, and `write_part_at`: write a part as if at `when` (for retention tests)."""

    store: FileStore
    write_part_at: Callable[[str, int, PartData, datetime], Awaitable[None]]


class Clock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


def local_subject(root: Path) -> Subject:
    store = LocalFileStore(root)

    async def write_part_at(key: str, index: int, data: PartData, when: datetime) -> None:
        await store.write_part(key, index, data)
        stamp = when.timestamp()
        os.utime(store.folder(key) / part_name(index), (stamp, stamp))

    return Subject(store, write_part_at)


def memory_subject() -> Subject:
    clock = Clock()
    store = InMemoryFileStore(clock=clock)

    async def write_part_at(key: str, index: int, data: PartData, when: datetime) -> None:
        clock.now = when
        try:
            await store.write_part(key, index, data)
        finally:
            clock.now = None

    return Subject(store, write_part_at)


@cache
def s3_session() -> AioSession:
    """One botocore session for the tests' clients: it parses the S3 model once, not per test."""
    return get_session()


def s3_store(endpoint: str, bucket: str, prefix: str = "files") -> S3FileStore:
    """A store on the moto server at `endpoint` (its buckets made by the caller)."""
    return S3FileStore(
        bucket,
        prefix,
        endpoint_url=endpoint,
        region=S3_REGION,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
        session=s3_session(),
    )


def s3_client(endpoint: str) -> AbstractAsyncContextManager[S3Client]:
    """A plain client on the moto server at `endpoint`, to look behind the store's back."""
    return s3_session().create_client(
        "s3",
        region_name=S3_REGION,
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
    )


def s3_subject(store: S3FileStore) -> Subject:
    """The S3 store, parts aged by setting their LastModified in moto's backend.

    S3 stamps LastModified itself, when a write completes, so neither a clock given to the
    store nor time-freezing in the test (the server runs its own clock) can date a part in
    the past, and sleeping for real would make the retention tests slow and flaky. Moto
    serves from a thread of this process, so its backend is at hand: the part is written
    through the real API, then its object's LastModified is set, as `os.utime` does for
    the local store. Every read of that time (ListObjectsV2 included) then sees `when`,
    at S3's one-second precision.
    """
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    async def write_part_at(key: str, index: int, data: PartData, when: datetime) -> None:
        await store.write_part(key, index, data)
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[store.bucket]
        # Moto keeps naive UTC times.
        bucket.keys[store.object_key(key, index)].last_modified = when.astimezone(UTC).replace(
            tzinfo=None
        )

    return Subject(store, write_part_at)
