"""Delivery throughput: signed batch deliveries per second to a local receiver, side by side
with a raw httpx loop posting the same batches.

Run: python bench/delivery_throughput.py [--batches N] [--events-per-batch N] [--rounds N]
    [--same-process]
A receiver (uvicorn on loopback, in a child process unless --same-process, as a real
receiver runs elsewhere) answers 204 to every POST. The hub's deliver job drains an
instance's queue of N recorded batches: for each, it reads the delivery with its body (the
CloudEvents batch encoded when the events were recorded), signs it, POSTs it through the
guarded transport, and records the attempt and the new state, a window of deliveries per
transaction (embedded SQLite). The raw loop posts the same bodies with one httpx client and
nothing else. Rounds alternate the two; the best round of each is kept. The goal is a ratio
of at least 0.8.

The hub posts through httpx's transport rather than an `httpx.AsyncClient` (a delivery
needs none of the client's redirect, cookie or auth handling), on its own network backend
(interlink/network_backend.py, asyncio's transports instead of anyio's streams); both
cost less CPU per POST than `client.post` on httpx's defaults. For a fair view of the
hub's own overhead, a third loop posts the same bodies through the hub's transport too,
and its ratio is printed as well.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.eventing.cloudevents import BATCH_CONTENT_TYPE, encode_batch
from interlink.eventing.delivery import register_delivery
from interlink.eventing.delivery.signing import new_signing_secret
from interlink.eventing.recorder import NewEvent, record_events
from interlink.eventing.task_names import DELIVER_TASK
from interlink.hub import Hub
from interlink.ids import new_id
from interlink.runtime import EmbeddedRuntime, TaskRegistry
from interlink.security.outbound import guarded_transport
from interlink.services.organizations import create_organization
from interlink.settings import Settings
from interlink.storage.migrate import migrate
from interlink.storage.models import Delivery, Event, Instance


async def _receive(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


RECEIVER = Starlette(routes=[Route("/hook", _receive, methods=["POST"])])


def _contact(n: int) -> dict[str, object]:
    return {
        "id": f"c{n}",
        "email": f"person{n}@example.com",
        "first_name": "Ada",
        "last_name": f"Lovelace {n}",
        "company_id": f"k{n % 97}",
        "phone": "+44 20 7946 0958",
        "created_at": "2024-05-01T10:00:00.000Z",
        "updated_at": "2024-05-01T10:00:00.000Z",
    }


async def _hub(data_dir: Path) -> Hub:
    settings = Settings(
        data_dir=data_dir,
        allow_private_networks=True,
        secret_key="bench-secret-key-0123456789-abcdefghijklmnop",
    )
    hub = Hub.from_settings(settings)
    registry = TaskRegistry()
    register_delivery(registry, hub)
    hub.runtime_ = EmbeddedRuntime(hub.database, registry)
    await migrate(hub.database)
    return hub


async def _instance(hub: Hub, callback_url: str) -> str:
    async with hub.database.transaction() as session:
        organization, _ = await create_organization(session, "bench")
        instance = Instance(
            id=new_id("inst"),
            organization_id=organization.id,
            element_key="sandbox",
            name="bench",
            config={},
            credentials=hub.secrets.encrypt_json({}),
            events={"enabled": False, "objects": ["contacts"], "callback_url": callback_url},
            signing_secret=hub.secrets.encrypt(new_signing_secret()),
            hook_token="bench",
        )
        session.add(instance)
    return instance.id


async def _record_batches(hub: Hub, instance_id: str, batches: int, size: int) -> list[bytes]:
    """`batches` deliveries of `size` events each; returns their bodies as delivered."""
    expected = []
    for batch in range(batches):
        changes = [
            NewEvent("contacts", f"c{n}", "updated", _contact(n), "2024-05-01T10:00:00Z", "poll")
            for n in range(batch * size, (batch + 1) * size)
        ]
        async with hub.database.transaction() as session:
            instance = await session.get(Instance, instance_id)
            assert instance is not None
            events = await record_events(session, instance, changes, hub.runtime)
        expected.append(encode_batch(events, "sandbox"))
    async with hub.database.transaction() as session:
        stored = await session.scalars(
            select(Delivery.payload)
            .where(Delivery.instance_id == instance_id)
            .order_by(Delivery.first_sequence)
        )
        bodies = [body for body in stored if body is not None]
    assert bodies == expected, "each delivery stores the CloudEvents batch of its events"
    return bodies


async def _hub_round(hub: Hub, url: str, batches: int, size: int) -> float:
    instance_id = await _instance(hub, url)
    await _record_batches(hub, instance_id, batches, size)
    started = time.perf_counter()
    await hub.runtime.run_until_idle()
    seconds = time.perf_counter() - started
    async with hub.database.transaction() as session:
        delivered = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.instance_id == instance_id, Delivery.status == "succeeded")
        )
        events = await session.scalar(
            select(func.count()).select_from(Event).where(Event.instance_id == instance_id)
        )
    assert delivered == batches, f"only {delivered} of {batches} deliveries succeeded"
    assert events == batches * size
    return batches / seconds


async def _raw_round(url: str, bodies: list[bytes]) -> float:
    headers = {"content-type": BATCH_CONTENT_TYPE}
    async with httpx.AsyncClient(timeout=15) as client:
        started = time.perf_counter()
        for body in bodies:
            response = await client.post(url, content=body, headers=headers)
            assert response.status_code == 204
        seconds = time.perf_counter() - started
    return len(bodies) / seconds


async def _transport_round(url: str, bodies: list[bytes]) -> float:
    """The same POSTs straight through the hub's transport (its network backend included),
    as the hub sends them."""
    headers = {"content-type": BATCH_CONTENT_TYPE}
    extensions = {"timeout": httpx.Timeout(15).as_dict()}
    async with guarded_transport(allow_private=True) as transport:
        started = time.perf_counter()
        for body in bodies:
            request = httpx.Request(
                "POST", url, headers=headers, content=body, extensions=extensions
            )
            response = await transport.handle_async_request(request)
            await response.aread()
            await response.aclose()
            assert response.status_code == 204
        seconds = time.perf_counter() - started
    return len(bodies) / seconds


async def _serve_receiver() -> None:
    """The child process: serve until the parent closes our stdin."""
    async with serving(RECEIVER) as base:
        print(base, flush=True)
        await asyncio.to_thread(sys.stdin.read)


@contextlib.asynccontextmanager
async def _receiver(same_process: bool) -> AsyncIterator[str]:
    if same_process:
        async with serving(RECEIVER) as base:
            yield base
        return
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--receiver",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        yield (await child.stdout.readline()).decode().strip()
    finally:
        child.stdin.close()
        await child.wait()


async def _bench(batches: int, size: int, rounds: int, same_process: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        hub = await _hub(Path(folder))
        try:
            async with _receiver(same_process) as base:
                url = f"{base}/hook"
                bodies = await _record_batches(hub, await _instance(hub, url), batches, size)
                await hub.runtime.run_until_idle()  # warm-up: delivers these once
                hub_rates, raw_rates, transport_rates = [], [], []
                for _ in range(rounds):
                    raw_rates.append(await _raw_round(url, bodies))
                    hub_rates.append(await _hub_round(hub, url, batches, size))
                    transport_rates.append(await _transport_round(url, bodies))
        finally:
            await hub.close()
    body_kib = sum(len(body) for body in bodies) / len(bodies) / 1024
    hub_best, raw_best, transport_best = max(hub_rates), max(raw_rates), max(transport_rates)
    where = "in this process" if same_process else "in a child process"
    print(f"{batches} batches of {size} events (~{body_kib:.0f} KiB each), best of {rounds},")
    print(f"receiver {where}:")
    print(f"  hub deliveries (read, sign, POST, record): {hub_best:8.1f} /s")
    print(f"  raw httpx loop (POST the same bodies):     {raw_best:8.1f} /s")
    print(f"  hub transport loop (same, no client):     {transport_best:8.1f} /s")
    print(f"  ratio hub / raw: {hub_best / raw_best:.2f}  (goal >= 0.8)")
    overhead = hub_best / transport_best
    print(f"  ratio hub / transport loop: {overhead:.2f}  (the hub's own overhead)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--events-per-batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--same-process", action="store_true", help="receiver in this process")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        asyncio.run(_serve_receiver())
        return
    assert DELIVER_TASK  # the job being measured
    asyncio.run(_bench(args.batches, args.events_per_batch, args.rounds, args.same_process))


if __name__ == "__main__":
    main()
