"""Dotted field paths into records: look a value up, copy a selection out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def locate(record: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
    """The keys that lead to `path` in `record`, or None if it is not there.

    Vendors send flat records whose keys may contain dots, so a flat key wins over nesting:
    `address.city` is `record["address.city"]` when present, else
    `record["address"]["city"]` (and `a.b.c` may also be `record["a.b"]["c"]`…).
    """
    if path in record:
        return (path,)
    return _locate(record, path.split("."))


def _locate(node: Any, segments: list[str]) -> tuple[str, ...] | None:
    if not isinstance(node, Mapping):
        return None
    for cut in range(len(segments), 0, -1):
        key = ".".join(segments[:cut])
        if key not in node:
            continue
        if cut == len(segments):
            return (key,)
        rest = _locate(node[key], segments[cut:])
        if rest is not None:
            return (key, *rest)
    return None


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """The value at `path`, or None when it is missing (CEQL treats missing as null)."""
    if path in record:  # the common case, without splitting anything
        return record[path]
    keys = _locate(record, path.split("."))
    if keys is None:
        return None
    value: Any = record
    for key in keys:
        value = value[key]
    return value


def project(record: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """The selected fields of a record, in the record's own shape; `fields=None` is `*`.

    Missing fields are left out rather than set to null; `id` is always kept. A nested field
    stays nested (`address.city` gives `{"address": {"city": …}}`), a flat one stays flat.
    Values are shared with `record`, not copied.
    """
    if fields is None:
        return dict(record)
    result: dict[str, Any] = {}
    for field in fields if "id" in fields else ("id", *fields):
        keys = locate(record, field)
        if keys is not None:
            _place(result, record, keys)
    return result


def _place(result: dict[str, Any], record: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    target: dict[str, Any] = result
    source: Any = record
    for key in keys[:-1]:
        source = source[key]
        existing = target.get(key)
        if existing is source or (existing is not None and not isinstance(existing, dict)):
            return  # the whole parent is already selected
        if existing is None:
            existing = target[key] = {}
        target = existing
    target[keys[-1]] = source[keys[-1]]
