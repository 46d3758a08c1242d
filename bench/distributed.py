"""Distributed throughput: polls, deliveries and export pages with 1, 2 and 3 `interlink
worker` processes on one PostgreSQL database, side by side; and the ceiling of the
PostgreSQL job queue (procrastinate) with no-op jobs.

Run: python bench/distributed.py [--quick] [--workers 1,2,3] [--concurrency 4]
    [--latency-ms 50] [--postgres postgresql://postgres@127.0.0.1:5432/test] [--json]
Two Sandbox CRMs run as child processes (`interlink sandbox --latency-ms 50`): a small one
(50 contacts) that the polls read, and one of `--export-records` contacts that the exports
page through. A receiver in this process answers every delivery with 204 after the same
latency. The load is latency-bound, so worker processes (each running `--concurrency`
jobs at a time) matter even on 2 cores.

For each number of workers: a fresh database (created here, migrated by this process),
then N `interlink worker --concurrency C` processes (files in a shared local folder: the
file store a single machine needs), then, one after the other, everything made by this
process as an API node would (the rows and their jobs in one transaction, so the work
starts at its commit):

  deliveries  I instances with K deliveries waiting each (one event each): deliveries a
              second from the commit to the last one delivered (one delivery job per
              instance at a time: I jobs can run at once).
  export      E exports (`select * from contacts`, paging, 100 records a page) at once:
              pages a second from the commit to the last one completed (each export is
              one job: E jobs can run at once).
  polls       P instances polling their contacts every second (the minimum), more than
              the workers can poll: once every stream is live, poll jobs that succeeded a
              second over `--seconds`.

The queue ceiling: no-op jobs (a registry with one task that does nothing) run by 1, 2
and 3 child processes of `PostgresRuntime` at `--concurrency` each, and one process at
3 x `--concurrency`: the jobs (inserted in one statement first) run a second, from the
insert to the last one succeeded. Beside it, `PostgresRuntime.defer` from this process,
one at a time and 8 at a time, deferred a second.

Goal: polls, deliveries and pages >= 2.5x from 1 to 3 workers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.bulk.jobs import NewQueryJob, create_query_job
from interlink.eventing.polling.streams import LIVE
from interlink.eventing.recorder import NewEvent, record_events
from interlink.hub import Hub
from interlink.runtime import JobContext, TaskRegistry
from interlink.runtime.postgres import PostgresRuntime
from interlink.server import build_hub
from interlink.services.instances import NewInstance, create_instance
from interlink.services.organizations import create_organization
from interlink.settings import Settings
from interlink.storage.migrate import migrate
from interlink.storage.models import BulkJob, Delivery, EventStream

API_KEY = "bench-sandbox-key"
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnop"
DEFAULT_POSTGRES = os.environ.get(
    "INTERLINK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
COMMAND = [sys.executable, "-m", "interlink"]
LISTENING = re.compile(r"listening on (http://\S+)")
WORKER_READY = "Starting worker on queues"  # procrastinate's line once a worker runs
POLL_SEED = 50  # one page: a live poll is 2 requests (changes since the mark, deletes)
PAGE_SIZE = 100
START_SECONDS = 60.0
PHASE_SECONDS = 240.0  # any one measurement, at most
NOOP_TASK = "bench.noop"


@dataclass
class Load:
    delivery_instances: int
    deliveries_each: int
    exports: int
    export_records: int
    poll_instances: int
    poll_seconds: float
    noop_jobs: int
    defers: int


# Polls: enough instances that 3 workers cannot keep up (each stream polls at most once a
# second, after its last poll ended and the scheduler's next tick: ~50-60 polls/s a 100).
FULL = Load(60, 15, 12, 6_000, 300, 12.0, 5_000, 1_000)
QUICK = Load(48, 8, 12, 3_000, 200, 6.0, 2_000, 400)


@dataclass
class Row:
    workers: int
    deliveries_per_second: float = 0.0
    pages_per_second: float = 0.0
    polls_per_second: float = 0.0
    notes: list[str] = field(default_factory=list)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- processes ------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def wait_for(self, pattern: str | re.Pattern[str]) -> re.Match[str] | bool:
        """Until the log shows `pattern` (bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_SECONDS
        while True:
            text = self.output()
            found = pattern.search(text) if isinstance(pattern, re.Pattern) else pattern in text
            if found:
                return found
            if self.process.returncode is not None or loop.time() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{text[-4000:]}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(15):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
        await self.process.wait()


@contextlib.asynccontextmanager
async def _children() -> AsyncIterator[Callable[..., Awaitable[Child]]]:
    """Start children with the returned function; every one is stopped on the way out."""
    started: list[Child] = []
    folder = Path(tempfile.mkdtemp(prefix="interlink-bench-logs-"))

    async def start(name: str, *argv: str, env: dict[str, str] | None = None) -> Child:
        log = folder / f"{len(started):02d}-{name}.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        child = Child(name, process, log)
        started.append(child)
        return child

    try:
        yield start
    finally:
        await asyncio.gather(*(child.stop() for child in started))


async def _sandbox(start: Callable[..., Awaitable[Child]], name: str, seed: int, ms: float) -> str:
    child = await start(
        name,
        *COMMAND,
        *("sandbox", "--port", "0", "--api-key", API_KEY),
        *("--seed", str(seed), "--latency-ms", str(ms)),
        env={**os.environ, "INTERLINK_DATA_DIR": tempfile.mkdtemp(prefix="bench-sandbox-")},
    )
    found = await child.wait_for(LISTENING)
    assert isinstance(found, re.Match)
    return found.group(1)


# -- PostgreSQL -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _database(admin_url: str) -> AsyncIterator[str]:
    """A new, empty database (dropped on the way out); its SQLAlchemy URL."""
    name = f"interlink_bench_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(f"CREATE DATABASE {name}")
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _count(url: str, query: str, *params: Any) -> int:
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    async with await psycopg.AsyncConnection.connect(libpq, autocommit=True) as connection:
        cursor = await connection.execute(query, params)
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _until(check: Callable[[], Awaitable[bool]], what: str, every: float = 0.05) -> float:
    """Until `check()` holds (bounded); the moment it did (perf_counter)."""
    deadline = time.perf_counter() + PHASE_SECONDS
    while not await check():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"waited {PHASE_SECONDS:g} s in vain for {what}")
        await asyncio.sleep(every)
    return time.perf_counter()


