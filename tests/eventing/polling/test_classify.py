"""The classification rules and vendor-time marks, without a database."""

from __future__ import annotations

import pytest

from interlink.elements.catalog import builtin_elements
from interlink.elements.loading import validate_definition
from interlink.eventing.fingerprints import Seen, content_hash
from interlink.eventing.marks import is_older, later, latest, shifted_mark
from interlink.eventing.polling.classify import Sighting, classify, sight
from interlink.eventing.polling.progress import BASELINE, CHANGES, Progress

from .support import sandbox_variant

CONTACTS = builtin_elements()["sandbox"].objects["contacts"]


def seen_of(record: dict[str, str], *, deleted: bool = False) -> Seen:
    return Seen(record["updated_at"], content_hash(record), deleted)


def record(record_id: str, updated: str, **fields: str) -> dict[str, str]:
    return {"id": record_id, "updated_at": updated, **fields}


def run(records: list[dict[str, str]], seen: dict[str, Seen], **options: object) -> list[str]:
    outcome = classify(
        [sight(item, CONTACTS) for item in records],
        seen,
        object_name="contacts",
        time_format="rfc3339",
        emit=bool(options.get("emit", True)),
        scan_id=options.get("scan_id"),  # type: ignore[arg-type]
    )
    return [f"{event.change} {event.record_id}" for event in outcome.events]


T1, T2 = "2024-05-01T12:00:00.000Z", "2024-05-01T12:00:01.000Z"


def test_new_changed_same_and_stale() -> None:
    old = record("1", T1, title="a")
    assert run([old], {}) == ["created 1"]
    assert run([old], {"1": seen_of(old)}) == []
    assert run([record("1", T2, title="b")], {"1": seen_of(old)}) == ["updated 1"]
    # The same time with other content: a second write within the vendor's precision.
    assert run([record("1", T1, title="b")], {"1": seen_of(old)}) == ["updated 1"]
    # An older version than we know of: a stale read, never an event.
    newer = record("1", T2, title="b")
    assert run([old], {"1": seen_of(newer)}) == []


def test_deleted_records_come_back_only_when_changed() -> None:
    last = record("1", T1, title="a")
    assert run([last], {"1": seen_of(last, deleted=True)}) == []
    assert run([record("1", T2, title="a")], {"1": seen_of(last, deleted=True)}) == ["created 1"]


def test_one_record_twice_on_a_page_is_one_event_with_its_latest_state() -> None:
    outcome = classify(
        [sight(record("1", T1, title="a"), CONTACTS), sight(record("1", T2, title="b"), CONTACTS)],
        {},
        object_name="contacts",
        time_format="rfc3339",
        emit=True,
        scan_id=None,
    )
    assert [(event.change, (event.record or {})["title"]) for event in outcome.events] == [
        ("created", "b")
    ]


def test_a_baseline_remembers_without_emitting() -> None:
    outcome = classify(
        [sight(record("1", T1), CONTACTS)],
        {},
        object_name="contacts",
        time_format="rfc3339",
        emit=False,
        scan_id="scan_1",
    )
    assert outcome.events == []
    assert outcome.fingerprints["1"].scan_id == "scan_1"


def test_tombstones() -> None:
    element = validate_definition(
        sandbox_variant(
            "sandbox-t", deletes={"type": "tombstone", "field": "archived", "values": [True]}
        )
    )
    contacts = element.objects["contacts"]
    alive = record("1", T1)
    gone = sight({**alive, "archived": True, "updated_at": T2}, contacts)  # type: ignore[dict-item]
    assert gone.tombstoned

    def events(sighting: Sighting, seen: dict[str, Seen]) -> list[str]:
        outcome = classify(
            [sighting], seen, object_name="c", time_format="rfc3339", emit=True, scan_id=None
        )
        return [event.change for event in outcome.events]

    assert events(gone, {"1": seen_of(alive)}) == ["deleted"]
    assert events(gone, {}) == []
    assert events(gone, {"1": Seen(T2, gone.digest, True)}) == []


def test_marks_compare_as_instants_and_keep_the_vendors_text() -> None:
    assert later("2024-05-01T12:00:00Z", "2024-05-01T13:30:00+02:00", "rfc3339") == (
        "2024-05-01T12:00:00Z"
    )
    assert later("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.001+00:00", "rfc3339") == (
        "2024-05-01T12:00:00.001+00:00"
    )
    assert later("2024-05-01T12:00:00Z", "garbage", "rfc3339") == "2024-05-01T12:00:00Z"
    assert latest(["1714564800", None, "1714564801"], "unix") == "1714564801"
    assert is_older("1714564800000", "1714564800001", "unix_ms")
    assert shifted_mark("2024-05-01T12:00:00.500Z", "rfc3339", "unix", 1.0) == "1714564799"


@pytest.mark.parametrize("document", [None, {}, {"steps": ["nonsense"]}, {"steps": "x"}])
def test_an_unreadable_checkpoint_starts_over(document: object) -> None:
    assert not Progress.from_json(document).in_flight  # type: ignore[arg-type]


def test_progress_round_trips() -> None:
    progress = Progress(run="r", steps=(BASELINE, CHANGES), page_state={"cursor": "c"})
    assert Progress.from_json(progress.to_json()) == progress
    assert progress.step_done().step == CHANGES
    assert Progress(lookback_seconds=0.0).to_json() is None
