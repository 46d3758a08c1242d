"""Detection latency: from a change at the Sandbox CRM to the signed event at a receiver, for
a polling instance and a webhook-mode instance, side by side with the poll interval.

Run: python bench/detection_latency.py [--changes 20] [--interval 2] [--latency-ms 50]
The sandbox runs in a child process (as a vendor runs elsewhere); the hub (`running_hub`:
API, job workers, poll scheduler, embedded SQLite) and the receiver (`serving`, verifying
every delivery's Standard Webhooks signature as a customer would) run here. Both instances
are created through the hub's API and watch `contacts`: one polls every `--interval`
seconds, the other has registered its webhook at the sandbox. Then `--changes` contacts are
updated one by one through the sandbox's HTTP API, at random gaps of 0.5 to 2 s so that they
fall anywhere in the poll cycle. A change's latency runs from its `updated_at` at the vendor
(the same host's clock, to the millisecond) to the moment its event reaches the receiver.

Goals: polling within the interval + 1 s; webhooks well under a second.
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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.hub import Hub
from interlink.sandbox import SandboxConfig, running_sandbox
from interlink.server import running_hub
from interlink.services.organizations import create_organization
from interlink.settings import Settings
from interlink.storage.models import Event

API_KEY = "bench-sandbox-key"
SEEDED_CONTACTS = 200
SETUP_TIMEOUT_SECONDS = 30.0


@dataclass
class Receiver:
    """Verifies every delivery and notes when each event arrived, by (instance, title)."""

    secrets: dict[str, str] = field(default_factory=dict)
    arrivals: dict[tuple[str, str], float] = field(default_factory=dict)
    refused: int = 0

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        arrived = time.time()
        batch: list[dict[str, Any]] = json.loads(body)
        instance_id = str(batch[0]["source"]).rsplit("/", 1)[-1] if batch else ""
        try:
            Webhook(self.secrets[instance_id]).verify(body, dict(request.headers))
        except (KeyError, WebhookVerificationError):
            self.refused += 1
            return Response(status_code=401)
        for event in batch:
            title = ((event.get("data") or {}).get("record") or {}).get("title")
            if isinstance(title, str):
                self.arrivals.setdefault((instance_id, title), arrived)
        return Response(status_code=204)


# -- the vendor's process -----------------------------------------------------------------


async def _serve_vendor(latency_ms: float) -> None:
    """The child process: serve until the parent closes our stdin."""
    config = SandboxConfig(api_key=API_KEY, seed=SEEDED_CONTACTS, latency_ms=latency_ms)
    async with running_sandbox(config) as sandbox:
        print(sandbox.url, flush=True)
        await asyncio.to_thread(sys.stdin.read)


@contextlib.asynccontextmanager
async def _vendor(latency_ms: float) -> AsyncIterator[str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--vendor",
        f"--latency-ms={latency_ms}",
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


# -- the run ------------------------------------------------------------------------------


async def _create_instance(
    api: httpx.AsyncClient, vendor_url: str, callback_url: str, events: dict[str, Any]
) -> dict[str, Any]:
    response = await api.post(
        "/v1/instances",
        json={
            "element": "sandbox",
            "name": f"bench-{events['mode']}",
            "config": {"base_url": vendor_url, "api_key": API_KEY},
            "events": {
                "enabled": True,
                "objects": ["contacts"],
                "callback_url": callback_url,
                **events,
            },
        },
    )
    response.raise_for_status()
    instance: dict[str, Any] = response.json()
    return instance


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + SETUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


async def _recorded(hub: Hub) -> dict[tuple[str, str], float]:
    """When the hub stored each event (its own clock), by (instance, title)."""
    async with hub.database.transaction() as session:
        rows = await session.execute(select(Event.instance_id, Event.record, Event.recorded_at))
        return {
            (instance_id, record["title"]): recorded_at.timestamp()
            for instance_id, record, recorded_at in rows
            if record and isinstance(record.get("title"), str)
        }


async def _make_changes(
    vendor: httpx.AsyncClient, count: int, draw: random.Random
) -> dict[str, float]:
    """Update `count` contacts one by one; each change's title and its vendor time."""
    listed = await vendor.get("/api/contacts", params={"limit": count})
    listed.raise_for_status()
    changed: dict[str, float] = {}
    for number, record in enumerate(listed.json()["results"][:count]):
        await asyncio.sleep(draw.uniform(0.5, 2.0))
        title = f"bench change {number}"
        response = await vendor.patch(f"/api/contacts/{record['id']}", json={"title": title})
        response.raise_for_status()
        updated = response.json()["updated_at"].replace("Z", "+00:00")
        changed[title] = datetime.fromisoformat(updated).timestamp()
    return changed