# -- the receiver ---------------------------------------------------------------------------


def _receiver(latency_ms: float) -> Starlette:
    async def receive(request: Request) -> Response:
        await request.body()
        await asyncio.sleep(latency_ms / 1000)
        return Response(status_code=204)

    return Starlette(routes=[Route("/hook", receive, methods=["POST"])])


# -- one number of workers --------------------------------------------------------------------


def _settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=SECRET_KEY,
        allow_private_networks=True,
    )


def _worker_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")}
    return {
        **env,
        "INTERLINK_DATABASE_URL": database_url,
        "INTERLINK_DATA_DIR": str(data_dir),
        "INTERLINK_SECRET_KEY": SECRET_KEY,
        "INTERLINK_ALLOW_PRIVATE_NETWORKS": "true",
        "INTERLINK_PUBLIC_URL": "http://127.0.0.1:9",
    }


async def _organization(hub: Hub) -> str:
    async with hub.database.transaction() as session:
        organization, _ = await create_organization(session, "bench")
    return organization.id


async def _deliveries(hub: Hub, org: str, load: Load, receiver: str) -> tuple[float, str]:
    total = load.delivery_instances * load.deliveries_each
    async with hub.database.transaction() as session:
        for number in range(load.delivery_instances):
            instance = await create_instance(
                hub,
                session,
                org,
                NewInstance(
                    element="sandbox",
                    name=f"deliveries-{number}",
                    config={"base_url": "http://127.0.0.1:9", "api_key": API_KEY},
                    events={"enabled": False, "objects": ["contacts"], "callback_url": receiver},
                ),
            )
            for n in range(load.deliveries_each):
                record = {"id": f"c{number}-{n}", "email": f"c{number}-{n}@bench.example"}
                change = NewEvent("contacts", record["id"], "updated", record, None, "poll")
                await record_events(session, instance, [change], hub.runtime)
    started = time.perf_counter()

    async def done() -> bool:
        async with hub.database.transaction() as session:
            succeeded = await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "succeeded")
            )
        return succeeded == total

    ended = await _until(done, "every delivery", every=0.1)
    return total / (ended - started), f"{total} deliveries"


