"""File keys and part names: the naming rules every file store shares.

A key is a relative, slash-separated path such as `bulk/<job id>/data.ndjson`. Each store
keeps a file as the ordered parts `<key>/part-000001`, `<key>/part-000002`, … (a folder of
part files on disk, objects under a prefix in S3), so a key's segments may not look like a
part name, nor start with a dot (temporary files), nor climb out of the store.
"""

from __future__ import annotations

import re

from interlink.errors import InvalidInput

# Six digits, so listing part names in byte order (as S3 does) is listing them in order.
MAX_PART_INDEX = 999_999
# Below the file systems' 255-byte names and S3's 1,024-byte keys, with room for a prefix.
MAX_SEGMENT_BYTES = 200
MAX_KEY_BYTES = 800

_PART_NAME = re.compile(r"part-(\d{6})")
_RESERVED_SEGMENT = re.compile(r"part-\d+")


class InvalidKey(InvalidInput):
    """A file key that is not a safe relative path (absolute, `..`, backslash, …)."""

    def __init__(self, key: object, why: str) -> None:
        super().__init__(f"invalid file key {key!r}: {why}", field="key")
        self.key = key


def checked_key(key: str) -> str:
    """`key` itself when it is a valid file key; `InvalidKey` saying why otherwise."""
    if not isinstance(key, str):
        raise InvalidKey(key, "a key is a string")
    if not key:
        raise InvalidKey(key, "a key cannot be empty")
    _check_path(key)
    return key


def checked_prefix(prefix: str) -> str:
    """Like `checked_key`, but the empty prefix (the whole store) is allowed."""
    if not isinstance(prefix, str):
        raise InvalidKey(prefix, "a prefix is a string")
    if prefix:
        _check_path(prefix)
    return prefix


def under_prefix(key: str, prefix: str) -> bool:
    """Whether `key` is `prefix` or inside it, segment by segment (`bulk/1` ∌ `bulk/12`)."""
    return not prefix or key == prefix or key.startswith(prefix + "/")


def checked_index(index: int, *, allow_zero: bool = False) -> int:
    """A part index: 1 to `MAX_PART_INDEX` (0 too where it means "before the first part")."""
    lowest = 0 if allow_zero else 1
    if isinstance(index, bool) or not isinstance(index, int):
        raise InvalidInput(f"a part index is an integer, not {index!r}", field="index")
    if not lowest <= index <= MAX_PART_INDEX:
        raise InvalidInput(
            f"part index {index} is outside {lowest}..{MAX_PART_INDEX}", field="index"
        )
    return index


def part_name(index: int) -> str:
    return f"part-{index:06d}"


def parse_part_name(name: str) -> int | None:
    """The index of a part file name, None for anything else (temporary files included)."""
    match = _PART_NAME.fullmatch(name)
    if match is None:
        return None
    index = int(match.group(1))
    return index if index >= 1 else None


def _check_path(key: str) -> None:
    if key.startswith("/"):
        raise InvalidKey(key, "a key is a relative path, not an absolute one")
    if "\\" in key:
        raise InvalidKey(key, "a key separates its segments with '/', backslashes are refused")
    if any(ord(char) < 0x20 or char == "\x7f" for char in key):
        raise InvalidKey(key, "a key cannot hold control characters")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(key, f"a key is at most {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(key, "a key cannot have empty segments ('//' or a trailing '/')")
        if segment in {".", ".."}:
            raise InvalidKey(key, "a key cannot hold '.' or '..' segments")
        if segment.startswith("."):
            raise InvalidKey(key, "segments starting with '.' are reserved for temporary files")
        if _RESERVED_SEGMENT.fullmatch(segment):
            raise InvalidKey(key, f"segment {segment!r} is reserved for the parts of a file")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidKey(key, f"a segment is at most {MAX_SEGMENT_BYTES} bytes")
