"""Local ordering of records for `order by`, consistent with how comparisons treat values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from interlink.ceql.paths import lookup
from interlink.ceql.tree import OrderBy
from interlink.ceql.values import instant, is_nan, number

RecordT = TypeVar("RecordT", bound=Mapping[str, Any])

# Values of different kinds never compare, so each kind gets a rank and sorts as a block.
_BOOLEAN, _NUMBER, _INSTANT, _STRING, _OTHER = range(5)


def sort_key(value: Any) -> tuple[int, Any]:
    """A key that orders present (non-null) values: booleans, then numbers (numeric strings
    included), then timestamps as instants, then other strings, then anything else."""
    if isinstance(value, bool):
        return (_BOOLEAN, value)
    amount = number(value)
    if amount is not None and not is_nan(amount):
        return (_NUMBER, amount)
    moment = instant(value)
    if moment is not None:
        return (_INSTANT, moment)
    if isinstance(value, str):
        return (_STRING, value)
    return (_OTHER, repr(value))


def order(records: Iterable[RecordT], order_by: Sequence[OrderBy]) -> list[RecordT]:
    """The records sorted by the keys, stable; missing or null values last in either
    direction."""
    ordered = list(records)
    # One stable sort per key, least significant first, is a sort on all keys.
    for key in reversed(order_by):
        present: list[tuple[tuple[int, Any], RecordT]] = []
        missing: list[RecordT] = []
        for record in ordered:
            value = lookup(record, key.field)
            if value is None:
                missing.append(record)
            else:
                present.append((sort_key(value), record))
        present.sort(key=lambda pair: pair[0], reverse=key.descending)
        ordered = [record for _, record in present] + missing
    return ordered
