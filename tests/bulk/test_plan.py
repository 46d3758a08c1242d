"""Planning a bulk query: what is handed to the vendor."""

from __future__ import annotations

from interlink.bulk.plan import plan_query
from interlink.elements.catalog import builtin_elements


def test_a_change_feed_is_never_a_bulk_querys_changed_since() -> None:
    # Stripe's changes come from its events (30 days, past states): a query lists the
    # object itself, and the condition is evaluated locally.
    stripe = builtin_elements()["stripe"]
    plan = plan_query(stripe, "select * from products where updated >= '2024-01-01T00:00:00Z'")
    assert plan.changed_since is None
    assert plan.predicate is not None
