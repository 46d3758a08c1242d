"""The embedded runtime's claim costs the same however many finished jobs are kept.

Finished jobs stay for days (FINISHED_JOBS_KEPT): a stream polled every minute leaves
thousands, all with the stream's lock. Counted in SQLite's virtual-machine steps (its
progress handler), not in time: the claim must not read the finished jobs of a lock.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.dialects import sqlite

from interlink.runtime.jobstore import _CLAIM
from interlink.storage.models import Base

NOW = "2026-11-29 00:00:00.000000"
EARLIER = "2026-11-28 00:00:00.000000"


def _database(path: Path, finished: int) -> sqlite3.Connection:
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    connection = sqlite3.connect(path, isolation_level=None)
    insert = (
        "INSERT INTO jobs (task_name, args, status, lock, queueing_lock, scheduled_at, "
        "attempts, created_at) VALUES ('eventing.poll', '{}', ?, 'stream-1', ?, ?, ?, ?)"
    )
    connection.executemany(
        insert, [("succeeded", None, EARLIER, 1, EARLIER) for _ in range(finished)]
    )
    connection.execute(insert, ("todo", "stream-1", EARLIER, 0, EARLIER))
    return connection


def _claim_steps(connection: sqlite3.Connection) -> tuple[int, list[Any]]:
    compiled = _CLAIM.compile(dialect=sqlite.dialect())
    values = compiled.construct_params({"now": NOW, "worker_id": "w"})
    assert compiled.positiontup is not None
    parameters = [values[name] for name in compiled.positiontup]
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    connection.set_progress_handler(count, 1)
    connection.execute("BEGIN")
    rows = connection.execute(str(compiled), parameters).fetchall()
    connection.execute("ROLLBACK")
    connection.set_progress_handler(None, 1)
    return steps, rows


def test_a_claim_reads_none_of_the_finished_jobs_of_its_lock(tmp_path: Path) -> None:
    with closing(_database(tmp_path / "few.db", finished=10)) as connection:
        few, few_claimed = _claim_steps(connection)
    with closing(_database(tmp_path / "many.db", finished=5000)) as connection:
        many, many_claimed = _claim_steps(connection)
    assert len(few_claimed) == len(many_claimed) == 1  # the queued job is taken either way
    assert many < few * 1.5, (few, many)
