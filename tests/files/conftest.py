"""The file stores under test: every implementation, with a way to age what it wrote.

The S3 store runs against moto's S3 server, started once per session on a free loopback
port; each test gets a bucket of its own, and moto's state is reset after it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from moto.server import ThreadedMotoServer
from types_aiobotocore_s3 import S3Client

from interlink.files import FileStore
from tests.files.helpers import (
    Subject,
    local_subject,
    memory_subject,
    s3_client,
    s3_store,
    s3_subject,
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The address of a moto server (S3 API), listening on loopback only."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
async def s3_admin(moto_endpoint: str) -> AsyncIterator[S3Client]:
    """A plain S3 client on the moto server, to look behind the store's back."""
    async with s3_client(moto_endpoint) as client:
        yield client


@pytest.fixture
async def s3_bucket(moto_endpoint: str) -> AsyncIterator[str]:
    async with new_bucket(moto_endpoint) as name:
        yield name


@asynccontextmanager
async def new_bucket(endpoint: str) -> AsyncIterator[str]:
    """A new, empty bucket; moto forgets everything once it is left."""
    name = f"interlink-test-{uuid.uuid4().hex[:12]}"
    async with s3_client(endpoint) as client:
        await client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        # Moto's documented reset for server mode: it also closes the temporary files
        # that hold objects' data.
        async with httpx.AsyncClient() as http:
            (await http.post(f"{endpoint}/moto-api/reset")).raise_for_status()


@pytest.fixture(params=["local", "memory", "s3"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param == "local":
        yield local_subject(tmp_path / "files")
    elif request.param == "memory":
        yield memory_subject()
    else:
        endpoint = request.getfixturevalue("moto_endpoint")  # a plain fixture: callable here
        async with new_bucket(endpoint) as bucket:
            store = s3_store(endpoint, bucket)
            try:
                yield s3_subject(store)
            finally:
                await store.aclose()


@pytest.fixture
def store(subject: Subject) -> FileStore:
    return subject.store
