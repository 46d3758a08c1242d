"""The distributed deployment under kill -9 of workers and a database restart.

One API process (`interlink serve --no-workers`) and `interlink worker` processes share a
fresh PostgreSQL database (procrastinate's queue) and moto's S3 (the bulk files). Many
instances poll one sandbox, each posting its events to its own path of a verifying
receiver; a large export pages another sandbox (50 ms a call, so that it lasts).

A worker killed with SIGKILL leaves its jobs 'doing' under a heartbeat that stops; the
other workers put them back once the heartbeat is 30 s old (each checks every 10 s), so the
waits after a kill are budgeted for up to ~45 s of that, plus the work left.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from interlink.bulk.task_names import EXPORT_TASK
from interlink.eventing.task_names import DELIVER_TASK
from tests.acceptance.crash_support import (
    Change,
    SandboxApi,
    Started,
    check_nothing_lost_or_doubled,
    check_stored_match_received,
    redelivered,
    wait_until,
)
from tests.acceptance.distributed_support import (
    Cluster,
    Hooks,
    all_stored_events,
    bulk_records,
    create_plain_instance,
    deployment,
    drained,
    job_counts,
    pg_rows,
    polling_instances,
    s3_object_count,
    seeded_contact_ids,
    start_export,
    terminate_connections,
    wait_for_bulk,
)

pytestmark = pytest.mark.postgres

CONCURRENCY = 4  # jobs each worker process runs at a time
RECOVERY_SECONDS = 100  # from a kill to the end of what it interrupted (~30-45 s + the rest)
SETTLE_SECONDS = 3.0  # nothing left to deliver, and still nothing after a few more polls


class Timeline:
    def __init__(self) -> None:
        self.begun = time.monotonic()
        self.marks: dict[str, float] = {}

    def mark(self, what: str) -> None:
        self.marks[what] = round(time.monotonic() - self.begun, 1)


class Changes:
    """Rounds of changes at the sandbox, each record touched once over the whole test
    (a record changed twice between two polls would rightly show as one event)."""

    def __init__(self, sandbox: SandboxApi, existing: list[str]) -> None:
        self.sandbox = sandbox
        self.untouched = list(existing)
        self.made: set[Change] = set()
        self.rounds = 0

    async def round(self, *, updates: int, deletes: int, creates: int) -> None:
        take = self.untouched[: updates + deletes]
        del self.untouched[: updates + deletes]
        self.made |= await self.sandbox.change_contacts(
            take, updates=updates, deletes=deletes, creates=creates, tag=f"r{self.rounds}"
        )
        self.rounds += 1


def vendor(seed: int, latency_ms: int) -> tuple[str, ...]:
    return ("--seed", str(seed), "--latency-ms", str(latency_ms))


def check_export(records: list[dict[str, Any]], seed: int) -> None:
    """Every seeded contact exactly once, nothing else."""
    expected = seeded_contact_ids(seed)
    counts = Counter(str(record["id"]) for record in records)
    doubled = {record_id: n for record_id, n in counts.items() if n > 1}
    missing = expected - counts.keys()
    unexpected = counts.keys() - expected
    assert not doubled, f"{len(doubled)} records written twice, e.g. {list(doubled)[:5]}"
    assert not missing, f"{len(missing)} records missing, e.g. {sorted(missing)[:5]}"
    assert not unexpected, f"{len(unexpected)} unknown ids, e.g. {sorted(unexpected)[:5]}"
    assert len(records) == seed


async def check_events(run: Cluster, instances: dict[str, str], made: set[Change]) -> None:
    """Each instance's receiver got every change under one event id, nothing else, and
    those are the events the hub stored."""
    hooks = run.hooks
    await wait_until(
        lambda: all(made <= hooks.changes(name) for name in instances),
        RECOVERY_SECONDS,
        "every change at every instance",
    )
    ids = list(instances.values())
    async with run.hub() as hub:
        await drained(hub, ids, RECOVERY_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)
        await drained(hub, ids, RECOVERY_SECONDS)
        stored = await all_stored_events(hub, ids)
    for name, events in zip(instances, stored, strict=True):
        received = hooks.events.get(name, [])
        check_nothing_lost_or_doubled(received, hooks.posts.get(name, []), made)
        check_stored_match_received(events, received, made)
    assert hooks.refused == 0


# -- kill -9 of workers ---------------------------------------------------------------------

INSTANCES = 15
POLL_SEED = 1_000
POLL_LATENCY_MS = 20
EXPORT_SEED = 20_000
EXPORT_LATENCY_MS = 50  # a page of 100 a call: the export lasts ~15 s when nothing stops it
ROUNDS = 14  # of changes, one every ROUND_SECONDS; the delivery kill after KILL_AFTER_ROUND
ROUND_SECONDS = 0.5
KILL_AFTER_ROUND = 3
CHANGES_PER_ROUND = {"updates": 20, "deletes": 4, "creates": 4}
KILL_TEST_SECONDS = 210


async def kill_a_delivering_worker(run: Cluster) -> tuple[Started, list[int]]:
    """kill -9 of a worker while it runs deliveries; it and the delivery jobs it held."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not (running := await run.running(DELIVER_TASK)):
        assert loop.time() < deadline, "no delivery ran within 20 s"
        await asyncio.sleep(0.05)
    _, victim = running[0]
    await victim.kill()
    return victim, [job for job, worker in running if worker is victim]


