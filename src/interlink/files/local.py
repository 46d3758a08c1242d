"""Files on the local disk: the embedded default's file store, in `<data dir>/files`.

Layout: each key is a folder holding its parts, `<root>/bulk/<job>/data.ndjson/part-000001`.
A part is written into a temporary file beside it (`.part-000001.<random>.tmp`), flushed
to disk, then renamed over the part (`os.replace`, atomic): a crash at any moment leaves
either the old part or the new one, plus at worst a temporary file that readers ignore and
deletes clean up. Folders are created 0700 and files 0600: bulk files hold customer records.
All blocking file I/O runs in worker threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, ParamSpec, TypeVar

from interlink.files.base import CHUNK_SIZE, FileStore, PartData, PartInfo, part_gone
from interlink.files.keys import parse_part_name, part_name

FOLDER_MODE = 0o700
# Chunks of a streamed part are gathered up to this size per write, to spare thread hops.
WRITE_BUFFER_SIZE = 1024 * 1024
_TEMPORARY = re.compile(r"\.part-(\d{6})\..*\.tmp")

P = ParamSpec("P")
T = TypeVar("T")


class LocalFileStore(FileStore):
    def __init__(self, root: Path) -> None:
        # Absolute, so a later change of working directory cannot move the files.
        self.root = Path(root).absolute()

    def folder(self, key: str) -> Path:
        """Where the parts of `key` live."""
        return self.root.joinpath(*key.split("/"))

    async def _write_part(self, key: str, index: int, data: PartData) -> None:
        pending = _PendingPart(self.folder(key), index)
        committed = False
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                # One thread hop for the whole part, not three: each hop waits for a
                # worker thread and then for the event loop, which a busy export delays.
                await _off_loop(pending.write_whole, data)
            else:
                await _off_loop(pending.open)
                buffer = bytearray()
                async for chunk in data:
                    buffer += chunk
                    if len(buffer) >= WRITE_BUFFER_SIZE:
                        full, buffer = buffer, bytearray()
                        await _off_loop(pending.write, full)
                if buffer:
                    await _off_loop(pending.write, buffer)
                await _off_loop(pending.commit)
            committed = True
        finally:
            if not committed:
                await _off_loop(pending.discard)

    async def _parts(self, key: str) -> list[PartInfo]:
        return await _off_loop(_list_parts, self.folder(key))

    async def _stream(self, key: str, parts: list[PartInfo]) -> AsyncGenerator[bytes, None]:
        folder = self.folder(key)
        for info in parts:
            try:
                file = await _off_loop(_open_for_reading, folder / part_name(info.index))
            except FileNotFoundError as exc:
                raise part_gone(key, info.index) from exc
            try:
                while chunk := await _off_loop(file.read, CHUNK_SIZE):
                    yield chunk
            finally:
                file.close()

    async def _delete_parts_after(self, key: str, index: int) -> None:
        await _off_loop(self._delete_parts_after_now, self.folder(key), index)

    async def _delete_older_than(self, prefix: str, when: datetime) -> int:
        return await _off_loop(self._delete_older_than_now, prefix, when.timestamp())

    # -- blocking helpers, run in threads -----------------------------------------------

    def _delete_parts_after_now(self, folder: Path, index: int) -> None:
        for name in _names(folder):
            number = parse_part_name(name) or _temporary_index(name)
            if number is not None and number > index:
                _unlink(folder / name)
        self._prune(folder)

    def _delete_older_than_now(self, prefix: str, cutoff: float) -> int:
        start = self.folder(prefix) if prefix else self.root
        deleted = 0
        # Bottom up, so folders emptied below are pruned before their parents are tried.
        for path, _folders, names in os.walk(start, topdown=False):
            folder = Path(path)
            parts = [name for name in names if parse_part_name(name) is not None]
            times = [_modified(folder / name) for name in parts]
            if parts and max(times) < cutoff:
                for name in parts:
                    _unlink(folder / name)
                deleted += 1
            for name in names:
                # Leftovers of a crash mid-write, as old as the files being expired.
                if _temporary_index(name) is not None and _modified(folder / name) < cutoff:
                    _unlink(folder / name)
            if folder != self.root:
                with contextlib.suppress(OSError):  # not empty: it holds other files
                    folder.rmdir()
        self._prune(start.parent)
        return deleted

    def _prune(self, folder: Path) -> None:
        """Remove `folder` and its parents while they are empty, up to (not including) the root."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                if folder.exists():
                    return
            folder = folder.parent


class _PendingPart:
    """A part being written: a temporary file that `commit` renames over the part."""

    def __init__(self, folder: Path, index: int) -> None:
        self.folder = folder
        self.index = index
        self.path: Path | None = None
        self.file: BinaryIO | None = None

    def open(self) -> None:
        # Kept on the object rather than returned: if the caller is cancelled while this
        # runs, `discard` still finds the file to remove.
        descriptor, path = _create_temporary(self.folder, f".{part_name(self.index)}.")
        self.path = Path(path)
        self.file = os.fdopen(descriptor, "wb")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        file, _path = self._opened()
        file.write(data)

    def write_whole(self, data: bytes | bytearray | memoryview) -> None:
        """open, write and commit, in one go."""
        self.open()
        self.write(data)
        self.commit()

    def commit(self) -> None:
        file, path = self._opened()
        file.flush()
        os.fsync(file.fileno())
        file.close()
        os.replace(path, self.folder / part_name(self.index))
        _fsync_folder(self.folder)  # makes the rename itself durable

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.path is not None:
            _unlink(self.path)

    def _opened(self) -> tuple[BinaryIO, Path]:
        if self.file is None or self.path is None:
            raise RuntimeError("open() the part before writing it")
        return self.file, self.path


async def _off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking file I/O in a thread.

    If the caller is cancelled meanwhile, the thread is waited for before the cancellation
    goes on, so the cleanup that follows never races a write still in progress.
    """
    future = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation is what the caller sees
        raise


def _create_temporary(folder: Path, prefix: str) -> tuple[int, str]:
    """A new temporary file (0600) in `folder`, created with its missing parents."""
    for _ in range(2):
        _make_folder(folder)
        # A concurrent delete may prune the folder, empty, before the file is made in it.
        with contextlib.suppress(FileNotFoundError):
            return tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    _make_folder(folder)
    return tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")


def _make_folder(folder: Path) -> None:
    """Create `folder` and its missing parents, each 0700 (`makedirs` would set only the last)."""
    missing: list[Path] = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=FOLDER_MODE)


def _list_parts(folder: Path) -> list[PartInfo]:
    parts = []
    for name in _names(folder):
        index = parse_part_name(name)
        if index is None:
            continue
        try:
            status = (folder / name).lstat()
        except FileNotFoundError:
            continue  # deleted meanwhile
        parts.append(PartInfo(index, status.st_size))
    return sorted(parts, key=lambda part: part.index)


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _temporary_index(name: str) -> int | None:
    match = _TEMPORARY.fullmatch(name)
    return int(match.group(1)) if match else None


def _open_for_reading(path: Path) -> BinaryIO:
    # Unbuffered: each read is one system call of at most CHUNK_SIZE bytes.
    return open(path, "rb", buffering=0)


def _modified(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return float("inf")  # gone meanwhile: nothing to expire


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
