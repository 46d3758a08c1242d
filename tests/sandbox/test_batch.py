"""Batch writes: one result per input, independent inputs, upsert by id or email."""

from __future__ import annotations

import pytest

from interlink.sandbox import SandboxStore
from interlink.sandbox.batch import run_batch
from interlink.sandbox.errors import BadRequest


def test_create_reports_each_input(store: SandboxStore) -> None:
    store.contacts.create({"email": "taken@example.com"})
    results = run_batch(
        store.contacts,
        "create",
        [{"email": "a@example.com"}, {"email": "bad"}, {"email": "taken@example.com"}, "x"],
    )
    assert results[0] == {"index": 0, "status": 201, "id": "ct_000000000002"}
    assert results[1]["status"] == 422
    assert results[1]["error"] == "validation_error"
    assert results[1]["field"] == "email"
    assert results[2]["status"] == 409
    assert results[2]["existing_id"] == "ct_000000000001"
    assert results[3]["status"] == 400
    assert len(store.contacts) == 2


def test_update_and_delete_by_id(store: SandboxStore) -> None:
    first = store.contacts.create({"email": "a@example.com"})
    second = store.contacts.create({"email": "b@example.com"})
    updated = run_batch(
        store.contacts,
        "update",
        [{"id": first["id"], "title": "CTO"}, {"id": "ct_404", "title": "x"}, {"title": "x"}],
    )
    assert [result["status"] for result in updated] == [200, 404, 400]
    assert store.contacts.get(first["id"])["title"] == "CTO"
    deleted = run_batch(store.contacts, "delete", [{"id": second["id"]}, {"id": second["id"]}])
    assert [result["status"] for result in deleted] == [204, 404]
    assert store.counts()["contacts"] == 1


def test_upsert_by_email_creates_or_updates(store: SandboxStore) -> None:
    existing = store.contacts.create({"email": "a@example.com"})
    results = run_batch(
        store.contacts,
        "upsert",
        [
            {"email": "a@example.com", "title": "CEO"},
            {"email": "new@example.com", "title": "CTO"},
            {"email": "new@example.com", "first_name": "Again"},  # sees the create above
            {"title": "no email"},
        ],
        id_property="email",
    )
    assert [(result["status"], result.get("id")) for result in results] == [
        (200, existing["id"]),
        (201, "ct_000000000002"),
        (200, "ct_000000000002"),
        (400, None),
    ]
    assert store.contacts.get("ct_000000000002")["first_name"] == "Again"


def test_upsert_by_id(store: SandboxStore) -> None:
    existing = store.contacts.create({"email": "a@example.com"})
    results = run_batch(
        store.contacts,
        "upsert",
        [{"id": existing["id"], "title": "CEO"}, {"email": "b@example.com"}, {"id": "ct_9"}],
    )
    assert [result["status"] for result in results] == [200, 201, 404]


@pytest.mark.parametrize(
    ("action", "inputs", "id_property", "message"),
    [
        ("merge", [], "id", "action"),
        ("create", [{}] * 101, "id", "at most 100"),
        ("upsert", [], "last_name", "id_property"),
    ],
)
def test_bad_batches_are_refused_whole(
    store: SandboxStore, action: str, inputs: list[object], id_property: str, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        run_batch(store.contacts, action, inputs, id_property)
