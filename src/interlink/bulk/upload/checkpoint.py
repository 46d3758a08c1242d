"""How far an upload has got, stored as the job's `checkpoint`.

`rows`: every row up to this number has its outcome written (in the parts counted).
`in_flight_end`: rows after `rows` up to this one may have reached the vendor already
(they were being sent when the checkpoint was taken). A resumed job treats those rows
as uncertain and checks before acting on them again; the mark runs a window ahead of
`rows`, so it is written once per window, not once per row.
`mode`: "ingest" when the rows go through the vendor's native bulk ingest, "rows" when
they do not (batches or record by record); decided once, before the first row is sent.
`ingest`: the vendor's ingest job started for rows `first`..`last` (`{"id", "first",
"last"}`), stored before its data is uploaded: a resumed run reads that job's results
instead of starting another (see ingest.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

IN_FLIGHT_WINDOW = 2000


@dataclass
class UploadCheckpoint:
    rows: int = 0
    in_flight_end: int = 0
    results_parts: int = 0
    errors_parts: int = 0
    records: int = 0
    failed: int = 0
    bytes: int = 0
    retries: int = 0
    size: int = 0  # of the uploaded file, for progress
    mode: str | None = None
    ingest: dict[str, Any] | None = None

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> UploadCheckpoint:
        return cls(**stored) if stored else cls()

    def stored(self) -> dict[str, Any]:
        return asdict(self)

    def uncertain(self, row: int) -> bool:
        return self.rows < row <= self.in_flight_end
