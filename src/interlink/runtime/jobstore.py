"""The SQL of the embedded runtime: every change of a `jobs` row, each one atomic.

Written once for SQLite and PostgreSQL. Times come from this process's clock (all
columns are UTC), the same clock that fills `scheduled_at` and `created_at` by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.runtime.base import FINISHED, AlreadyQueued, JobInfo, JobStatus
from interlink.storage.database import Database
from interlink.storage.models import Job

JOBS = cast(Table, Job.__table__)

# Any constant works; it only has to be the same in every process of one deployment.
_CLAIM_LOCK_KEY = 7_105_301_420_417_331_825


@dataclass(frozen=True)
class Claim:
    """One run of a job by this worker: (id, attempts) tells it apart from later runs."""

    id: int
    task_name: str
    args: dict[str, Any]
    attempts: int

    @property
    def run(self) -> tuple[int, int]:
        return (self.id, self.attempts)


@dataclass(frozen=True)
class Recovered:
    id: int
    task_name: str
    worker_id: str | None


class JobStore:
    def __init__(self, database: Database, worker_id: str) -> None:
        self.database = database
        self.worker_id = worker_id
        # Built once, like the claim: a defer is on every poll's and event's path.
        self._insert_once = _insert_once_statement(postgresql if not database.is_sqlite else sqlite)

    async def insert(
        self,
        session: AsyncSession,
        *,
        task_name: str,
        args: dict[str, Any],
        lock: str | None,
        queueing_lock: str | None,
        scheduled_at: datetime,
        now: datetime,
    ) -> int:
        values = {
            "task_name": task_name,
            "args": args,
            "status": JobStatus.TODO.value,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "scheduled_at": scheduled_at,
            "attempts": 0,
            "created_at": now,
        }
        if queueing_lock is None:
            # Nothing unique to violate: no savepoint needed to keep the caller's
            # transaction usable.
            return int((await session.execute(_INSERT, values)).scalar_one())
        # A second queued job of the lock is skipped, not an error: the caller's
        # transaction goes on without a savepoint (three statements less per defer).
        job_id = (await session.execute(self._insert_once, values)).scalar_one_or_none()
        if job_id is None:
            raise AlreadyQueued(queueing_lock)
        return int(job_id)

    async def claim(self, now: datetime, tasks: TaskFilter | None = None) -> Claim | None:
        """Take the next ready job (of `tasks`, if given), or None. Safe with any number of
        workers at once."""
        async with self.database.transaction() as session:
            if not self.database.is_sqlite:
                # Claims take turns on PostgreSQL. Under READ COMMITTED two claims running
                # at once could each see the other's job of the same lock as still 'todo'
                # and start both (the table has no unique index on lock for 'doing' rows
                # that would refuse the second). The next statement's snapshot is taken
                # after this lock is granted, so it sees every claim committed before it.
                # SQLite needs nothing: BEGIN IMMEDIATE already serializes writers.
                await session.execute(select(func.pg_advisory_xact_lock(_CLAIM_LOCK_KEY)))
            parameters: dict[str, Any] = {"now": now, "worker_id": self.worker_id}
            if tasks is None:
                statement = _CLAIM
            else:
                statement = _CLAIM_ONLY if tasks.only else _CLAIM_EXCEPT
                parameters["tasks"] = list(tasks.names)
            row = (await session.execute(statement, parameters)).first()
        if row is None:
            return None
        return Claim(id=row.id, task_name=row.task_name, args=row.args, attempts=row.attempts)

    async def heartbeat(self, claims: Iterable[Claim], now: datetime) -> set[tuple[int, int]]:
        """Refresh the running jobs' heartbeats; return the (id, attempts) still ours."""
        runs = [and_(JOBS.c.id == c.id, JOBS.c.attempts == c.attempts) for c in claims]
        if not runs:
            return set()
        statement = (
            update(JOBS)
            .where(
                or_(*runs),
                JOBS.c.status == JobStatus.DOING.value,
                JOBS.c.worker_id == self.worker_id,
            )
            .values(heartbeat_at=now)
            .returning(JOBS.c.id, JOBS.c.attempts)
        )
        async with self.database.transaction() as session:
            return {(row.id, row.attempts) for row in await session.execute(statement)}

    async def succeed(self, claim: Claim, now: datetime) -> bool:
        return await self._finish(claim, JobStatus.SUCCEEDED, now, error=None)

    async def fail(self, claim: Claim, now: datetime, error: str) -> bool:
        return await self._finish(claim, JobStatus.FAILED, now, error=error)

    async def _finish(
        self, claim: Claim, status: JobStatus, now: datetime, error: str | None
    ) -> bool:
        values: dict[str, Any] = {"status": status.value, "finished_at": now}
        if error is not None:
            values["last_error"] = error  # a success keeps the error that led to its retry
        statement = update(JOBS).where(*self._ours(claim)).values(**values).returning(JOBS.c.id)
        async with self.database.transaction() as session:
            return (await session.execute(statement)).first() is not None

    async def retry(self, claim: Claim, *, at: datetime, error: str, counts: bool) -> bool:
        """Back to the queue at `at`; with `counts` False the run gives its attempt back."""
        values: dict[str, Any] = {"scheduled_at": at, "last_error": error}
        if not counts:
            values["attempts"] = JOBS.c.attempts - 1
        return await self._requeue(self._ours(claim), values) is not None

    async def recover_stalled(self, stalled_before: datetime, now: datetime) -> list[Recovered]:
        """Requeue 'doing' jobs whose worker stopped heartbeating before `stalled_before`.

        The interrupted run keeps its attempt: a job that kills its process every time
        must not be treated as never tried.
        """
        stalled = or_(JOBS.c.heartbeat_at < stalled_before, JOBS.c.heartbeat_at.is_(None))
        return await self._recover(stalled, now, "stopped heartbeating")

    async def running_workers(self) -> set[str]:
        """The workers that have a job in 'doing'."""
        statement = select(JOBS.c.worker_id).where(JOBS.c.status == JobStatus.DOING.value)
        async with self.database.sessions() as session:
            return {w for w in (await session.scalars(statement.distinct())) if w is not None}

    async def recover_from(self, worker_ids: Iterable[str], now: datetime) -> list[Recovered]:
        """Requeue the 'doing' jobs of workers known to be dead, without waiting for them
        to look stalled. The interrupted runs keep their attempts, as stalled ones do."""
        return await self._recover(JOBS.c.worker_id.in_(list(worker_ids)), now, "is gone")

    async def _recover(
        self, condition: ColumnElement[bool], now: datetime, why: str
    ) -> list[Recovered]:
        found_where = (JOBS.c.status == JobStatus.DOING.value, condition)
        found = select(JOBS.c.id, JOBS.c.task_name, JOBS.c.worker_id).where(*found_where)
        async with self.database.sessions() as session:
            candidates = (await session.execute(found)).all()
        recovered = []
        for job in candidates:
            # One transaction per job, each re-checking the condition: another worker may
            # be recovering the same rows right now, and only one of us may win each.
            error = f"stalled: worker {job.worker_id} {why}; run again"
            values = {"scheduled_at": now, "last_error": error}
            if await self._requeue((JOBS.c.id == job.id, *found_where), values) is not None:
                recovered.append(Recovered(job.id, job.task_name, job.worker_id))
        return recovered

    async def _requeue(
        self, where: Sequence[ColumnElement[bool]], values: dict[str, Any]
    ) -> Row[Any] | None:
        base = update(JOBS).where(*where).returning(JOBS.c.id)
        values = {**values, "status": JobStatus.TODO.value, "worker_id": None}
        values["heartbeat_at"] = None
        async with self.database.transaction() as session:
            try:
                async with session.begin_nested():
                    statement = base.values(**values, queueing_lock=_queueing_lock_if_free())
                    row: Row[Any] | None = (await session.execute(statement)).first()
                    return row
            except IntegrityError:
                # A job with the same queueing lock was queued concurrently, after the
                # check above looked; this run goes back without its queueing lock.
                statement = base.values(**values, queueing_lock=None)
                row = (await session.execute(statement)).first()
                return row

    def _ours(self, claim: Claim) -> tuple[ColumnElement[bool], ...]:
        # A run that was recovered as stalled, and maybe taken by another worker since,
        # is no longer ours: its outcome must not overwrite the newer run's.
        return (
            JOBS.c.id == claim.id,
            JOBS.c.status == JobStatus.DOING.value,
            JOBS.c.worker_id == self.worker_id,
            JOBS.c.attempts == claim.attempts,
        )

    async def get(self, job_id: int) -> JobInfo | None:
        async with self.database.sessions() as session:
            row = (await session.execute(select(JOBS).where(JOBS.c.id == job_id))).first()
        if row is None:
            return None
        return JobInfo(
            id=row.id,
            task_name=row.task_name,
            args=row.args,
            status=JobStatus(row.status),
            attempts=row.attempts,
            lock=row.lock,
            queueing_lock=row.queueing_lock,
            scheduled_at=row.scheduled_at,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            last_error=row.last_error,
        )

    async def queue_counts(self) -> dict[tuple[str, JobStatus], int]:
        waiting = (JobStatus.TODO.value, JobStatus.DOING.value)
        statement = (
            select(JOBS.c.task_name, JOBS.c.status, func.count())
            .where(JOBS.c.status.in_(waiting))
            .group_by(JOBS.c.task_name, JOBS.c.status)
        )
        async with self.database.sessions() as session:
            rows = (await session.execute(statement)).all()
        return {(task, JobStatus(status)): count for task, status, count in rows}

    async def purge_finished(self, finished_before: datetime) -> int:
        statement = (
            delete(JOBS)
            .where(
                JOBS.c.status.in_([status.value for status in FINISHED]),
                JOBS.c.finished_at < finished_before,
            )
            .returning(JOBS.c.id)
        )
        async with self.database.transaction() as session:
            return len((await session.execute(statement)).all())