async def test_workers_killed_during_an_export_and_deliveries(
    tmp_path: Path, postgres_url: str
) -> None:
    timeline = Timeline()
    hooks = Hooks(delay=0.2)  # deliveries stay in flight a moment: a kill catches some
    async with (
        asyncio.timeout(KILL_TEST_SECONDS),
        deployment(tmp_path, postgres_url, hooks) as run,
    ):
        polled, exported, _ = await asyncio.gather(
            run.sandbox("sandbox-poll", *vendor(POLL_SEED, POLL_LATENCY_MS)),
            run.sandbox("sandbox-export", *vendor(EXPORT_SEED, EXPORT_LATENCY_MS)),
            run.start_workers(3, CONCURRENCY),
        )
        timeline.mark("processes started")
        instances = await polling_instances(run, "i", INSTANCES, polled.url)
        changes = Changes(polled, await polled.contact_ids())
        timeline.mark("set up")

        async with run.hub() as hub:
            # The worker running the export dies after the export's first checkpoint.
            export_id = await start_export(hub, await create_plain_instance(hub, exported.url))
            await wait_for_bulk(hub, export_id, seconds=60, started=True)
            running = await run.running(EXPORT_TASK)
            assert len(running) == 1, running
            export_job, export_worker = running[0]
            await export_worker.kill()
            at_kill = await wait_for_bulk(hub, export_id, seconds=1, started=True)
            timeline.mark(f"{export_worker.name} killed mid-export")
            await run.start_worker("worker-4", CONCURRENCY)  # the same one, restarted

            # Changes at the vendor; a worker delivering their events dies on the way.
            killed_deliveries: list[int] = []
            for number in range(ROUNDS):
                await changes.round(**CHANGES_PER_ROUND)
                if number == KILL_AFTER_ROUND:
                    victim, killed_deliveries = await kill_a_delivering_worker(run)
                    timeline.mark(f"{victim.name} killed delivering")
                await asyncio.sleep(ROUND_SECONDS)
            timeline.mark("changes made")

            done = await wait_for_bulk(hub, export_id, seconds=RECOVERY_SECONDS)
            timeline.mark("export completed")
            records = await bulk_records(hub, export_id)
        await check_events(run, instances, changes.made)
        timeline.mark("events checked")

        # The jobs the dead workers held ran again elsewhere, to their end.
        taken_up = await pg_rows(
            postgres_url,
            "SELECT id, status::text, attempts FROM procrastinate_jobs WHERE id = ANY(%s)",
            [export_job, *killed_deliveries],
        )
        counts = await job_counts(postgres_url)
        s3_objects = await s3_object_count(run.s3, run.bucket)

    print(
        f"timeline (s): {timeline.marks}; export killed at {at_kill['records']} of "
        f"{EXPORT_SEED} records; {len(changes.made)} changes x {INSTANCES} instances: "
        f"{hooks.event_count()} events received, "
        f"{sum(redelivered(events) for events in hooks.events.values())} of them again; "
        f"the killed workers' jobs (id, status, attempts): {taken_up}; all jobs {counts}; "
        f"{s3_objects} objects in S3"
    )
    assert 0 < at_kill["records"] < EXPORT_SEED, "the kill was meant to land mid-export"
    assert killed_deliveries
    assert len(taken_up) == 1 + len(killed_deliveries)
    assert {status for _, status, _ in taken_up} == {"succeeded"}, taken_up
    check_export(records, EXPORT_SEED)
    assert done["records"] == EXPORT_SEED
    assert done["error"] is None
    assert len(changes.made) == ROUNDS * sum(CHANGES_PER_ROUND.values())
    assert s3_objects > 0, "the export's parts are in S3"


