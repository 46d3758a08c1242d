"""Polling throughput: polls per minute per process against the Sandbox CRM at 50 ms latency,
side by side with the limit that concurrency and latency set and with a raw httpx loop.

Run: python bench/polling_throughput.py [--instances 50,100,200] [--changes-per-second 0,0.5]
    [--seconds 20] [--latency-ms 50] [--interval 1] [--concurrency N]
The sandbox (with a receiver answering 204 to deliveries, and a writer making changes at
`--changes-per-second`) runs in a child process, as a vendor runs elsewhere, so this
process's CPU time is the hub's alone. For each number of instances and rate of changes, a
fresh hub (embedded SQLite, its job runtime and its poll scheduler, as `interlink serve` runs
them; not the HTTP API, which polling does not use) watches `contacts` of N instances of the
sandbox element, created through the instances service, every `--interval` seconds (the
minimum, so that every configuration keeps the workers busy). Once every stream is live
(baselines are not measured), for `--seconds`: the poll jobs that succeeded, the vendor
requests they made, the events they recorded, the hub's CPU time (time.process_time, which
counts the SQLite threads). Each configuration takes under a minute.

The limit, in polls per second, is what the hub can overlap of the vendor's latency:

    limit = min(runtime concurrency, element concurrency) / (requests per poll x latency),
            and at most element rate limit / requests per poll

A live poll of sandbox contacts with nothing new is 2 requests (the changes since the mark,
one page, and the deleted-records feed), so at 50 ms and the runtime's 4 workers the limit is
4 / (2 x 0.05 s) = 40 polls/s = 2,400 polls/min (the element's 8 concurrent calls and 200
requests/s would allow 80 and 100). The goal is a ratio of at least 0.8. Beside it, a raw
loop makes the same 2 requests per "poll" with as many tasks as the runtime has workers for
up to 10 s: the limit as this machine actually reaches it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.elements.catalog import builtin_elements
from interlink.eventing.polling.scheduler import PollScheduler
from interlink.eventing.polling.streams import LIVE
from interlink.eventing.task_names import DELIVER_TASK, DELIVERY_QUEUE, POLL_TASK
from interlink.hub import Hub
from interlink.runtime import EmbeddedRuntime
from interlink.sandbox import SandboxConfig, running_sandbox
from interlink.sandbox.collection import Collection
from interlink.server import build_hub, task_registry
from interlink.services.instances import NewInstance, create_instance
from interlink.services.organizations import create_organization
from interlink.settings import Settings
from interlink.storage.migrate import migrate
from interlink.storage.models import Event, EventStream, Job
from interlink.storage.types import utcnow

API_KEY = "bench-sandbox-key"
SEEDED_CONTACTS = 50  # a baseline of one page
REQUESTS_PER_POLL = 2  # changes since the mark (one page) + the deleted-records feed
LIVE_TIMEOUT_SECONDS = 30.0  # with the measured time, a configuration stays under 60 s


# -- the vendor's process: sandbox, receiver, and a writer making changes ------------------


async def _receive(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


async def _serve_vendor(latency_ms: float, changes_per_second: float) -> None:
    """The child process: serve until the parent closes our stdin."""
    config = SandboxConfig(api_key=API_KEY, seed=SEEDED_CONTACTS, latency_ms=latency_ms)
    receiver = Starlette(routes=[Route("/hook", _receive, methods=["POST"])])
    async with running_sandbox(config) as sandbox, serving(receiver) as receiver_url:
        print(json.dumps({"sandbox": sandbox.url, "receiver": f"{receiver_url}/hook"}), flush=True)
        writer = asyncio.create_task(_write_changes(sandbox.store.contacts, changes_per_second))
        await asyncio.to_thread(sys.stdin.read)
        writer.cancel()


async def _write_changes(contacts: Collection, per_second: float) -> None:
    if per_second <= 0:
        return
    ids = [record["id"] for record in contacts.snapshot()]
    draw = random.Random(7)
    number = 0
    while True:
        await asyncio.sleep(draw.expovariate(per_second))
        number += 1
        contacts.update(draw.choice(ids), {"title": f"Title {number}"})


@contextlib.asynccontextmanager
async def _vendor(latency_ms: float, changes_per_second: float) -> AsyncIterator[dict[str, str]]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--vendor",
        f"--latency-ms={latency_ms}",
        f"--changes-per-second={changes_per_second}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        yield json.loads(await child.stdout.readline())
    finally:
        child.stdin.close()
        await child.wait()


# -- the hub ------------------------------------------------------------------------------


class _CountingTransport(httpx.AsyncBaseTransport):
    """The hub's own vendor transport, counting requests and refusals on the way."""

    def __init__(self, inner: httpx.AsyncBaseTransport, counts: dict[str, int]) -> None:
        self.inner = inner
        self.counts = counts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.counts["requests"] += 1
        if response.status_code >= 400:
            self.counts["errors"] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Measured:
    polls_per_second: float
    cpu_ms_per_poll: float
    requests_per_poll: float
    vendor_errors: int = 0
    events_per_poll: float = 0.0
    deliveries_per_second: float = 0.0  # deliver jobs, which share the workers with polls
    poll_ms_median: float = 0.0  # a poll job from start to end
    queue_ms_median: float = 0.0  # from due to started


