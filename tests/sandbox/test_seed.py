"""Seeding: counts, unique emails, valid company references, indexes consistent."""

from __future__ import annotations

from interlink.sandbox import SandboxStore, build_store
from interlink.sandbox.seed import seed_store

from .helpers import make_config


def test_seed_counts_and_shapes(store: SandboxStore) -> None:
    seed_store(store, 1000)
    assert store.counts() == {"contacts": 1000, "companies": 100}
    contacts = store.contacts.snapshot()
    assert len({record["email"] for record in contacts}) == 1000
    company_ids = {record["id"] for record in store.companies.snapshot()}
    assert {record["company_id"] for record in contacts} <= company_ids
    for record in contacts[:50]:
        store.contacts.schema.check(record)  # raises if a seeded record is invalid
    assert store.contacts.find("email", contacts[500]["email"]) == contacts[500]


def test_seeded_orders_agree_and_new_records_come_after(store: SandboxStore) -> None:
    seed_store(store, 5000)  # more records than seconds in the seeded hour
    by_id = store.contacts.snapshot()
    by_updated = store.contacts.snapshot("2000-01-01T00:00:00Z")
    assert by_updated == by_id  # seeded times rise with the id
    assert len({record["updated_at"] for record in by_id}) < len(by_id)  # ties happen
    created = store.contacts.create({"email": "fresh@example.com"})
    assert created["id"] > by_id[-1]["id"]
    assert created["updated_at"] >= by_id[-1]["updated_at"]
    assert store.contacts.snapshot("2000-01-01T00:00:00Z")[-1] == created


def test_small_seeds_have_one_company() -> None:
    assert build_store(make_config(seed=3)).counts() == {"contacts": 3, "companies": 1}
    assert build_store(make_config(seed=0)).counts() == {"contacts": 0, "companies": 0}
