"""`PostgresRuntime`: the job runtime interface on procrastinate's worker and tables."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import procrastinate
from procrastinate import exceptions
from procrastinate.job_context import JobContext as ProcrastinateContext
from procrastinate.jobs import Job
from procrastinate.worker import Worker
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.errors import ConfigurationError, NotFound
from interlink.runtime.base import (
    AlreadyQueued,
    JobInfo,
    JobRuntime,
    JobStatus,
    checked_args,
    checked_schedule,
    own_slots,
)
from interlink.runtime.execution import Failed, Retry, Succeeded, execute
from interlink.runtime.joblog import job_logger
from interlink.runtime.postgres.connection import conninfo, driver_connection
from interlink.runtime.postgres.queries import GET_JOB, PURGE_FINISHED, QUEUE_COUNTS, job_info
from interlink.runtime.postgres.retries import (
    InterlinkJobManager,
    JobFailed,
    Retries,
    RunAgain,
    RunNotes,
)
from interlink.runtime.tasks import DEFAULT_QUEUE, JobContext, TaskRegistry
from interlink.storage.types import utcnow

log = logging.getLogger("interlink.runtime")

QUEUE = DEFAULT_QUEUE  # procrastinate's queue of every task without slots of its own
# A worker that stops for any other reason than stop() (the database went away, its
# listener failed) is started again after these waits, the last one repeating.
_RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0)


class PostgresRuntime(JobRuntime):
    """Jobs in PostgreSQL, run by procrastinate workers in this and other processes.

    A job whose worker died (no heartbeat for `stalled_after` seconds) is put back in the
    queue by whichever worker looks first: every running runtime checks every
    `stalled_after / 3` seconds, so a dead worker's job runs again within
    `stalled_after × 4/3` plus a fetch interval (≤ 45 s with the defaults).
    """

    def __init__(
        self,
        database_url: str,
        registry: TaskRegistry,
        *,
        concurrency: int = 4,
        queue_concurrency: Mapping[str, int] | None = None,
        poll_interval: float = 1.0,
        heartbeat_interval: float = 10.0,
        stalled_after: float = 30.0,
        pool_size: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if stalled_after <= heartbeat_interval:
            raise ConfigurationError("stalled_after must be longer than heartbeat_interval")
        self.registry = registry
        self.concurrency = concurrency
        # Queues with a worker of their own (procrastinate runs one per queue set), besides
        # the `concurrency` slots of every other job: see EmbeddedRuntime.
        self.queue_concurrency = own_slots(queue_concurrency)
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.stalled_after = stalled_after
        self._notes = RunNotes()
        connector = procrastinate.PsycopgConnector(
            conninfo=conninfo(database_url),
            min_size=1,
            # Each running job may hold one for its outcome, plus fetch, heartbeat,
            # recovery and defers made outside a transaction.
            max_size=pool_size or concurrency + sum(self.queue_concurrency.values()) + 4,
        )
        self.app = procrastinate.App(connector=connector)
        self.app.job_manager = InterlinkJobManager(connector, self._notes, registry)
        retries = Retries(self._notes)
        for task in registry:
            self.app.task(name=task.name, pass_context=True, retry=retries, queue=task.queue)(
                self._run
            )
        self._opened = False
        self._workers: dict[str, Worker] = {}  # running, by lane
        self._supervisors: list[asyncio.Task[None]] = []
        self._recovery: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._opening = asyncio.Lock()

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
        job = Job(
            id=None,
            queue=self.registry.queue_of(task_name),
            lock=lock,
            queueing_lock=queueing_lock,
            task_name=task_name,
            task_kwargs=checked_args(args),
            scheduled_at=checked_schedule(schedule_at),
        )
        manager = self.app.job_manager
        try:
            if session is None:
                await self._open()
                deferred = await manager.defer_job_async(job)
            else:
                # A savepoint: a refusal must not abort the caller's transaction. The
                # session emits it when asked for its connection inside, not before.
                async with session.begin_nested():
                    connection = await driver_connection(session)
                    deferred = await manager.defer_job_async(job, connection=connection)
        except exceptions.AlreadyEnqueued as exc:
            raise AlreadyQueued(queueing_lock or "") from exc
        assert deferred.id is not None
        job_logger(deferred.id, task_name).debug("job deferred", extra={"lock": lock})
        return deferred.id

    async def start(self) -> None:
        if self._supervisors:
            raise RuntimeError("the runtime is already started")
        await self._open()
        self._stopping.clear()
        self._supervisors = [
            asyncio.create_task(self._supervise(lane, queues, slots), name=f"jobs-worker-{lane}")
            for lane, (queues, slots) in self._lanes().items()
        ]
        self._recovery = asyncio.create_task(self._recovery_loop(), name="jobs-recovery")
        log.info(
            "procrastinate workers started",
            extra={"concurrency": self.concurrency, "queue_concurrency": self.queue_concurrency},
        )

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - see JobRuntime
        if self._supervisors:
            self._stopping.set()
            for worker in list(self._workers.values()):
                worker.shutdown_graceful_timeout = timeout
                worker.stop()  # type: ignore[no-untyped-call]
            await asyncio.gather(*self._supervisors)
            self._supervisors = []
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None
        async with self._opening:
            if self._opened:
                await self.app.close_async()
                self._opened = False

    async def run_until_idle(self) -> None:
        await self._open()
        worker = self._new_worker(concurrency=1, wait=False, listen_notify=False)  # all queues
        await worker.run()  # type: ignore[no-untyped-call]

    async def get_job(self, job_id: int) -> JobInfo:
        await self._open()
        try:
            row = await self.app.connector.execute_query_one_async(GET_JOB, job_id=job_id)
        except exceptions.NoResult:
            raise NotFound(f"job {job_id} not found") from None
        return job_info(row)

    async def queue_counts(self) -> dict[tuple[str, JobStatus], int]:
        await self._open()
        rows = await self.app.connector.execute_query_all_async(QUEUE_COUNTS)
        return {(row["task_name"], JobStatus(row["status"])): row["jobs"] for row in rows}

    async def purge_finished(self, older_than: timedelta) -> int:
        await self._open()
        rows = await self.app.connector.execute_query_all_async(
            PURGE_FINISHED, finished_before=utcnow() - older_than
        )
        log.info("purged %d finished jobs", len(rows), extra={"older_than": str(older_than)})
        return len(rows)

    # -- running --------------------------------------------------------------------------

    async def _run(self, context: ProcrastinateContext, /, **args: Any) -> None:
        """Every task's procrastinate function: our handler, its outcome as an exception."""
        job = context.job
        assert job.id is not None
        ours = JobContext(
            job_id=job.id,
            task_name=job.task_name,
            attempt=job.attempts + 1,
            runtime=self,
            log=job_logger(job.id, job.task_name, attempt=job.attempts + 1),
        )
        match await execute(self.registry, ours, args):
            case Succeeded():
                return
            case Retry(delay=delay, error=error, counts=counts):
                raise RunAgain(delay, error, counts=counts)
            case Failed(error=error):
                raise JobFailed(error)

    def _lanes(self) -> dict[str, tuple[list[str], int]]:
        """The workers to run: queues and concurrency, by name. The default one takes every
        queue without slots of its own (and jobs deferred before a queue had its own)."""
        own = {
            queue: slots
            for queue, slots in self.queue_concurrency.items()
            if self.registry.names_in([queue])
        }
        shared = {QUEUE} | {task.queue for task in self.registry if task.queue not in own}
        lanes = {QUEUE: (sorted(shared), self.concurrency)}
        lanes.update({queue: ([queue], slots) for queue, slots in own.items()})
        return lanes

    def _new_worker(self, **options: Any) -> Worker:
        settings: dict[str, Any] = {
            "concurrency": self.concurrency,
            "fetch_job_polling_interval": self.poll_interval,
            "update_heartbeat_interval": self.heartbeat_interval,
            "stalled_worker_timeout": self.stalled_after,
            "install_signal_handlers": False,
            "name": "interlink",
        }
        return Worker(app=self.app, **{**settings, **options})

    async def _supervise(self, lane: str, queues: list[str], concurrency: int) -> None:
        failures = 0
        while not self._stopping.is_set():
            # No await between creating and running: run() must clear its stop event
            # before a stop() can set it.
            worker = self._workers[lane] = self._new_worker(
                queues=queues, concurrency=concurrency, name=f"interlink-{lane}"
            )
            try:
                await worker.run()  # type: ignore[no-untyped-call]
                failures = 0
            except Exception:
                log.exception("the job worker stopped with an error", extra={"lane": lane})
                failures += 1
            finally:
                self._workers.pop(lane, None)
            if self._stopping.is_set():
                return
            delay = _RESTART_DELAYS[min(failures, len(_RESTART_DELAYS)) - 1] if failures else 1.0
            log.warning("starting the job worker again in %.3gs", delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    async def _recovery_loop(self) -> None:
        while True:
            await asyncio.sleep(self.stalled_after / 3)
            try:
                await self._recover_stalled()
            except Exception:
                log.exception("stalled-job recovery failed")

    async def _recover_stalled(self) -> None:
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_after)
        for job in stalled:
            assert job.id is not None
            # A worker found dead at another's start-up is deleted: its jobs keep no id.
            who = f"worker {job.worker_id}" if job.worker_id else "its worker"
            error = f"stalled: {who} stopped heartbeating; run again"
            job_logger(job.id, job.task_name).warning("stalled job requeued: %s", error)
            self._notes.errors[job.id] = error
            await manager.retry_job(job)

    async def _open(self) -> None:
        async with self._opening:
            if not self._opened:
                await self.app.open_async()
                self._opened = True