@contextlib.asynccontextmanager
async def _running_workers(data_dir: Path, concurrency: int | None) -> AsyncIterator[Hub]:
    """What `interlink serve` runs for polling: migrations, job workers, poll scheduler."""
    settings = Settings(
        data_dir=data_dir,
        allow_private_networks=True,
        secret_key="bench-secret-key-0123456789-abcdefghijklmnop",
    )
    hub = build_hub(settings, listen_url="http://127.0.0.1:9")
    if concurrency is not None:
        hub.runtime_ = EmbeddedRuntime(
            hub.database,
            task_registry(hub),
            concurrency=concurrency,
            queue_concurrency={DELIVERY_QUEUE: settings.delivery_concurrency},
        )
    await migrate(hub.database)
    scheduler = PollScheduler(hub)
    await hub.runtime.start()
    await scheduler.start()
    try:
        yield hub
    finally:
        await scheduler.stop()
        await hub.runtime.stop(timeout=10)
        await hub.close()


async def _add_instances(hub: Hub, urls: dict[str, str], count: int, interval: int) -> None:
    async with hub.database.transaction() as session:
        organization, _ = await create_organization(session, "bench")
        for number in range(count):
            request = NewInstance(
                element="sandbox",
                name=f"bench-{number}",
                config={"base_url": urls["sandbox"], "api_key": API_KEY},
                events={
                    "enabled": True,
                    "mode": "polling",
                    "objects": ["contacts"],
                    "poll_interval_seconds": interval,
                    "callback_url": urls["receiver"],
                },
            )
            await create_instance(hub, session, organization.id, request)


async def _wait_live(hub: Hub, count: int) -> None:
    async with asyncio.timeout(LIVE_TIMEOUT_SECONDS):
        while True:
            async with hub.database.transaction() as session:
                live = await session.scalar(
                    select(func.count()).select_from(EventStream).where(EventStream.state == LIVE)
                )
            if live == count:
                return
            await asyncio.sleep(0.2)


async def _finished_jobs(hub: Hub, task_name: str, since: datetime, until: datetime) -> list[Job]:
    async with hub.database.transaction() as session:
        rows = await session.scalars(
            select(Job).where(
                Job.task_name == task_name,
                Job.status == "succeeded",
                Job.finished_at > since,
                Job.finished_at <= until,
            )
        )
        return list(rows)


async def _events_recorded(hub: Hub, since: datetime, until: datetime) -> int:
    async with hub.database.transaction() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.recorded_at > since, Event.recorded_at <= until)
        )
    return int(count or 0)