async def _bench(changes: int, interval: int, latency_ms: float) -> None:
    receiver = Receiver()
    draw = random.Random(11)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            data_dir=Path(folder),
            allow_private_networks=True,  # vendor, hub and receiver are all on loopback
            secret_key="bench-secret-key-0123456789-abcdefghijklmnop",
        )
        async with (
            _vendor(latency_ms) as vendor_url,
            running_hub(settings) as hub,
            serving(receiver.app()) as receiver_url,
        ):
            async with hub.hub.database.transaction() as session:
                _, key = await create_organization(session, "bench")
            async with (
                httpx.AsyncClient(
                    base_url=hub.url,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                    trust_env=False,
                ) as api,
                httpx.AsyncClient(
                    base_url=vendor_url,
                    headers={"Authorization": f"Bearer {API_KEY}"},
                    timeout=30,
                    trust_env=False,
                ) as vendor,
            ):
                callback = f"{receiver_url}/hook"
                every = {"mode": "polling", "poll_interval_seconds": interval}
                polling = await _create_instance(api, vendor_url, callback, every)
                webhook = await _create_instance(api, vendor_url, callback, {"mode": "webhook"})
                names = {polling["id"]: "polling", webhook["id"]: "webhook"}
                for instance in (polling, webhook):
                    receiver.secrets[instance["id"]] = instance["events"]["signing_secret"]
                baseline = await api.post(
                    f"/v1/instances/{polling['id']}/poll", params={"wait": "true"}
                )
                baseline.raise_for_status()

                async def subscribed() -> bool:
                    return bool((await vendor.get("/api/webhooks")).json().get("results"))

                await _until(subscribed, "the webhook registration at the sandbox")
                await asyncio.sleep(interval)  # the polling instance in its usual rhythm
                changed = await _make_changes(vendor, changes, draw)

                async def all_arrived() -> bool:
                    return len(receiver.arrivals) >= 2 * len(changed)

                with contextlib.suppress(RuntimeError):
                    await _until(all_arrived, "the last events")
                recorded = await _recorded(hub.hub)
    _report(names, changed, recorded, receiver, interval, latency_ms)


def _report(
    names: dict[str, str],
    changed: dict[str, float],
    recorded: dict[tuple[str, str], float],
    receiver: Receiver,
    interval: int,
    latency_ms: float,
) -> None:
    print(
        f"{len(changed)} contact updates through the sandbox API ({latency_ms:g} ms latency), "
        f"poll_interval_seconds {interval}"
    )
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(
        "latency from the vendor's updated_at to the event at the receiver "
        "(stored: to the event stored by the hub; sent: from stored to received)"
    )
    print(
        f"{'mode':8} {'events':>6} {'median':>7} {'p95':>7} {'max':>7} | {'stored med':>10} "
        f"{'stored max':>10} {'sent med':>8} {'sent max':>8} | goal"
    )
    for instance_id, mode in names.items():
        arrived = {
            title: receiver.arrivals[(instance_id, title)] - at
            for title, at in changed.items()
            if (instance_id, title) in receiver.arrivals
        }
        goal = interval + 1.0 if mode == "polling" else 1.0
        if not arrived:
            print(f"{mode:8} {0:6d}  no event arrived")
            continue
        stored = [recorded[(instance_id, title)] - changed[title] for title in arrived]
        sent = [
            receiver.arrivals[(instance_id, title)] - recorded[(instance_id, title)]
            for title in arrived
        ]
        seconds = list(arrived.values())
        worst = max(seconds)
        verdict = "met" if worst <= goal and len(seconds) == len(changed) else "NOT met"
        print(
            f"{mode:8} {len(seconds):6d} {statistics.median(seconds):6.2f}s "
            f"{_p95(seconds):6.2f}s {worst:6.2f}s | {statistics.median(stored):9.2f}s "
            f"{max(stored):9.2f}s {statistics.median(sent):7.2f}s {max(sent):7.2f}s | "
            f"max <= {goal:g} s: {verdict}"
        )
    if receiver.refused:
        print(f"{receiver.refused} deliveries refused (bad signature)")


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--interval", type=int, default=2, help="poll_interval_seconds")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the sandbox's")
    parser.add_argument("--vendor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vendor:
        asyncio.run(_serve_vendor(args.latency_ms))
        return
    asyncio.run(_bench(args.changes, args.interval, args.latency_ms))


if __name__ == "__main__":
    main()