@dataclass(frozen=True)
class TaskFilter:
    """Which jobs a claim may take: those of `names` (`only`), or all but those."""

    names: tuple[str, ...]
    only: bool


def _claim_statement(only: bool | None = None) -> Any:
    """The claim, built once (building it costs more than running it): `now` and
    `worker_id` are its parameters, and `tasks` (task names) unless `only` is None."""
    now = bindparam("now", type_=JOBS.c.scheduled_at.type)
    candidate = JOBS.alias("candidate")
    other = JOBS.alias("other")
    # Jobs sharing a lock run one at a time and in id order: a job waits while another
    # of its lock runs, or while an older one of its lock is still queued (even if that
    # one is scheduled later, as procrastinate does).
    # Two lookups rather than one with an OR: each is an index search on (lock, status)
    # (and the id, which the index holds), while the OR made the database read every job
    # of the lock, finished ones included: a claim grew slower with the history kept
    # (1.4 ms with a million finished jobs, against 0.2 ms with a thousand).
    same_lock = other.c.lock == candidate.c.lock
    lock_running = exists().where(same_lock, other.c.status == JobStatus.DOING.value)
    older_queued = exists().where(
        same_lock, other.c.status == JobStatus.TODO.value, other.c.id < candidate.c.id
    )
    conditions = [
        candidate.c.status == JobStatus.TODO.value,
        candidate.c.scheduled_at <= now,
        or_(candidate.c.lock.is_(None), and_(~lock_running, ~older_queued)),
    ]
    if only is not None:
        tasks: Any = bindparam("tasks", expanding=True)
        named = candidate.c.task_name.in_(tasks) if only else candidate.c.task_name.not_in(tasks)
        conditions.append(named)
    next_id = (
        select(candidate.c.id)
        .where(*conditions)
        .order_by(candidate.c.scheduled_at, candidate.c.id)
        .limit(1)
        # Rendered on PostgreSQL only; SQLite has no row locks (nor needs them).
        .with_for_update(skip_locked=True, of=candidate)
        .scalar_subquery()
    )
    return (
        update(JOBS)
        .where(JOBS.c.id == next_id, JOBS.c.status == JobStatus.TODO.value)
        .values(
            status=JobStatus.DOING.value,
            attempts=JOBS.c.attempts + 1,
            worker_id=bindparam("worker_id", type_=JOBS.c.worker_id.type),
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
        )
        .returning(JOBS.c.id, JOBS.c.task_name, JOBS.c.args, JOBS.c.attempts)
    )