async def _exports(hub: Hub, org: str, load: Load, sandbox: str) -> tuple[float, str]:
    async with hub.database.transaction() as session:
        for number in range(load.exports):
            instance = await create_instance(
                hub,
                session,
                org,
                NewInstance(
                    element="sandbox",
                    name=f"export-{number}",
                    config={"base_url": sandbox, "api_key": API_KEY},
                ),
            )
            body = NewQueryJob(q="select * from contacts", native=False)
            await create_query_job(hub, session, org, instance.id, body)
    started = time.perf_counter()

    async def done() -> bool:
        async with hub.database.transaction() as session:
            jobs = list(await session.scalars(select(BulkJob)))
        failed = [job for job in jobs if job.status in ("failed", "cancelled")]
        if failed:
            raise RuntimeError(f"an export failed: {failed[0].error}")
        return all(job.status == "completed" for job in jobs)

    ended = await _until(done, "every export", every=0.1)
    async with hub.database.transaction() as session:
        records = list(await session.scalars(select(BulkJob.records)))
    assert records == [load.export_records] * load.exports, records
    pages = load.exports * -(-load.export_records // PAGE_SIZE)
    return pages / (ended - started), f"{load.exports} exports, {pages} pages"


async def _polls(
    hub: Hub, org: str, load: Load, sandbox: str, receiver: str, database_url: str
) -> tuple[float, str]:
    async with hub.database.transaction() as session:
        for number in range(load.poll_instances):
            await create_instance(
                hub,
                session,
                org,
                NewInstance(
                    element="sandbox",
                    name=f"polls-{number}",
                    config={"base_url": sandbox, "api_key": API_KEY},
                    events={
                        "enabled": True,
                        "mode": "polling",
                        "objects": ["contacts"],
                        "poll_interval_seconds": 1,
                        "callback_url": receiver,
                    },
                ),
            )

    async def live() -> bool:
        async with hub.database.transaction() as session:
            count = await session.scalar(
                select(func.count()).select_from(EventStream).where(EventStream.state == LIVE)
            )
        return count == load.poll_instances

    await _until(live, "every stream live", every=0.2)
    await asyncio.sleep(2.0)  # past the baselines' wake

    async def polls() -> int:
        return await _count(
            database_url,
            "SELECT count(*) FROM procrastinate_jobs "
            "WHERE task_name = 'eventing.poll' AND status = 'succeeded'",
        )

    before, started = await polls(), time.perf_counter()
    await asyncio.sleep(load.poll_seconds)
    after, ended = await polls(), time.perf_counter()
    return (after - before) / (ended - started), f"{load.poll_instances} instances at 1 s"


async def _one_row(
    workers: int,
    args: argparse.Namespace,
    load: Load,
    urls: dict[str, str],
    start: Callable[..., Awaitable[Child]],
) -> Row:
    row = Row(workers)
    async with _database(args.postgres) as database_url:
        data_dir = Path(tempfile.mkdtemp(prefix="interlink-bench-"))
        hub = build_hub(_settings(database_url, data_dir), listen_url="http://127.0.0.1:9")
        try:
            await migrate(hub.database)
            org = await _organization(hub)
            env = _worker_env(database_url, data_dir)
            children = [
                await start(
                    f"worker-{workers}-{n}",
                    *COMMAND,
                    *("worker", "--concurrency", str(args.concurrency)),
                    env=env,
                )
                for n in range(workers)
            ]
            await asyncio.gather(*(child.wait_for(WORKER_READY) for child in children))
            row.deliveries_per_second, note = await _deliveries(hub, org, load, urls["receiver"])
            row.notes.append(note)
            _log(f"  {workers} workers: {row.deliveries_per_second:.1f} deliveries/s ({note})")
            row.pages_per_second, note = await _exports(hub, org, load, urls["export"])
            row.notes.append(note)
            _log(f"  {workers} workers: {row.pages_per_second:.1f} pages/s ({note})")
            row.polls_per_second, note = await _polls(
                hub, org, load, urls["polls"], urls["receiver"], database_url
            )
            row.notes.append(note)
            _log(f"  {workers} workers: {row.polls_per_second:.1f} polls/s ({note})")
            await asyncio.gather(*(child.stop() for child in children))
        finally:
            await hub.close()
    return row


# -- the queue's ceiling ------------------------------------------------------------------------


def _noop_registry() -> TaskRegistry:
    registry = TaskRegistry()

    @registry.task(name=NOOP_TASK)
    async def noop(context: JobContext) -> None:
        return None

    return registry


async def _noop_worker(database_url: str, concurrency: int) -> None:
    """The child process: run no-op jobs until stdin closes."""
    runtime = PostgresRuntime(database_url, _noop_registry(), concurrency=concurrency)
    await runtime.start()
    print("ready", flush=True)
    try:
        await asyncio.to_thread(sys.stdin.read)
    finally:
        await runtime.stop(timeout=10)


@contextlib.asynccontextmanager
async def _noop_workers(database_url: str, processes: int, concurrency: int) -> AsyncIterator[None]:
    children = []
    for _ in range(processes):
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--noop-worker",
            database_url,
            str(concurrency),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        children.append(child)
    try:
        for child in children:
            assert child.stdout is not None
            async with asyncio.timeout(START_SECONDS):
                line = await child.stdout.readline()
            if line.strip() != b"ready":
                raise RuntimeError("a no-op worker did not start")
        yield
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
        await asyncio.gather(*(child.wait() for child in children))


async def _queue_ceiling(args: argparse.Namespace, load: Load) -> dict[str, float]:
    found: dict[str, float] = {}
    async with _database(args.postgres) as database_url:
        data_dir = Path(tempfile.mkdtemp(prefix="interlink-bench-"))
        hub = build_hub(_settings(database_url, data_dir), listen_url="http://127.0.0.1:9")
        await migrate(hub.database)
        await hub.close()

        runtime = PostgresRuntime(database_url, _noop_registry(), concurrency=1)
        try:
            for parallel in (1, 8):
                started = time.perf_counter()

                async def defer_some(count: int) -> None:
                    for _ in range(count):
                        await runtime.defer(NOOP_TASK, {})

                await asyncio.gather(
                    *(defer_some(load.defers // parallel) for _ in range(parallel))
                )
                rate = load.defers // parallel * parallel / (time.perf_counter() - started)
                found[f"defer, {parallel} at a time"] = rate
                _log(f"  defer, {parallel} at a time: {rate:.0f}/s")
        finally:
            await runtime.stop()
        libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        async with await psycopg.AsyncConnection.connect(libpq, autocommit=True) as db:
            await db.execute("DELETE FROM procrastinate_jobs")

            shapes = [(n, args.concurrency) for n in (1, 2, 3)] + [(1, 3 * args.concurrency)]
            for processes, concurrency in shapes:
                async with _noop_workers(database_url, processes, concurrency):
                    started = time.perf_counter()
                    await db.execute(
                        "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
                        "SELECT 'default', %s, '{}'::jsonb FROM generate_series(1, %s)",
                        (NOOP_TASK, load.noop_jobs),
                    )

                    async def done() -> bool:
                        cursor = await db.execute(
                            "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'"
                        )
                        row = await cursor.fetchone()
                        return row is not None and row[0] == 0

                    ended = await _until(done, "every no-op job")
                    rate = load.noop_jobs / (ended - started)
                    name = f"run, {processes} process(es) x {concurrency}"
                    found[name] = rate
                    _log(f"  {name}: {rate:.0f} jobs/s")
                await db.execute("DELETE FROM procrastinate_jobs")
    return found


# -- the report ---------------------------------------------------------------------------------


def _report(rows: list[Row], ceiling: dict[str, float], args: argparse.Namespace) -> None:
    print(
        f"\nlatency {args.latency_ms:g} ms (sandbox and receiver), "
        f"--concurrency {args.concurrency} per worker process, {os.cpu_count()} CPUs"
    )
    print(f"{'workers':>8} {'polls/s':>10} {'deliveries/s':>13} {'export pages/s':>15}")
    for row in rows:
        print(
            f"{row.workers:>8} {row.polls_per_second:>10.1f} "
            f"{row.deliveries_per_second:>13.1f} {row.pages_per_second:>15.1f}"
        )
    base = rows[0]
    for row in rows[1:]:
        print(
            f"{f'{row.workers}/{base.workers}':>8} "
            f"{row.polls_per_second / base.polls_per_second:>9.2f}x "
            f"{row.deliveries_per_second / base.deliveries_per_second:>12.2f}x "
            f"{row.pages_per_second / base.pages_per_second:>14.2f}x"
        )
    print("(goal: >= 2.5x from 1 to 3 workers)")
    if rows[0].notes:
        print(f"load: {'; '.join(rows[0].notes)}")
    if ceiling:
        print("\nPostgreSQL queue, no-op jobs:")
        for name, rate in ceiling.items():
            print(f"  {name:<32} {rate:8.0f} jobs/s")


async def _bench(args: argparse.Namespace) -> None:
    load = QUICK if args.quick else FULL
    if args.export_records:
        load.export_records = args.export_records
    counts = [int(part) for part in args.workers.split(",")]
    rows: list[Row] = []
    async with (
        _children() as start,
        serving(_receiver(args.latency_ms)) as receiver_base,
    ):
        polls_url, export_url = await asyncio.gather(
            _sandbox(start, "sandbox-polls", POLL_SEED, args.latency_ms),
            _sandbox(start, "sandbox-export", load.export_records, args.latency_ms),
        )
        urls = {"polls": polls_url, "export": export_url, "receiver": f"{receiver_base}/hook"}
        for workers in counts:
            _log(f"{workers} worker process(es):")
            rows.append(await _one_row(workers, args, load, urls, start))
    ceiling = {} if args.skip_queue else await _queue_ceiling(args, load)
    if args.json:
        print(json.dumps({"rows": [asdict(row) for row in rows], "queue": ceiling}, indent=2))
    _report(rows, ceiling, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller load (~2-3 minutes)")
    parser.add_argument("--workers", default="1,2,3", help="worker processes, comma-separated")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs per worker process")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--export-records", type=int, default=0, help="records per export")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin libpq URL")
    parser.add_argument("--skip-queue", action="store_true", help="no queue ceiling")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--noop-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noop_worker:
        asyncio.run(_noop_worker(args.noop_worker[0], int(args.noop_worker[1])))
        return
    asyncio.run(_bench(args))


if __name__ == "__main__":
    main()
