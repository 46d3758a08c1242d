"""Native bulk export: a snapshot of an object written as NDJSON in the background."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from interlink.sandbox.collection import Record
from interlink.sandbox.errors import NotFoundError, NotReady
from interlink.sandbox.store import SandboxStore

logger = logging.getLogger(__name__)

_CHUNK = 10_000  # records per write, and how often a writer checks for shutdown
_NEWLINE = orjson.OPT_APPEND_NEWLINE


@dataclass
class Export:
    """One export job and where its file is."""

    id: str
    object: str
    created_at: str
    updated_since: str | None
    path: Path
    status: str = "processing"  # then "complete", or "failed" if the file cannot be written
    record_count: int | None = None  # known once complete
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        """What the API shows of it."""
        shown: dict[str, Any] = {
            "id": self.id,
            "object": self.object,
            "status": self.status,
            "record_count": self.record_count,
            "created_at": self.created_at,
            "updated_since": self.updated_since,
        }
        if self.error is not None:
            shown["error"] = self.error
        return shown


class ExportService:
    """Starts exports and keeps their files in a temporary folder it owns."""

    def __init__(self, store: SandboxStore) -> None:
        self._store = store
        self._exports: dict[str, Export] = {}
        self._folder: Path | None = None
        self._stopping = threading.Event()
        self._last_number = 0

    async def start(self) -> None:
        """Creates the folder the files go to."""
        self._folder = Path(tempfile.mkdtemp(prefix="interlink-sandbox-exports-"))
        self._stopping.clear()

    async def aclose(self) -> None:
        """Stops writers still running and removes the folder with every file."""
        self._stopping.set()
        tasks = [export.task for export in self._exports.values() if export.task is not None]
        if tasks:
            await asyncio.wait(tasks)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def create(self, object_name: str, updated_since: str | None = None) -> Export:
        """Takes the snapshot now and writes it in the background; 202-style, answers at once.

        The snapshot is a list of references: records are never changed in place, so the
        writer thread sees them exactly as they were at this moment.
        """
        if self._folder is None:
            raise RuntimeError("the export service is not started")
        records = self._store.collection(object_name).snapshot(updated_since)
        self._last_number += 1
        export_id = f"ex_{self._last_number:06d}"
        export = Export(
            id=export_id,
            object=object_name,
            created_at=self._store.clock.timestamp(),
            updated_since=updated_since,
            path=self._folder / f"{export_id}.ndjson",
        )
        export.task = asyncio.create_task(self._produce(export, records), name=export_id)
        self._exports[export_id] = export
        return export

    def get(self, export_id: str) -> Export:
        """One export; 404 if unknown."""
        export = self._exports.get(export_id)
        if export is None:
            raise NotFoundError(f"no export with id '{export_id}'")
        return export

    def file(self, export_id: str) -> Path:
        """The finished file; 409 while the export is still processing."""
        export = self.get(export_id)
        if export.status != "complete":
            raise NotReady(f"export '{export_id}' is {export.status}, not complete")
        return export.path

    async def _produce(self, export: Export, records: Sequence[Record]) -> None:
        try:
            written = await asyncio.to_thread(_write_ndjson, export.path, records, self._stopping)
        except OSError as error:
            export.status, export.error = "failed", f"cannot write the file: {error.strerror}"
            logger.warning("sandbox export %s failed: %s", export.id, error)
            return
        if written:
            export.status, export.record_count = "complete", len(records)


def _write_ndjson(path: Path, records: Sequence[Record], stopping: threading.Event) -> bool:
    """Writes one JSON object per line; False if told to stop first. Runs in a thread."""
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        for start in range(0, len(records), _CHUNK):
            if stopping.is_set():
                return False
            chunk = records[start : start + _CHUNK]
            out.write(b"".join(orjson.dumps(record, option=_NEWLINE) for record in chunk))
    # Renamed only when whole, so a reader never sees half a file.
    partial.rename(path)
    return True
