"""A bulk query read against its object: what the vendor filters, what Interlink checks.

Built once when the job is created (so a bad query is a 400, not a failed job) and again
by the worker from the stored text; both read the same definition, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from interlink.ceql import CEQLError, Comparison, Predicate, Query, check_fields, parse_query, split
from interlink.elements.definition import ElementDefinition, ObjectDefinition
from interlink.services.records import pushed_filters
from interlink.vendor.times import parse_time


@dataclass(frozen=True)
class QueryPlan:
    query: Query
    obj: ObjectDefinition
    # Equality conditions the vendor's list call applies.
    filters: dict[str, str]
    # `updated >= T` (or `>`) handed to the vendor's changed-since filter, if it has one.
    changed_since: datetime | None

    @property
    def object_name(self) -> str:
        return self.query.object

    @property
    def predicate(self) -> Predicate | None:
        """The whole condition, always evaluated locally: pushing down is only an
        optimisation, so a vendor filter that is looser at the edges loses nothing."""
        return self.query.where


def plan_query(element: ElementDefinition, text: str) -> QueryPlan:
    """Parse and check `text` against the element; CEQLError (400) saying where and why."""
    query = parse_query(text)
    obj = element.find_object(query.object)
    if obj is None:
        known = ", ".join(sorted(element.objects)) or "none"
        raise CEQLError(
            f"unknown object '{query.object}' of element {element.key} (known: {known})",
            fragment=query.object,
            field="q",
        )
    if obj.fields is not None:
        check_fields(query, [field.name for field in obj.fields])
    return QueryPlan(
        query=query,
        obj=obj,
        filters=pushed_filters(obj, query.where),
        changed_since=_changed_since(obj, query.where),
    )


def _changed_since(obj: ObjectDefinition, predicate: Predicate | None) -> datetime | None:
    """The latest lower bound on the object's updated time among the top-level conditions.

    A changed-since filter returns records updated at or after the time, so it may be
    handed `>=` and `>` alike (the local evaluation drops the equal ones for `>`).
    """
    if obj.changed_since is None or obj.updated_field is None:
        return None
    if obj.changed_since.request is not None:
        return None  # a change feed (Stripe's events) keeps days, and past states: polling only
    updated = obj.updated_field.name

    def is_lower_bound(candidate: Predicate) -> bool:
        return (
            isinstance(candidate, Comparison)
            and candidate.field == updated
            and candidate.op in (">=", ">")
            and isinstance(candidate.value, str)
            and _time(candidate.value) is not None
        )

    bounds, _ = split(predicate, is_lower_bound)
    times = [_time(bound.value) for bound in bounds if isinstance(bound, Comparison)]
    found = [time for time in times if time is not None]
    return max(found) if found else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value, "rfc3339")
    except ValueError:
        return None
