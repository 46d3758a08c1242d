"""The store: orders, cursors, updated_since with ties, filters, validation, deletes feed."""

from __future__ import annotations

from typing import Any

import pytest

from interlink.sandbox import SandboxStore
from interlink.sandbox.collection import Change, Collection, Record
from interlink.sandbox.errors import BadRequest, DuplicateRecord, NotFoundError, ValidationFailed

from .helpers import FakeTime

SINCE_EVER = "2000-01-01T00:00:00Z"


def add_contacts(contacts: Collection, count: int, start: int = 0) -> list[Record]:
    return [contacts.create({"email": f"person{n}@example.com"}) for n in range(start, count)]


def walk(contacts: Collection, limit: int, **options: Any) -> list[str]:
    """Every id a client paging to the end would see, in order."""
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        page = contacts.page(limit=limit, cursor=cursor, **options)
        ids += [record["id"] for record in page.results]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("paging never ended")


def test_create_gives_a_complete_record(store: SandboxStore) -> None:
    record = store.contacts.create({"email": "ada@example.com", "first_name": "Ada"})
    assert record == {
        "id": "ct_000000000001",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": None,
        "phone": None,
        "title": None,
        "company_id": None,
        "lifecycle_stage": None,
        "created_at": "2024-05-01T12:00:00.000Z",
        "updated_at": "2024-05-01T12:00:00.000Z",
    }
    assert store.contacts.get(record["id"]) == record


def test_id_order_is_creation_order_and_pages_cover_everything_once(
    store: SandboxStore,
) -> None:
    created = [record["id"] for record in add_contacts(store.contacts, 25)]
    assert created == sorted(created)
    assert walk(store.contacts, limit=7) == created
    last = store.contacts.page(limit=25)
    assert last.next_cursor is None  # no empty trailing page


def test_updated_since_orders_ties_by_id_and_pages_through_them(
    store: SandboxStore, fake_time: FakeTime
) -> None:
    # Five records share each millisecond, as happens under load.
    for batch in range(4):
        add_contacts(store.contacts, 5 * batch + 5, start=5 * batch)
        fake_time.advance(0.001)
    page = store.contacts.page(updated_since=SINCE_EVER)
    keys = [(record["updated_at"], record["id"]) for record in page.results]
    assert keys == sorted(keys)
    assert len(set(key[0] for key in keys)) == 4
    # A page boundary inside a run of equal timestamps loses and repeats nothing.
    assert walk(store.contacts, limit=3, updated_since=SINCE_EVER) == [key[1] for key in keys]


def test_updated_since_is_inclusive(store: SandboxStore, fake_time: FakeTime) -> None:
    older = store.contacts.create({"email": "old@example.com"})
    fake_time.advance(1)
    newer = store.contacts.create({"email": "new@example.com"})
    page = store.contacts.page(updated_since=newer["updated_at"])
    assert [record["id"] for record in page.results] == [newer["id"]]
    page = store.contacts.page(updated_since=older["updated_at"])
    assert len(page.results) == 2


def test_a_record_updated_while_paging_moves_behind_the_cursor(
    store: SandboxStore, fake_time: FakeTime
) -> None:
    first, *_ = add_contacts(store.contacts, 6)
    page = store.contacts.page(limit=3, updated_since=SINCE_EVER)
    fake_time.advance(1)
    store.contacts.update(first["id"], {"title": "CTO"})
    rest = walk_from(store.contacts, page.next_cursor)
    # Already served before the change, served again after it, at the end.
    assert rest[-1] == first["id"]
    assert len(rest) == 4


def walk_from(contacts: Collection, cursor: str | None) -> list[str]:
    ids: list[str] = []
    while cursor is not None:
        page = contacts.page(limit=2, cursor=cursor, updated_since=SINCE_EVER)
        ids += [record["id"] for record in page.results]
        cursor = page.next_cursor
    return ids


def test_equality_filters_combine(store: SandboxStore) -> None:
    for n in range(10):
        store.contacts.create(
            {"email": f"p{n}@example.com", "title": "CTO" if n % 2 else "CEO", "last_name": "X"}
        )
    page = store.contacts.page(filters={"title": "CTO", "last_name": "X"}, limit=2)
    assert [record["email"] for record in page.results] == ["p1@example.com", "p3@example.com"]
    assert page.next_cursor is not None
    rest = store.contacts.page(filters={"title": "CTO"}, cursor=page.next_cursor)
    assert [record["email"] for record in rest.results] == [f"p{n}@example.com" for n in (5, 7, 9)]


def test_email_filter_uses_the_index_and_respects_other_conditions(
    store: SandboxStore, fake_time: FakeTime
) -> None:
    add_contacts(store.contacts, 5)
    fake_time.advance(1)
    later = store.contacts.create({"email": "later@example.com", "title": "CEO"})
    assert store.contacts.page(filters={"email": "later@example.com"}).results == [later]
    assert store.contacts.page(filters={"email": "nobody@example.com"}).results == []
    assert store.contacts.page(filters={"email": "later@example.com", "title": "CTO"}).results == []
    since = store.contacts.page(
        updated_since=later["updated_at"], filters={"email": "person0@example.com"}
    )
    assert since.results == []