async def _hub_round(
    urls: dict[str, str], instances: int, interval: int, seconds: float, concurrency: int | None
) -> tuple[Measured, int]:
    counts = {"requests": 0, "errors": 0}
    with tempfile.TemporaryDirectory() as folder:
        async with _running_workers(Path(folder), concurrency) as hub:
            guarded: Callable[[], httpx.AsyncBaseTransport] = hub.vendor_transport
            hub.vendor_transport = lambda: _CountingTransport(guarded(), counts)  # type: ignore[method-assign]
            await _add_instances(hub, urls, instances, interval)
            await _wait_live(hub, instances)
            await asyncio.sleep(interval + 1.5)  # every stream past its baseline poll's wake
            requests, errors = counts["requests"], counts["errors"]
            since, cpu = utcnow(), time.process_time()
            await asyncio.sleep(seconds)
            until, cpu = utcnow(), time.process_time() - cpu
            requests, errors = counts["requests"] - requests, counts["errors"] - errors
            jobs = await _finished_jobs(hub, POLL_TASK, since, until)
            deliveries = len(await _finished_jobs(hub, DELIVER_TASK, since, until))
            events = await _events_recorded(hub, since, until)
            workers = hub.runtime.concurrency if isinstance(hub.runtime, EmbeddedRuntime) else 0
    polls = len(jobs)
    if not polls:
        raise RuntimeError("no poll finished in the measured time")
    elapsed = (until - since).total_seconds()
    return Measured(
        polls_per_second=polls / elapsed,
        cpu_ms_per_poll=cpu * 1000 / polls,
        requests_per_poll=requests / polls,
        vendor_errors=errors,
        events_per_poll=events / polls,
        deliveries_per_second=deliveries / elapsed,
        poll_ms_median=statistics.median(_ms(job.finished_at, job.started_at) for job in jobs),
        queue_ms_median=statistics.median(_ms(job.started_at, job.scheduled_at) for job in jobs),
    ), workers


def _ms(later: datetime | None, earlier: datetime | None) -> float:
    assert later is not None
    assert earlier is not None
    return (later - earlier).total_seconds() * 1000


# -- the raw loop -------------------------------------------------------------------------


