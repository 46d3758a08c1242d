"""The file store interface: bulk files written as ordered parts, read back as one stream.

Files are sequences of parts because an S3-compatible store can neither append to nor
truncate an object: a bulk job writes one part per page, rewrites the part it was on when
it resumes from a checkpoint, and drops the parts beyond it. Every implementation keeps
the same rules, enforced here: valid keys and indexes (see `keys`), a part becomes visible
whole or not at all, a file exists while it has at least one part, and it reads back as
its parts concatenated in index order, streamed in chunks of at most `CHUNK_SIZE` bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from interlink.errors import InvalidInput, NotFound
from interlink.files.keys import checked_index, checked_key, checked_prefix

CHUNK_SIZE = 64 * 1024

# What a part is written from: the bytes, or chunks as they arrive (an upload, a page).
PartData: TypeAlias = bytes | AsyncIterable[bytes]


@dataclass(frozen=True)
class PartInfo:
    index: int
    size: int


class FileStore(ABC):
    """Files by key, each an ordered sequence of parts numbered from 1.

    Implementations provide the underscored methods; the public ones check their
    arguments first, so every store refuses the same keys with the same errors.
    """

    async def write_part(self, key: str, index: int, data: PartData) -> None:
        """Write part `index` of `key`, replacing it if it exists (so retrying is safe).

        Readers see the old part or the new one, never a mix; a write that fails or is
        cancelled leaves the old part (or none) in place. Parts may be written in any
        order and concurrently; of two writes racing for one part, the last to finish wins.
        """
        key, index = checked_key(key), checked_index(index)
        await self._write_part(key, index, data)

    async def write(self, key: str, data: PartData) -> None:
        """Write a small whole file: part 1 is `data`, and any parts after it are dropped.

        Atomic when the file had at most one part; replacing a file of several parts, a
        crash between the two steps can leave the new part 1 followed by the old rest.
        """
        key = checked_key(key)
        await self._write_part(key, 1, data)
        await self._delete_parts_after(key, 1)

    async def parts(self, key: str) -> list[PartInfo]:
        """The parts of `key` in index order; empty when the file does not exist."""
        return await self._parts(checked_key(key))

    async def delete_parts_after(self, key: str, index: int) -> None:
        """Drop every part beyond `index` (a checkpoint); 0 drops them all. Missing: no-op."""
        await self._delete_parts_after(checked_key(key), checked_index(index, allow_zero=True))

    async def read(self, key: str) -> AsyncGenerator[bytes, None]:
        """The file's parts concatenated in order, as chunks of at most `CHUNK_SIZE` bytes.

        Awaiting this raises `NotFound` at once for a missing file (before any byte is
        sent, so an HTTP answer can still be an error); the chunks are then read lazily,
        in constant memory. A part deleted while being read raises `NotFound` mid-stream.
        Gaps between indexes are not errors: `parts()` shows them to whoever cares.
        It is an async generator: close it (`contextlib.aclosing`) when stopping early,
        so the part being read is closed at once rather than when it is collected.
        """
        key = checked_key(key)
        parts = await self._parts(key)
        if not parts:
            raise _not_found(key)
        return self._stream(key, parts)

    async def size(self, key: str) -> int:
        """The file's size in bytes: the sum of its parts. `NotFound` when missing."""
        key = checked_key(key)
        parts = await self._parts(key)
        if not parts:
            raise _not_found(key)
        return sum(part.size for part in parts)

    async def exists(self, key: str) -> bool:
        return bool(await self._parts(checked_key(key)))

    async def delete(self, key: str) -> None:
        """Delete the file (all its parts); deleting a missing file is not an error.

        Only this key: files under it (`key/…`) are other files and stay.
        """
        await self._delete_parts_after(checked_key(key), 0)

    async def delete_older_than(self, prefix: str, when: datetime) -> int:
        """Delete the files at or under `prefix` last written before `when`; return how many.

        A file's time is that of its newest part, so a file still being written stays.
        The empty prefix means the whole store. `when` must carry a time zone.
        """
        prefix = checked_prefix(prefix)
        if not isinstance(when, datetime) or when.tzinfo is None:
            raise InvalidInput("`when` must be a datetime with a time zone", field="when")
        return await self._delete_older_than(prefix, when)

    async def aclose(self) -> None:  # noqa: B027 (a hook: most stores hold nothing open)
        """Release what the store holds open (an S3 client's connections); nothing by default.

        The store stays usable: what it needs is opened again on the next call.
        """

    # -- what an implementation provides (arguments already checked) ----------------------

    @abstractmethod
    async def _write_part(self, key: str, index: int, data: PartData) -> None: ...

    @abstractmethod
    async def _parts(self, key: str) -> list[PartInfo]: ...

    @abstractmethod
    def _stream(self, key: str, parts: list[PartInfo]) -> AsyncGenerator[bytes, None]:
        """Chunks of the given parts in order (an async generator); `NotFound` if one is gone."""

    @abstractmethod
    async def _delete_parts_after(self, key: str, index: int) -> None: ...

    @abstractmethod
    async def _delete_older_than(self, prefix: str, when: datetime) -> int: ...


def _not_found(key: str) -> NotFound:
    return NotFound(f"file {key!r} not found")


def part_gone(key: str, index: int) -> NotFound:
    """The error of a part that disappeared while its file was being read."""
    return NotFound(f"file {key!r} changed while being read: part {index} is gone")
