"""The embedded job runtime: jobs are rows of `jobs`, run by asyncio workers in this process.

Works on SQLite and PostgreSQL, with any number of processes on one database. Jobs
survive restarts; a job whose process died is run again once its heartbeat is older
than `stalled_after` (within 60 s with the defaults).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, assert_never

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from interlink.errors import ConfigurationError, NotFound
from interlink.runtime.base import (
    JobInfo,
    JobRuntime,
    JobStatus,
    checked_args,
    checked_schedule,
    own_slots,
)
from interlink.runtime.execution import Failed, Outcome, Retry, Succeeded, execute
from interlink.runtime.joblog import JobLogger, job_logger
from interlink.runtime.jobstore import Claim, JobStore, Recovered, TaskFilter
from interlink.runtime.tasks import JobContext, TaskRegistry
from interlink.storage.database import Database
from interlink.storage.types import utcnow

log = logging.getLogger("interlink.runtime")

# Recording an outcome is retried a little; if the database stays away, the job is run
# again after recovery rather than lost.
_RECORD_ATTEMPTS = 3


@dataclass(eq=False)
class _Lane:
    """Slots for the jobs of some tasks (`names`); the shared lane's, for all the others."""

    slots: int
    names: frozenset[str] = frozenset()  # empty for the shared lane
    # Its last claim found no job ready: not asked again until something may have changed
    # for it (a defer of one of its tasks, a job of it ending, the poll interval), so that
    # an idle lane costs no empty claim at every wake-up of the others.
    idle: bool = False
    hints: int = 0  # counts those changes, so that one arriving during a claim is kept
    # The handlers running in the lane's slots: a slot frees when its handler ends, not
    # once the outcome is recorded, so the next job's claim overlaps that write.
    handlers: set[asyncio.Task[Outcome]] = field(default_factory=set)


@dataclass(eq=False)
class _Running:
    claim: Claim
    handler: asyncio.Task[Outcome]
    lost: bool = False  # requeued behind our back (missed heartbeats): drop its outcome


