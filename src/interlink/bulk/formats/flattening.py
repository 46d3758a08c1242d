"""Nested records as flat dotted columns, and the CSV header a whole file is written with."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """`{"address": {"city": "Oslo"}}` → `{"address.city": "Oslo"}`.

    Non-empty objects are opened; every other value is a leaf: scalars, None, lists, and
    empty objects (which have no columns to open into).
    """
    flat: dict[str, Any] = {}
    _flatten_into(flat, record, "")
    return flat


def _flatten_into(flat: dict[str, Any], record: Mapping[str, Any], prefix: str) -> None:
    for key, value in record.items():
        if isinstance(value, dict) and value:
            _flatten_into(flat, value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value


class _Column:
    __slots__ = ("children", "holds_value", "is_leaf")

    def __init__(self) -> None:
        self.children: dict[str, _Column] = {}
        self.is_leaf = False
        self.holds_value = False


async def csv_header(
    open_records: Callable[[], AsyncIterable[Mapping[str, Any]]],
    *,
    field_order: Iterable[str] = (),
) -> list[str]:
    """The columns of a CSV download: one pass over every record of the file.

    The rule, so that a file always gets the same header whatever its pages or chunks:
    - the columns are the union of every record's flattened paths (`address.city`);
    - top-level fields named in `field_order` (the object's schema fields, or the query's
      selection) come first, in that order; the other fields follow in the order they
      first appear in the file; the columns of one nested object stay together, their
      own order again first appearance;
    - a path seen only as null or `{}` is left out where other records have columns
      below it (`address` null here, `address.city` there): those records get empty
      cells below it, which is what null reads back as. A path that holds a real value
      somewhere is always kept, even beside its children, so no value is lost.
    Memory grows with the number of columns, not of records.
    """
    roots = _Column()
    async for record in open_records():
        _add_paths(roots, record)
    rank = {name: index for index, name in enumerate(field_order)}
    ordered = sorted(roots.children.items(), key=lambda item: rank.get(item[0], len(rank)))
    header: list[str] = []
    for name, column in ordered:
        _emit(header, name, column)
    return header


def _add_paths(parent: _Column, record: Mapping[str, Any]) -> None:
    for key, value in record.items():
        column = parent.children.get(key)
        if column is None:
            column = parent.children[key] = _Column()
        if isinstance(value, dict) and value:
            _add_paths(column, value)
        else:
            column.is_leaf = True
            if value is not None and not isinstance(value, dict):
                column.holds_value = True


def _emit(header: list[str], path: str, column: _Column) -> None:
    if column.is_leaf and (column.holds_value or not column.children):
        header.append(path)
    for key, child in column.children.items():
        _emit(header, f"{path}.{key}", child)
