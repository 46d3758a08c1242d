"""Vendor budgets shared by every process of a deployment: where their buckets live.

A vendor counts the calls of all workers together, so the bucket must be one. Each
process leases tokens a batch at a time (a tenth of a second's worth) and spends them
locally, so the database sees a few statements a second per budget, not one per call.
A `Retry-After` pause is stored with the bucket: one worker's 429 stops them all.
The PostgreSQL store is `interlink.storage.rate_budgets.PostgresBudgets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Lease:
    granted: int  # tokens now this process's to spend
    wait: float  # when none were granted: seconds until one may be (or the pause ends)
    paused: float  # seconds the budget stays paused for everyone (0: not paused)


class BudgetStore(Protocol):
    async def lease(self, key: str, *, want: int, rate: float, capacity: float) -> Lease: ...

    async def pause(self, key: str, seconds: float) -> None: ...