# -- PostgreSQL's connections all ended -------------------------------------------------------

RESTART_INSTANCES = 4
RESTART_EXPORT_SEED = 10_000
RESTART_TEST_SECONDS = 180


async def test_workers_carry_on_after_the_database_ends_every_connection(
    tmp_path: Path, postgres_url: str
) -> None:
    timeline = Timeline()
    hooks = Hooks()
    async with (
        asyncio.timeout(RESTART_TEST_SECONDS),
        deployment(tmp_path, postgres_url, hooks) as run,
    ):
        polled, exported, _ = await asyncio.gather(
            run.sandbox("sandbox-poll", *vendor(300, 10)),
            run.sandbox("sandbox-export", *vendor(RESTART_EXPORT_SEED, 50)),
            run.start_workers(2, CONCURRENCY),
        )
        instances = await polling_instances(run, "r", RESTART_INSTANCES, polled.url)
        changes = Changes(polled, await polled.contact_ids())
        timeline.mark("set up")

        async with run.hub() as hub:
            export_id = await start_export(hub, await create_plain_instance(hub, exported.url))
            await changes.round(updates=30, deletes=5, creates=5)
            at_restart = await wait_for_bulk(hub, export_id, seconds=60, started=True)
            # What a restart of the server does to its clients, twice: mid-export, and
            # again while the changes are polled and delivered.
            ended = [await terminate_connections(postgres_url)]
            timeline.mark("connections ended")
            await changes.round(updates=30, deletes=5, creates=5)
            await asyncio.sleep(1.0)
            ended.append(await terminate_connections(postgres_url))
            timeline.mark("connections ended again")
            for _ in range(2):
                await changes.round(updates=30, deletes=5, creates=5)
                await asyncio.sleep(1.0)

            # A poll asked for now, and a new export, both run to their end.
            answer = await hub.post(
                f"/v1/instances/{instances['r00']}/poll?wait=true", timeout=RECOVERY_SECONDS
            )
            assert answer.status_code == 200, answer.text
            timeline.mark("a poll asked after")
            at_vendor = len(await polled.contact_ids())
            second_id = await start_export(hub, await create_plain_instance(hub, polled.url))
            second = await wait_for_bulk(hub, second_id, seconds=RECOVERY_SECONDS)
            timeline.mark("a new export completed")
            done = await wait_for_bulk(hub, export_id, seconds=RECOVERY_SECONDS)
            timeline.mark("the first export completed")
            records = await bulk_records(hub, export_id)
        await check_events(run, instances, changes.made)
        timeline.mark("events checked")
        alive = [worker.name for worker in run.alive()]
        counts = await job_counts(postgres_url)

    print(
        f"timeline (s): {timeline.marks}; the export at {at_restart['records']} of "
        f"{RESTART_EXPORT_SEED} records when the connections ({ended}) ended; jobs {counts}"
    )
    assert at_restart["records"] < RESTART_EXPORT_SEED, "meant to land mid-export"
    assert all(ended), ended
    assert alive == ["worker-1", "worker-2"], "a worker exited"
    check_export(records, RESTART_EXPORT_SEED)
    assert done["error"] is None
    assert (second["status"], second["records"]) == ("completed", at_vendor)
