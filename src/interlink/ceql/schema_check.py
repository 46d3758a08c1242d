"""Check a query's fields against an object's declared schema."""

from __future__ import annotations

import difflib
from collections.abc import Collection

from interlink.ceql.errors import CEQLError
from interlink.ceql.tree import Predicate, Query, fields_in_order

# Every record has an id, whether or not the element's schema lists it.
_ALWAYS_KNOWN = "id"


def check_fields(target: Query | Predicate, known: Collection[str]) -> None:
    """Raise CEQLError naming the first field (select list, where, order by) that the schema
    does not know; a dotted field is known when its first segment is (`address.city` needs
    `address`), or when the schema lists the flat key itself."""
    names = set(known)
    for field in _fields(target):
        if field == _ALWAYS_KNOWN or field in names or field.split(".", 1)[0] in names:
            continue
        where = f" of {target.object}" if isinstance(target, Query) else ""
        guess = difflib.get_close_matches(field, names, n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else ""
        raise CEQLError(
            f"unknown field '{field}'{where}{hint}",
            fragment=field,
            field="q" if isinstance(target, Query) else "where",
        )


def _fields(target: Query | Predicate) -> list[str]:
    if not isinstance(target, Query):
        return fields_in_order(target)
    found = list(target.fields or ())
    if target.where is not None:
        found += fields_in_order(target.where)
    found += [key.field for key in target.order_by]
    return found