async def _raw_round(sandbox_url: str, tasks: int, seconds: float) -> Measured:
    """`tasks` loops each asking what a live poll asks; nothing compared, nothing stored."""
    polls = 0
    headers = {"Authorization": f"Bearer {API_KEY}"}
    limits = httpx.Limits(max_connections=tasks)
    async with httpx.AsyncClient(
        base_url=sandbox_url, headers=headers, limits=limits, trust_env=False
    ) as client:
        # Since the newest change less the element's overlap, as the hub's polls ask.
        everything = await client.get("/api/contacts", params={"limit": SEEDED_CONTACTS})
        newest = max(record["updated_at"] for record in everything.json()["results"])
        overlap = timedelta(seconds=builtin_elements()["sandbox"].polling.overlap_seconds)
        since = (datetime.fromisoformat(newest.replace("Z", "+00:00")) - overlap).isoformat()

        async def loop(deadline: float) -> None:
            nonlocal polls
            while time.perf_counter() < deadline:
                listed = await client.get(
                    "/api/contacts", params={"updated_since": since, "limit": 100}
                )
                deleted = await client.get(
                    "/api/contacts/deleted", params={"since": since, "limit": 100}
                )
                listed.raise_for_status()
                deleted.raise_for_status()
                polls += 1

        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(loop(started + seconds) for _ in range(tasks)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Measured(polls / elapsed, cpu * 1000 / polls, REQUESTS_PER_POLL)


# -- the report ---------------------------------------------------------------------------


def _limit(workers: int, latency_ms: float) -> tuple[float, str]:
    rate_limit = builtin_elements()["sandbox"].rate_limit
    latency = latency_ms / 1000
    by_workers = workers / (REQUESTS_PER_POLL * latency)
    by_vendor_concurrency = rate_limit.concurrency / (REQUESTS_PER_POLL * latency)
    by_rate = rate_limit.requests / rate_limit.per_seconds / REQUESTS_PER_POLL
    limit = min(by_workers, by_vendor_concurrency, by_rate)
    formula = (
        f"min({workers} workers, {rate_limit.concurrency} vendor calls) / "
        f"({REQUESTS_PER_POLL} requests x {latency * 1000:g} ms) = "
        f"{min(by_workers, by_vendor_concurrency):.0f}/s; "
        f"vendor rate {rate_limit.requests}/{rate_limit.per_seconds:g}s / {REQUESTS_PER_POLL} "
        f"= {by_rate:.0f}/s"
    )
    return limit, formula


async def _bench(args: argparse.Namespace) -> None:
    print(
        f"sandbox latency {args.latency_ms:g} ms, poll_interval_seconds {args.interval}, "
        f"{args.seconds:g} s measured per configuration once every stream is live"
    )
    print(f"load average at start: {_load()}")
    formula = ""
    rows = []
    for changes in args.changes_per_second:
        async with _vendor(args.latency_ms, changes) as urls:
            for instances in args.instances:
                hub, workers = await _hub_round(
                    urls, instances, args.interval, args.seconds, args.concurrency
                )
                raw = await _raw_round(urls["sandbox"], workers, min(args.seconds, 10))
                limit, formula = _limit(workers, args.latency_ms)
                rows.append((instances, changes, hub, raw, limit))
                if hub.vendor_errors:
                    print(f"  ({hub.vendor_errors} vendor answers >= 400 in the hub's round)")
    print(f"load average at end: {_load()}")
    print(f"limit: {formula}")
    print(
        f"{'instances':>9} {'changes/s':>9} | {'hub polls/min':>13} {'limit/min':>9} "
        f"{'ratio':>5} | {'raw loop/min':>12} {'hub/raw':>7}"
    )
    for instances, changes, hub, raw, limit in rows:
        print(
            f"{instances:9d} {changes:9g} | {hub.polls_per_second * 60:13.0f} "
            f"{limit * 60:9.0f} {hub.polls_per_second / limit:5.2f} | "
            f"{raw.polls_per_second * 60:12.0f} {hub.polls_per_second / raw.polls_per_second:7.2f}"
        )
    print(
        f"{'instances':>9} {'changes/s':>9} | {'CPU/poll':>8} {'raw CPU':>7} "
        f"{'req/poll':>8} {'events/poll':>11} {'deliveries/s':>12} | {'poll med':>8} "
        f"{'queued med':>10}"
    )
    for instances, changes, hub, raw, _ in rows:
        print(
            f"{instances:9d} {changes:9g} | {hub.cpu_ms_per_poll:6.1f}ms "
            f"{raw.cpu_ms_per_poll:5.1f}ms {hub.requests_per_poll:8.2f} "
            f"{hub.events_per_poll:11.1f} {hub.deliveries_per_second:12.1f} | "
            f"{hub.poll_ms_median:6.0f}ms {hub.queue_ms_median:8.0f}ms"
        )
    print("goal: ratio (hub polls / limit) >= 0.8")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _numbers(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda text: [kind(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=_numbers(int), default=[50, 100, 200])
    parser.add_argument("--changes-per-second", type=_numbers(float), default=[0.0, 0.5])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--interval", type=int, default=1, help="poll_interval_seconds")
    parser.add_argument("--concurrency", type=int, help="job workers (default: the hub's)")
    parser.add_argument("--vendor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vendor:
        asyncio.run(_serve_vendor(args.latency_ms, args.changes_per_second[0]))
        return
    asyncio.run(_bench(args))


if __name__ == "__main__":
    main()
