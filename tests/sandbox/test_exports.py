"""The export service: snapshot at once, file in the background, folder removed at close."""

from __future__ import annotations

import orjson
import pytest

from interlink.sandbox import SandboxStore
from interlink.sandbox.errors import NotFoundError, NotReady
from interlink.sandbox.exports import ExportService

from .helpers import FakeTime, until


async def test_export_lifecycle(store: SandboxStore, fake_time: FakeTime) -> None:
    service = ExportService(store)
    await service.start()
    old = store.contacts.create({"email": "old@example.com"})
    fake_time.advance(1)
    new = store.contacts.create({"email": "new@example.com"})

    everything = service.create("contacts")
    since = service.create("contacts", updated_since=new["updated_at"])
    with pytest.raises(NotReady):
        service.file(everything.id)  # the writer has not had a turn yet
    assert everything.public()["status"] == "processing"
    assert everything.public()["record_count"] is None
    # Changes after the export started are not in its snapshot.
    store.contacts.update(old["id"], {"title": "changed later"})

    await until(lambda: since.status == everything.status == "complete")
    lines = service.file(everything.id).read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == [old, new]
    assert everything.public()["record_count"] == 2
    assert service.get(since.id).record_count == 1

    folder = service.file(everything.id).parent
    await service.aclose()
    assert not folder.exists()


async def test_unknown_export_and_object(store: SandboxStore) -> None:
    service = ExportService(store)
    await service.start()
    try:
        with pytest.raises(NotFoundError):
            service.get("ex_missing")
        with pytest.raises(NotFoundError):
            service.create("deals")
    finally:
        await service.aclose()