def test_filter_on_an_integer_field(store: SandboxStore) -> None:
    store.companies.create({"name": "Small", "employees": 5})
    big = store.companies.create({"name": "Big", "employees": 5000})
    value = store.companies.schema.filter_value("employees", "5000")
    assert store.companies.page(filters={"employees": value}).results == [big]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"filters": {"shoe_size": 4}}, "shoe_size"),
        ({"updated_since": "soon"}, "updated_since"),
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
def test_bad_listing_parameters(store: SandboxStore, options: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        store.contacts.page(**options)


def test_unknown_object_and_record_are_404(store: SandboxStore) -> None:
    with pytest.raises(NotFoundError, match="deals"):
        store.collection("deals")
    with pytest.raises(NotFoundError):
        store.contacts.get("ct_000000000999")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"first_name": "No Email"}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b.c", "favourite_color": "red"}, "favourite_color"),
        ({"email": 42}, "email"),
    ],
)
def test_contact_validation(store: SandboxStore, values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed, match=field) as caught:
        store.contacts.create(values)
    assert caught.value.field == field
    assert len(store.contacts) == 0


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"domain": "x.com"}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "A", "employees": "9"}, "employees"),
        ({"name": "A", "employees": True}, "employees"),
    ],
)
def test_company_validation(store: SandboxStore, values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        store.companies.create(values)
    assert caught.value.field == field


def test_read_only_fields_in_a_write_are_ignored(store: SandboxStore) -> None:
    record = store.contacts.create({"id": "mine", "email": "a@b.c", "created_at": "1999"})
    assert record["id"] == "ct_000000000001"
    assert record["created_at"] == "2024-05-01T12:00:00.000Z"


def test_taken_email_is_a_conflict_naming_the_holder(store: SandboxStore) -> None:
    holder = store.contacts.create({"email": "ada@example.com"})
    other = store.contacts.create({"email": "alan@example.com"})
    with pytest.raises(DuplicateRecord) as caught:
        store.contacts.create({"email": "ada@example.com"})
    assert caught.value.existing_id == holder["id"]
    assert caught.value.body()["existing_id"] == holder["id"]
    with pytest.raises(DuplicateRecord):
        store.contacts.update(other["id"], {"email": "ada@example.com"})
    # Its own email is no conflict, and a freed email can be taken again.
    store.contacts.update(holder["id"], {"email": "ada@example.com", "title": "Countess"})
    store.contacts.update(holder["id"], {"email": "ada@new.example.com"})
    assert store.contacts.create({"email": "ada@example.com"})["id"] == "ct_000000000003"


def test_update_merges_allows_null_and_moves_updated_at(
    store: SandboxStore, fake_time: FakeTime
) -> None:
    record = store.contacts.create({"email": "a@b.c", "first_name": "Ada", "title": "CTO"})
    fake_time.advance(2)
    updated = store.contacts.update(record["id"], {"title": None, "last_name": "Lovelace"})
    assert updated["first_name"] == "Ada"
    assert updated["title"] is None
    assert updated["last_name"] == "Lovelace"
    assert updated["created_at"] == record["created_at"]
    assert updated["updated_at"] == "2024-05-01T12:00:02.000Z"
    assert record["title"] == "CTO"  # what was handed out before is a snapshot
    with pytest.raises(ValidationFailed, match="email"):
        store.contacts.update(record["id"], {"email": None})


def test_update_changing_nothing_is_a_no_op(store: SandboxStore, fake_time: FakeTime) -> None:
    changes: list[Change] = []
    store.add_listener(changes.append)
    record = store.contacts.create({"email": "a@b.c", "title": "CTO"})
    fake_time.advance(1)
    assert store.contacts.update(record["id"], {"title": "CTO"}) is record
    assert [change.event_type for change in changes] == ["contact.created"]


def test_delete_feeds_the_deleted_listing(store: SandboxStore, fake_time: FakeTime) -> None:
    records = add_contacts(store.contacts, 6)
    for record in records[:4]:
        store.contacts.delete(record["id"])
        fake_time.advance(0.5)
    with pytest.raises(NotFoundError):
        store.contacts.get(records[0]["id"])
    with pytest.raises(NotFoundError):
        store.contacts.delete(records[0]["id"])
    assert len(store.contacts) == 2
    assert walk(store.contacts, limit=10) == [records[4]["id"], records[5]["id"]]
    assert store.contacts.page(updated_since=SINCE_EVER).results == records[4:]

    everything = store.contacts.deleted_page()
    assert [entry["id"] for entry in everything.results] == [r["id"] for r in records[:4]]
    assert everything.results[1] == {
        "id": records[1]["id"],
        "deleted_at": "2024-05-01T12:00:00.500Z",
    }
    since = store.contacts.deleted_page(since="2024-05-01T12:00:01Z")  # inclusive
    assert [entry["id"] for entry in since.results] == [records[2]["id"], records[3]["id"]]
    first = store.contacts.deleted_page(limit=3)
    rest = store.contacts.deleted_page(limit=3, cursor=first.next_cursor)
    assert [entry["id"] for entry in first.results + rest.results] == [r["id"] for r in records[:4]]
    assert rest.next_cursor is None


def test_listeners_hear_every_change(store: SandboxStore) -> None:
    changes: list[Change] = []
    store.add_listener(changes.append)
    company = store.companies.create({"name": "Acme"})
    store.companies.update(company["id"], {"domain": "acme.example"})
    store.companies.delete(company["id"])
    assert [change.event_type for change in changes] == [
        "company.created",
        "company.updated",
        "company.deleted",
    ]
    assert changes[2].record["id"] == company["id"]
    store.remove_listener(changes.append)


def test_snapshot(store: SandboxStore, fake_time: FakeTime) -> None:
    old = add_contacts(store.contacts, 3)
    fake_time.advance(1)
    new = store.contacts.create({"email": "new@example.com"})
    assert store.contacts.snapshot() == [*old, new]
    assert store.contacts.snapshot(new["updated_at"]) == [new]


def test_counts(store: SandboxStore) -> None:
    add_contacts(store.contacts, 3)
    store.companies.create({"name": "Acme"})
    assert store.counts() == {"contacts": 3, "companies": 1}
