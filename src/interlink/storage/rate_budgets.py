"""The shared vendor budgets' store on PostgreSQL: the `rate_budgets` table."""

from __future__ import annotations

from sqlalchemy import text

from interlink.storage.database import Database
from interlink.vendor.shared_budgets import Lease

# One statement: refill by the time passed since the last lease, grant what is there (up
# to `want`, nothing while paused), keep the rest. The row lock serializes the processes.
_LEASE = text(
    """
    WITH current AS (
        SELECT key,
               LEAST(CAST(:capacity AS float8),
                     tokens + GREATEST(
                         EXTRACT(EPOCH FROM clock_timestamp() - filled_at)::float8, 0
                     ) * CAST(:rate AS float8)) AS available,
               COALESCE(GREATEST(
                   EXTRACT(EPOCH FROM paused_until - clock_timestamp())::float8, 0
               ), 0) AS paused
          FROM rate_budgets WHERE key = :key FOR UPDATE
    ), granted AS (
        SELECT key, available, paused,
               CASE WHEN paused > 0 THEN 0
                    ELSE LEAST(FLOOR(available), CAST(:want AS float8)) END AS granted
          FROM current
    )
    UPDATE rate_budgets AS budget
       SET tokens = granted.available - granted.granted, filled_at = clock_timestamp()
      FROM granted
     WHERE budget.key = granted.key
    RETURNING granted.granted, granted.available, granted.paused
    """
)

_CREATE = text(
    """
    INSERT INTO rate_budgets (key, tokens, filled_at)
    VALUES (:key, CAST(:capacity AS float8), clock_timestamp())
    ON CONFLICT (key) DO NOTHING
    """
)

_PAUSE = text(
    """
    UPDATE rate_budgets
       SET paused_until = GREATEST(
               COALESCE(paused_until, clock_timestamp()),
               clock_timestamp() + make_interval(secs => CAST(:seconds AS float8)))
     WHERE key = :key
    """
)


class PostgresBudgets:
    """`BudgetStore` on the hub's PostgreSQL database (table `rate_budgets`)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def lease(self, key: str, *, want: int, rate: float, capacity: float) -> Lease:
        arguments = {"key": key, "want": want, "rate": rate, "capacity": capacity}
        async with self.database.transaction() as session:
            row = (await session.execute(_LEASE, arguments)).first()
            if row is None:  # the budget's first use anywhere: it starts full
                await session.execute(_CREATE, arguments)
                row = (await session.execute(_LEASE, arguments)).one()
        granted, available, paused = int(row.granted), float(row.available), float(row.paused)
        if paused > 0:
            return Lease(granted=0, wait=paused, paused=paused)
        wait = 0.0 if granted else (1 - (available - granted)) / rate
        return Lease(granted=granted, wait=max(wait, 0.0), paused=0.0)

    async def pause(self, key: str, seconds: float) -> None:
        async with self.database.transaction() as session:
            await session.execute(_PAUSE, {"key": key, "seconds": seconds})
