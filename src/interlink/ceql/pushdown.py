"""Split a predicate into what the vendor can filter and what Interlink must check itself.

The contract. `split(where, can_push)` returns `(pushed, residual)` with
`where ≡ AND(*pushed, residual)`:

- `can_push(p)` answering True is the element's promise that the vendor, given `p`,
  returns *every* record CEQL's `matches(p, record)` accepts. A vendor that returned fewer
  would lose records for good, and nothing local could bring them back.
- Records the vendor returns are then filtered locally with `residual` (None: keep all).
  That is enough only if the vendor applies each pushed conjunct *exactly*. Where its filter
  is looser or merely different at the edges (case-insensitive equality, nulls, time zones),
  evaluate the full `where` locally instead: always correct, since the vendor's answer then
  holds every matching record and local evaluation is CEQL's own semantics.
- Only conjuncts of a top-level AND are split; an OR or NOT goes to the vendor whole or not
  at all, so no record can be decided by half a condition.
"""

from __future__ import annotations

from collections.abc import Callable

from interlink.ceql.tree import And, Predicate


def conjuncts(predicate: Predicate) -> list[Predicate]:
    """`a and (b and c)` as [a, b, c]; anything else as itself alone."""
    if not isinstance(predicate, And):
        return [predicate]
    return [part for item in predicate.items for part in conjuncts(item)]


def split(
    predicate: Predicate | None, can_push: Callable[[Predicate], bool]
) -> tuple[list[Predicate], Predicate | None]:
    """(conjuncts the vendor can filter, the residual Interlink must evaluate or None)."""
    if predicate is None:
        return [], None
    pushed: list[Predicate] = []
    kept: list[Predicate] = []
    for part in conjuncts(predicate):
        (pushed if can_push(part) else kept).append(part)
    if not kept:
        return pushed, None
    return pushed, kept[0] if len(kept) == 1 else And(tuple(kept))
