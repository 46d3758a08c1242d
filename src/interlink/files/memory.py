"""A file store in memory: the fake for tests, with the same rules as the real stores.

Its clock can be injected, so retention (`delete_older_than`) is testable without waiting.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from interlink.files.base import CHUNK_SIZE, FileStore, PartData, PartInfo, part_gone
from interlink.files.keys import under_prefix


@dataclass(frozen=True)
class _Part:
    data: bytes
    written_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InMemoryFileStore(FileStore):
    def __init__(self, clock: Callable[[], datetime] = _utcnow) -> None:
        self.clock = clock
        self._files: dict[str, dict[int, _Part]] = {}

    def keys(self) -> list[str]:
        """The keys of the files stored, sorted (a helper for tests)."""
        return sorted(self._files)

    async def _write_part(self, key: str, index: int, data: PartData) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            content = bytes(data)
        else:
            # Gathered first, so the part appears whole or, if the source fails, not at all.
            content = b"".join([bytes(chunk) async for chunk in data])
        self._files.setdefault(key, {})[index] = _Part(content, self.clock())

    async def _parts(self, key: str) -> list[PartInfo]:
        parts = self._files.get(key, {})
        return [PartInfo(index, len(parts[index].data)) for index in sorted(parts)]

    async def _stream(self, key: str, parts: list[PartInfo]) -> AsyncGenerator[bytes, None]:
        for info in parts:
            part = self._files.get(key, {}).get(info.index)
            if part is None:
                raise part_gone(key, info.index)
            view = memoryview(part.data)
            for start in range(0, len(view), CHUNK_SIZE):
                yield bytes(view[start : start + CHUNK_SIZE])

    async def _delete_parts_after(self, key: str, index: int) -> None:
        parts = self._files.get(key)
        if parts is None:
            return
        for beyond in [other for other in parts if other > index]:
            del parts[beyond]
        if not parts:
            del self._files[key]

    async def _delete_older_than(self, prefix: str, when: datetime) -> int:
        expired = [
            key
            for key, parts in self._files.items()
            if under_prefix(key, prefix) and max(part.written_at for part in parts.values()) < when
        ]
        for key in expired:
            del self._files[key]
        return len(expired)
