"""What happened to each row: a line in the job's `results` or in its `errors` file.

Lines are buffered and written as parts of the two files at each checkpoint, so the
files hold exactly the rows the checkpoint says are done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from interlink.bulk.files import errors_key, results_key
from interlink.files import FileStore

FLUSH_ROWS = 2000
FLUSH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """Row `row` succeeded (`outcome`, the vendor's `id`) or failed (`error`, `record`)."""

    row: int
    outcome: str | None = None  # created | updated | deleted
    id: str | None = None
    error: str | None = None
    record: dict[str, Any] | str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> bytes:
        if self.ok:
            shown: dict[str, Any] = {"row": self.row, "id": self.id, "outcome": self.outcome}
        else:
            shown = {"row": self.row, "record": self.record, "error": self.error}
        return orjson.dumps(shown) + b"\n"


def failed(row: int, record: dict[str, Any] | str | None, error: str) -> Outcome:
    return Outcome(row=row, error=error, record=record)


class OutcomeFiles:
    """The two files of an upload, appended to part by part."""

    def __init__(
        self, store: FileStore, job_id: str, *, results_parts: int, errors_parts: int
    ) -> None:
        self._store = store
        self._results_key = results_key(job_id)
        self._errors_key = errors_key(job_id)
        self.results_parts = results_parts
        self.errors_parts = errors_parts
        self._results: list[bytes] = []
        self._errors: list[bytes] = []
        self.ok = 0
        self.failed = 0
        self.last_row = 0
        self._since = time.monotonic()

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            (self._results if outcome.ok else self._errors).append(outcome.line())
            self.last_row = max(self.last_row, outcome.row)
        self.ok += sum(1 for outcome in outcomes if outcome.ok)
        self.failed += sum(1 for outcome in outcomes if not outcome.ok)

    @property
    def due(self) -> bool:
        buffered = len(self._results) + len(self._errors)
        return buffered >= FLUSH_ROWS or (
            buffered > 0 and time.monotonic() - self._since >= FLUSH_SECONDS
        )

    async def write(self) -> tuple[int, int]:
        """Write what is buffered as new parts; (ok, failed) rows written. The caller then
        commits the checkpoint that counts those parts."""
        ok, bad = len(self._results), len(self._errors)
        if self._results:
            self.results_parts += 1
            await self._store.write_part(
                self._results_key, self.results_parts, b"".join(self._results)
            )
        if self._errors:
            self.errors_parts += 1
            await self._store.write_part(
                self._errors_key, self.errors_parts, b"".join(self._errors)
            )
        self._results, self._errors = [], []
        self.ok, self.failed = 0, 0
        self._since = time.monotonic()
        return ok, bad
