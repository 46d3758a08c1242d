"""How far an upload has got, stored as the job's `checkpoint`.

`rows`: every row up to this number has its outcome written (in the parts counted).
`in_flight_end`: rows after `rows` up to this one may have reached the vendor already
(they were being sent when the checkpoint was taken). A resumed job treats those rows
as uncertain and checks before acting on them again; the mark runs a window ahead of
`rows`, so it is written once per window, not once per row.
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

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> UploadCheckpoint:
        return cls(**stored) if stored else cls()

    def stored(self) -> dict[str, Any]:
        return asdict(self)

    def uncertain(self, row: int) -> bool:
        return self.rows < row <= self.in_flight_end
