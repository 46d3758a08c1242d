"""A CSV upload's header: its columns checked, and each row's cells built into a record."""

from __future__ import annotations

from typing import Any

from interlink.bulk.formats.rows import InvalidFile

NULL_CELL = "#null"
"""The cell that sets a field to null (an empty cell leaves the field out)."""


class Columns:
    """The header row's names as paths: `address.city` is ("address", "city").

    Refused, as the file cannot be read without guessing: a header with no names, an empty
    name or path part, a name given twice, and a name that is both a field and the parent of
    others (`a` beside `a.b`). Names are stripped of surrounding spaces.
    """

    def __init__(self, cells: list[str], *, line: int) -> None:
        names = [cell.strip() for cell in cells]
        first_column: dict[str, int] = {}
        for column, name in enumerate(names, 1):
            if not name:
                raise InvalidFile(
                    f"line {line}: column {column} of the header row has no name", line=line
                )
            if "" in name.split("."):
                raise InvalidFile(
                    f"line {line}: header {name!r} (column {column}) has an empty part "
                    "in its dotted name",
                    line=line,
                )
            if name in first_column:
                raise InvalidFile(
                    f"line {line}: duplicate header {name!r} "
                    f"(columns {first_column[name]} and {column})",
                    line=line,
                )
            first_column[name] = column
        for name in names:
            parts = name.split(".")
            for depth in range(1, len(parts)):
                parent = ".".join(parts[:depth])
                if parent in first_column:
                    raise InvalidFile(
                        f"line {line}: header {parent!r} is a field and also the parent of "
                        f"{name!r}; a cell cannot be both",
                        line=line,
                    )
        self.names = names
        self._paths = [tuple(name.split(".")) for name in names]
        self._nested = any(len(path) > 1 for path in self._paths)

    def __len__(self) -> int:
        return len(self.names)

    def record(self, cells: list[str]) -> dict[str, Any]:
        """The record of one row (as many cells as columns): empty cells left out,
        `#null` as None, dotted names nested."""
        if not self._nested:
            return {
                name: None if cell == NULL_CELL else cell
                for name, cell in zip(self.names, cells, strict=True)
                if cell
            }
        record: dict[str, Any] = {}
        for path, cell in zip(self._paths, cells, strict=True):
            if not cell:
                continue
            target = record
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = None if cell == NULL_CELL else cell
        return record