class EmbeddedRuntime(JobRuntime):
    def __init__(
        self,
        database: Database,
        registry: TaskRegistry,
        *,
        concurrency: int = 4,
        queue_concurrency: Mapping[str, int] | None = None,
        poll_interval: float = 1.0,
        heartbeat_interval: float = 10.0,
        stalled_after: float = 30.0,
        worker_id: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if min(poll_interval, heartbeat_interval) <= 0:
            raise ConfigurationError("poll_interval and heartbeat_interval must be positive")
        if stalled_after <= heartbeat_interval:
            raise ConfigurationError("stalled_after must be longer than heartbeat_interval")
        self.database = database
        self.registry = registry
        self.concurrency = concurrency
        # Queues with slots of their own, besides the `concurrency` slots of every other
        # job: e.g. deliveries, so that they never wait behind polls (nor polls behind them).
        self.queue_concurrency = own_slots(queue_concurrency)
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.stalled_after = stalled_after
        # Checking twice per stall period bounds the pick-up of a dead process's job to
        # 1.5 × stalled_after (+ poll): 46 s with the defaults.
        self.stalled_check_interval = stalled_after / 2
        self.worker_id = (worker_id or _default_worker_id())[:100]
        self._store = JobStore(database, self.worker_id)
        self._wake = asyncio.Event()
        self._running: dict[tuple[int, int], _Running] = {}  # by Claim.run
        self._supervisors: set[asyncio.Task[None]] = set()
        self._lanes: list[_Lane] = []  # set by start(), once every task is registered
        self._unlimited = _Lane(slots=1)  # run_until_idle's
        self._claim_loop_task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self._stopping = False
        self._cancelling = False

    # -- the interface -------------------------------------------------------------------

    async def defer(
        self,
        task_name: str,
        args: dict[str, Any],
        *,
        lock: str | None = None,
        queueing_lock: str | None = None,
        schedule_at: datetime | None = None,
        session: AsyncSession | None = None,
    ) -> int:
        args = checked_args(args)
        now = utcnow()
        scheduled_at = checked_schedule(schedule_at) or now

        async def insert(into: AsyncSession) -> int:
            return await self._store.insert(
                into,
                task_name=task_name,
                args=args,
                lock=lock,
                queueing_lock=queueing_lock,
                scheduled_at=scheduled_at,
                now=now,
            )

        if session is None:
            async with self.database.transaction() as own_session:
                job_id = await insert(own_session)
            self._wake_for(task_name)
        else:
            job_id = await insert(session)
            # Workers cannot see the row before the caller commits.
            _on_commit(session, partial(self._wake_for, task_name))
        job_logger(job_id, task_name).debug("job deferred", extra={"lock": lock})
        return job_id

    async def start(self) -> None:
        if self._claim_loop_task is not None:
            raise RuntimeError("the runtime is already started")
        self._stopping = self._cancelling = False
        self._lanes = _lanes(self.registry, self.concurrency, self.queue_concurrency)
        self._claim_loop_task = asyncio.create_task(self._claim_loop(), name="jobs-claim")
        self._background = [
            asyncio.create_task(self._heartbeat_loop(), name="jobs-heartbeat"),
            asyncio.create_task(self._recovery_loop(), name="jobs-recovery"),
        ]
        log.info(
            "job workers started",
            extra={
                "worker_id": self.worker_id,
                "concurrency": self.concurrency,
                "queue_concurrency": self.queue_concurrency,
            },
        )

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - see JobRuntime
        if self._claim_loop_task is None:
            return
        self._stopping = True
        self._wake.set()
        await self._claim_loop_task  # lets a claim in flight finish and start its job
        if self._supervisors:
            _, pending = await asyncio.wait(set(self._supervisors), timeout=timeout)
            if pending:
                log.warning(
                    "cancelling %d running jobs after %.3gs; they will run again",
                    len(pending),
                    timeout,
                    extra={"worker_id": self.worker_id},
                )
                self._cancelling = True
                for running in list(self._running.values()):
                    running.handler.cancel()
                await asyncio.wait(pending)
        # Heartbeats ran until here so that a slow stop does not look like a dead worker.
        await _cancel_and_wait(self._background)
        self._claim_loop_task, self._background = None, []
        self._cancelling = False
        log.info("job workers stopped", extra={"worker_id": self.worker_id})

    async def run_until_idle(self) -> None:
        heartbeat = None
        if self._claim_loop_task is None:
            heartbeat = asyncio.create_task(self._heartbeat_loop(), name="jobs-heartbeat")
        try:
            while (claim := await self._store.claim(utcnow())) is not None:
                await self._supervise(claim, self._start(claim, self._unlimited))
        finally:
            if heartbeat is not None:
                await _cancel_and_wait([heartbeat])

    async def get_job(self, job_id: int) -> JobInfo:
        job = await self._store.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        return job

    async def queue_counts(self) -> dict[tuple[str, JobStatus], int]:
        return await self._store.queue_counts()

    async def purge_finished(self, older_than: timedelta) -> int:
        count = await self._store.purge_finished(utcnow() - older_than)
        log.info("purged %d finished jobs", count, extra={"older_than": str(older_than)})
        return count

    # -- claiming -------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            # Cleared before looking, so that a wake-up arriving meanwhile is not lost.
            self._wake.clear()
            open_lanes = [
                lane for lane in self._lanes if len(lane.handlers) < lane.slots and not lane.idle
            ]
            if open_lanes:
                # One claim for every lane with a free slot, as many as with one lane.
                asked = [(lane, lane.hints) for lane in open_lanes]
                claim = await self._claim(_claimable(self._lanes, open_lanes))
                if claim is not None:
                    self._spawn(claim, _lane_of(self._lanes, claim.task_name))
                    continue
                for lane, hints in asked:
                    lane.idle = lane.hints == hints
            # Woken by a defer, a finished job (a free slot, maybe a released lock) or
            # stop(); otherwise polling finds jobs deferred by other processes and jobs
            # whose scheduled time has come.
            try:
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()
            except TimeoutError:
                for lane in self._lanes:
                    lane.idle = False

    async def _claim(self, tasks: TaskFilter | None) -> Claim | None:
        try:
            return await self._store.claim(utcnow(), tasks)
        except Exception:
            # The database may be briefly away; the loop must outlive that.
            log.exception("claiming a job failed", extra={"worker_id": self.worker_id})
            return None

    def _spawn(self, claim: Claim, lane: _Lane) -> None:
        # The handler takes its slot now, before the claim loop looks at the lane again.
        handler = self._start(claim, lane)
        supervisor = asyncio.create_task(self._supervise(claim, handler), name=f"job-{claim.id}")
        self._supervisors.add(supervisor)
        supervisor.add_done_callback(self._supervisors.discard)

    # -- running one job ------------------------------------------------------------------

    def _start(self, claim: Claim, lane: _Lane) -> asyncio.Task[Outcome]:
        """The job's handler, in a task of its own holding a slot of `lane` until it ends."""
        context = JobContext(
            job_id=claim.id,
            task_name=claim.task_name,
            attempt=claim.attempts,
            runtime=self,
            log=job_logger(claim.id, claim.task_name, attempt=claim.attempts),
        )
        handler = asyncio.create_task(execute(self.registry, context, claim.args))
        lane.handlers.add(handler)
        handler.add_done_callback(partial(self._handler_done, lane))
        return handler

    async def _supervise(self, claim: Claim, handler: asyncio.Task[Outcome]) -> None:
        """Wait for the handler, in a task of its own so that stop() can cancel the handler
        alone, and record what became of the job."""
        logger = job_logger(claim.id, claim.task_name, worker_id=self.worker_id)
        running = self._running[claim.run] = _Running(claim, handler)
        if self._cancelling:
            handler.cancel()
        try:
            try:
                await asyncio.wait([handler])
            except asyncio.CancelledError:
                handler.cancel()  # whoever cancels the supervisor means the job too
                raise
            await self._record(running, logger)
        finally:
            self._running.pop(claim.run, None)
            self._wake_for(claim.task_name)  # maybe the next job of this job's lock

    def _handler_done(self, lane: _Lane, handler: asyncio.Task[Outcome]) -> None:
        lane.handlers.discard(handler)
        _hint(lane)
        self._wake.set()  # a free slot

    def _wake_for(self, task_name: str | None) -> None:
        """Wake the claim loop: a job of `task_name` (of any task: None) may be ready."""
        if self._lanes:
            for lane in self._lanes if task_name is None else [_lane_of(self._lanes, task_name)]:
                _hint(lane)
        self._wake.set()

    async def _record(self, running: _Running, logger: JobLogger) -> None:
        if running.lost:
            logger.warning("job was requeued while it ran here; dropping this run's outcome")
            return
        outcome: Outcome
        if running.handler.cancelled():
            outcome = Retry(0.0, "cancelled: the worker stopped before the job ended", False)
            logger.warning("job cancelled by stop(); it goes back to the queue")
        else:
            outcome = running.handler.result()
        for attempt in range(1, _RECORD_ATTEMPTS + 1):
            try:
                kept = await self._apply(running.claim, outcome)
            except Exception:
                logger.exception("recording the job's outcome failed (try %d)", attempt)
                await asyncio.sleep(self.poll_interval)
                continue
            if not kept:
                logger.warning("job is no longer this worker's; dropping this run's outcome")
            return
        logger.error("could not record the job's outcome; it will run again once stalled")

    async def _apply(self, claim: Claim, outcome: Outcome) -> bool:
        now = utcnow()
        match outcome:
            case Succeeded():
                return await self._store.succeed(claim, now)
            case Retry(delay=delay, error=error, counts=counts):
                at = now + timedelta(seconds=delay)
                return await self._store.retry(claim, at=at, error=error, counts=counts)
            case Failed(error=error):
                return await self._store.fail(claim, now, error)
            case _:
                assert_never(outcome)

    # -- liveness -------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            await self._beat()

    async def _beat(self) -> None:
        running = list(self._running.values())
        if not running:
            return
        try:
            kept = await self._store.heartbeat([r.claim for r in running], utcnow())
        except Exception:
            log.exception("heartbeat failed", extra={"worker_id": self.worker_id})
            return
        for run in running:
            taken = run.claim.run not in kept
            # A finished handler left 'doing' itself (or is being recorded): not taken.
            if taken and not run.handler.done():
                run.lost = True
                run.handler.cancel()
                job_logger(run.claim.id, run.claim.task_name).warning(
                    "job was requeued by stalled-job recovery while running here; cancelling"
                )

    async def _recover_dead_here(self, now: datetime) -> list[Recovered]:
        """On SQLite (one machine by design) a worker of this host whose process is gone,
        e.g. the `serve` killed before a restart, gives its jobs back at once instead of
        after `stalled_after`. PostgreSQL deployments span machines: heartbeats only."""
        if not self.database.is_sqlite:
            return []
        dead = [w for w in await self._store.running_workers() if _died_on_this_machine(w)]
        return await self._store.recover_from(dead, now) if dead else []

    async def _recovery_loop(self) -> None:
        while True:
            await self._recover()
            await asyncio.sleep(self.stalled_check_interval)

    async def _recover(self) -> None:
        now = utcnow()
        try:
            recovered = await self._recover_dead_here(now)
            recovered += await self._store.recover_stalled(
                now - timedelta(seconds=self.stalled_after), now
            )
        except Exception:
            log.exception("stalled-job recovery failed", extra={"worker_id": self.worker_id})
            return
        for job in recovered:
            job_logger(job.id, job.task_name).warning(
                "stalled job requeued: worker %s is gone or stopped heartbeating", job.worker_id
            )
        if recovered:
            self._wake_for(None)


def _died_on_this_machine(worker_id: str) -> bool:
    """Whether `worker_id` (host:pid:token) names a process of this machine that is gone."""
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def _on_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    def committed(_session: Session) -> None:
        callback()

    event.listen(session.sync_session, "after_commit", committed, once=True)


async def _cancel_and_wait(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        # asyncio.wait, unlike gather, does not raise the tasks' CancelledError here, so a
        # cancellation of *this* task is still told apart from theirs.
        await asyncio.wait(tasks)


def _lanes(registry: TaskRegistry, concurrency: int, own: Mapping[str, int]) -> list[_Lane]:
    """The shared lane (`concurrency` slots) first, then one per queue with slots of its own."""
    lanes = [_Lane(concurrency)]
    for queue, slots in sorted(own.items()):
        names = registry.names_in([queue])
        if names:  # a queue no task uses needs no slots
            lanes.append(_Lane(slots, frozenset(names)))
    return lanes


def _claimable(lanes: list[_Lane], open_lanes: list[_Lane]) -> TaskFilter | None:
    """The jobs a claim may take when `open_lanes` have a free slot: None for any job."""
    if len(open_lanes) == len(lanes):
        return None
    shared, *own = lanes
    if shared in open_lanes:  # every job but those of the lanes that are full
        full = sorted(name for lane in own if lane not in open_lanes for name in lane.names)
        return TaskFilter(tuple(full), only=False)
    return TaskFilter(tuple(sorted(name for lane in open_lanes for name in lane.names)), only=True)


def _hint(lane: _Lane) -> None:
    lane.hints += 1
    lane.idle = False


def _lane_of(lanes: list[_Lane], task_name: str) -> _Lane:
    shared, *own = lanes
    return next((lane for lane in own if task_name in lane.names), shared)


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
