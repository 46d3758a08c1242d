"""A poll's progress, saved in `EventStream.checkpoint` with every committed page.

A poll is a list of steps (`baseline`, `changes`, `scan`, `deletes`); the first one left
is in progress. A poll whose process died, or that a vendor stopped (429, 5xx), resumes
from here: the same listing, from the page after the last one committed. `run` names the
poll that owns the stream: a poll whose run is no longer there stops at its next commit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from interlink.storage.types import utcnow

BASELINE = "baseline"
CHANGES = "changes"
SCAN = "scan"
DELETES = "deletes"
STEPS = (BASELINE, CHANGES, SCAN, DELETES)


@dataclass(frozen=True)
class Progress:
    run: str | None = None
    steps: tuple[str, ...] = ()
    # The listing in progress: its filter, where it continues, when it began.
    since: str | None = None
    page_state: dict[str, Any] | None = None
    listing_started_at: str | None = None
    # Listings not in ascending order move the mark only once complete: the largest
    # vendor updated time they have seen so far waits here.
    max_seen: str | None = None
    scan_id: str | None = None
    # How far the next changes listing reaches back beyond the overlap window: the length
    # of the last listing that was not in ascending order (a change made during it may
    # sit behind records read later, with an earlier updated time than the mark).
    lookback_seconds: float = 0.0

    @property
    def step(self) -> str | None:
        return self.steps[0] if self.steps else None

    @property
    def in_flight(self) -> bool:
        return bool(self.steps)

    def listing_started(self) -> datetime | None:
        return _parse(self.listing_started_at)

    def next_page(self, page_state: dict[str, Any] | None) -> Progress:
        return replace(self, page_state=page_state)

    def step_done(self) -> Progress:
        """On to the next step, with a fresh listing."""
        return replace(
            self,
            steps=self.steps[1:],
            since=None,
            page_state=None,
            listing_started_at=None,
            max_seen=None,
            scan_id=None,
        )

    def idle(self) -> Progress:
        """What stays between polls: only the look-back for the next one."""
        return Progress(lookback_seconds=self.lookback_seconds)

    def to_json(self) -> dict[str, Any] | None:
        if not self.in_flight and not self.lookback_seconds and self.run is None:
            return None
        document = asdict(self)
        document["steps"] = list(self.steps)
        return {key: value for key, value in document.items() if value not in (None, {}, ())}

    @classmethod
    def from_json(cls, document: dict[str, Any] | None) -> Progress:
        """A saved checkpoint; anything unreadable is dropped (the poll starts over)."""
        if not isinstance(document, dict):
            return cls()
        steps = document.get("steps") or []
        if not isinstance(steps, list) or not all(step in STEPS for step in steps):
            steps = []
        page_state = document.get("page_state")
        lookback = document.get("lookback_seconds") or 0.0
        return cls(
            run=_text(document.get("run")),
            steps=tuple(steps),
            since=_text(document.get("since")),
            page_state=page_state if isinstance(page_state, dict) else None,
            listing_started_at=_text(document.get("listing_started_at")),
            max_seen=_text(document.get("max_seen")),
            scan_id=_text(document.get("scan_id")),
            lookback_seconds=float(lookback) if isinstance(lookback, int | float) else 0.0,
        )


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def now_iso() -> str:
    return utcnow().isoformat()


def _parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