_CLAIM = _claim_statement()
_CLAIM_ONLY = _claim_statement(only=True)
_CLAIM_EXCEPT = _claim_statement(only=False)
_INSERT = insert(JOBS).returning(JOBS.c.id)


def _insert_once_statement(dialect: Any) -> Any:
    """An insert that skips, rather than fails on, a second queued job of a queueing lock
    (the partial unique index `uq_jobs_queueing_lock`): no id comes back then."""
    return (
        dialect.insert(JOBS)
        .on_conflict_do_nothing(
            index_elements=[JOBS.c.queueing_lock],
            index_where=JOBS.c.status == JobStatus.TODO.value,
        )
        .returning(JOBS.c.id)
    )


def _queueing_lock_if_free() -> ColumnElement[Any]:
    """The row's queueing lock, or NULL when another queued job holds the same one.

    A job going back to 'todo' re-enters the unique index on queued queueing locks. If a
    newer job took the lock while this one ran, both still have work to do: this one
    gives its queueing lock up rather than be lost or refuse the newer one.
    """
    other = JOBS.alias("holder")
    taken = exists().where(
        other.c.queueing_lock == JOBS.c.queueing_lock,
        other.c.status == JobStatus.TODO.value,
        other.c.id != JOBS.c.id,
    )
    return case((taken, null()), else_=JOBS.c.queueing_lock)
