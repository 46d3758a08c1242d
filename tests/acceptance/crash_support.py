"""What the crash tests drive: `interlink` processes, a verifying receiver, the sandbox.

Processes write their output to a log file rather than a pipe: nothing to drain while the
test waits, nothing left open after a kill -9, and the log is there to read on failure.
The receiver runs in the test's event loop and checks every delivery as a customer would
(Standard Webhooks signature), keeping each post and each event it accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving

COMMAND = [sys.executable, "-m", "interlink"]
LISTENING = re.compile(r"listening on (http://\S+)")
SANDBOX_KEY = "crash-sandbox-key"
START_SECONDS = 60.0
STOP_SECONDS = 15.0
DRAIN_SECONDS = 30.0  # until the hub has nothing left to deliver
SETTLE_SECONDS = 3.0  # then a few more polls
BATCH_SIZE = 100  # the sandbox's batch endpoint takes at most this many inputs
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"

Change = tuple[str, str]  # (record id, "created" | "updated" | "deleted")


def clean_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This environment without any INTERLINK_* setting, plus the data folder and `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")}
    return {
        **env,
        "INTERLINK_DATA_DIR": str(data_dir),
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",  # the log holds everything written up to a kill -9
        **settings,
    }


# -- processes ----------------------------------------------------------------------------


@dataclass
class Started:
    """One `interlink` process, its log file and the URL it said it listens on."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    url: str = ""

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def output(self) -> str:
        return _read(self.log)

    async def kill(self) -> None:
        """kill -9, and reap it."""
        if self.running:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        """Ctrl+C, and kill -9 if it is not gone in time."""
        if self.running:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_SECONDS):
                    await self.process.wait()
        await self.kill()

    async def wait_listening(self) -> str:
        """Until it answers HTTP on the URL it printed (printed before the socket listens)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_SECONDS
        async with httpx.AsyncClient(timeout=5) as client:
            while loop.time() < deadline and self.running:
                match = LISTENING.search(self.output())
                if match:
                    with contextlib.suppress(httpx.TransportError):
                        await client.get(f"{match.group(1)}/healthz")
                        self.url = match.group(1)
                        return self.url
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} is not listening:\n{self.output()}")


class Processes:
    """Every process a test starts; on exit each one is stopped (or killed) and reaped."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[Started] = []

    async def start(self, name: str, *args: str, env: dict[str, str]) -> Started:
        """`interlink ARGS…` in the background, once it says it is listening."""
        log = self.folder / f"{len(self.started):02d}-{name}.log"
        with _log_file(log) as output:
            process = await asyncio.create_subprocess_exec(
                *COMMAND,
                *args,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started = Started(name, process, log)
        self.started.append(started)
        await started.wait_listening()
        return started

    async def close(self) -> None:
        await asyncio.gather(*(started.stop() for started in self.started))

    def logs(self) -> str:
        """Every process's output, for a failure message."""
        return "\n".join(f"--- {s.log.name}\n{s.output()[-6000:]}" for s in self.started)


@contextlib.asynccontextmanager
async def processes(folder: Path) -> AsyncIterator[Processes]:
    group = Processes(folder)
    try:
        yield group
    finally:
        await group.close()


async def run_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`interlink ARGS…` to its end (bounded), in a thread so the event loop runs on."""
    return await asyncio.to_thread(
        subprocess.run,
        [*COMMAND, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def create_org_key(env: dict[str, str]) -> str:
    result = await run_command("org", "create", "Crash", "--json", env=env)
    assert result.returncode == 0, result.stderr
    key: str = json.loads(result.stdout)["api_key"]
    return key


def _log_file(path: Path) -> BinaryIO:
    # Opening a local file for the child is instant; this keeps it out of the async code.
    return path.open("wb")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


# -- the receiver -------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    event_id: str
    type: str
    subject: str
    sequence: int
    webhook_id: str

    @property
    def change(self) -> Change:
        return self.subject, self.type.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Post:
    """One verified POST: its delivery's `webhook-id`, its events, what we answered."""

    webhook_id: str
    event_ids: tuple[str, ...]
    status: int


@dataclass
class Receiver:
    """Verifies every post with the instance's signing secret; keeps what it accepted.

    With `hold_first`, the first verified post is answered only after `release` is set or
    that many seconds have passed, and then refused (503): a delivery kept in flight.
    """

    hold_first: float = 0.0
    secret: str | None = None
    posts: list[Post] = field(default_factory=list)
    events: list[Received] = field(default_factory=list)
    refused: int = 0
    held: Post | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # a verified post came
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        try:
            if self.secret is None:
                raise WebhookVerificationError("no secret yet")
            Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.refused += 1
            return Response(status_code=401)
        if request.headers.get("content-type", "").split(";")[0].strip() != BATCH_CONTENT_TYPE:
            self.refused += 1
            return Response(status_code=415)
        webhook_id = request.headers["webhook-id"]
        batch: list[dict[str, Any]] = json.loads(body)
        event_ids = tuple(str(event["id"]) for event in batch)
        self.arrived.set()
        if self.hold_first and self.held is None:
            self.held = Post(webhook_id, event_ids, 503)
            self.posts.append(self.held)
            self.holding.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.hold_first):
                    await self.release.wait()
            return Response(status_code=503)
        self.posts.append(Post(webhook_id, event_ids, 204))
        self.events.extend(
            Received(
                str(event["id"]),
                str(event["type"]),
                str(event["subject"]),
                int(event["sequence"]),
                webhook_id,
            )
            for event in batch
        )
        return Response(status_code=204)

    def changes(self) -> set[Change]:
        return {event.change for event in self.events}

    def accepted(self) -> list[Post]:
        return [post for post in self.posts if post.status < 300]


async def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"waited {seconds:g} s in vain for {what}")
        await asyncio.sleep(0.1)


# -- the sandbox --------------------------------------------------------------------------


@dataclass
class SandboxApi:
    url: str
    client: httpx.AsyncClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SANDBOX_KEY}"}

    async def contact_ids(self) -> list[str]:
        ids: list[str] = []
        cursor: str | None = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            answer = await self.client.get(
                f"{self.url}/api/contacts", params=params, headers=self.headers
            )
            answer.raise_for_status()
            page = answer.json()
            ids += [str(record["id"]) for record in page["results"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids

    async def contacts(self) -> list[dict[str, Any]]:
        """Every contact the sandbox holds, whole, in `id` order."""
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            answer = await self.client.get(
                f"{self.url}/api/contacts", params=params, headers=self.headers
            )
            answer.raise_for_status()
            page = answer.json()
            records += page["results"]
            cursor = page["next_cursor"]
            if cursor is None:
                return records

    async def batch(self, action: str, inputs: list[dict[str, Any]]) -> list[str]:
        """Apply the inputs in batches (concurrently); the ids they touched, all succeeded."""

        async def one(chunk: list[dict[str, Any]]) -> list[str]:
            answer = await self.client.post(
                f"{self.url}/api/contacts/batch",
                json={"action": action, "inputs": chunk},
                headers=self.headers,
            )
            answer.raise_for_status()
            results = answer.json()["results"]
            failed = [result for result in results if result["status"] >= 300]
            assert not failed, failed
            return [str(result["id"]) for result in results]

        chunks = [inputs[i : i + BATCH_SIZE] for i in range(0, len(inputs), BATCH_SIZE)]
        touched = await asyncio.gather(*(one(chunk) for chunk in chunks))
        return [record_id for ids in touched for record_id in ids]

    async def change_contacts(
        self, existing: list[str], *, updates: int, deletes: int, creates: int, tag: str
    ) -> set[Change]:
        """Updates, deletes and creates, each record touched once; the changes expected."""
        assert updates + deletes <= len(existing)
        touched = existing[:updates]
        updated = await self.batch(
            "update", [{"id": record_id, "title": f"{tag} {record_id}"} for record_id in touched]
        )
        deleted = await self.batch(
            "delete", [{"id": record_id} for record_id in existing[updates : updates + deletes]]
        )
        created = await self.batch(
            "create",
            [
                {"email": f"{tag}-{n}@crash.example", "first_name": "Crash", "last_name": str(n)}
                for n in range(creates)
            ],
        )
        return {
            *((record_id, "updated") for record_id in updated),
            *((record_id, "deleted") for record_id in deleted),
            *((record_id, "created") for record_id in created),
        }


# -- the hub's API ------------------------------------------------------------------------


def hub_client(url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def instance_body(sandbox_url: str, callback_url: str) -> dict[str, Any]:
    return {
        "element": "sandbox",
        "name": "crash",
        "config": {"base_url": sandbox_url, "api_key": SANDBOX_KEY},
        "events": {
            "enabled": True,
            "mode": "polling",
            "objects": ["contacts"],
            "poll_interval_seconds": 1,
            "callback_url": callback_url,
            "initial": "baseline",
        },
    }


async def create_live_instance(
    hub: httpx.AsyncClient, sandbox_url: str, callback_url: str
) -> dict[str, Any]:
    """A polling instance on the sandbox's contacts, once its baseline is taken."""
    created = await hub.post("/v1/instances", json=instance_body(sandbox_url, callback_url))
    assert created.status_code == 201, created.text
    instance: dict[str, Any] = created.json()
    polled = await hub.post(f"/v1/instances/{instance['id']}/poll?wait=true", timeout=90)
    assert polled.status_code == 200, polled.text
    assert polled.json()["objects"]["contacts"]["state"] == "live", polled.text
    return instance


async def create_instance(hub: httpx.AsyncClient, sandbox_url: str) -> dict[str, Any]:
    """An instance on the sandbox without events (nothing polls it behind a test's back)."""
    body = {
        "element": "sandbox",
        "name": "crash",
        "config": {"base_url": sandbox_url, "api_key": SANDBOX_KEY},
    }
    created = await hub.post("/v1/instances", json=body)
    assert created.status_code == 201, created.text
    instance: dict[str, Any] = created.json()
    return instance


async def set_events_enabled(hub: httpx.AsyncClient, instance_id: str, enabled: bool) -> None:
    answer = await hub.patch(f"/v1/instances/{instance_id}", json={"events": {"enabled": enabled}})
    assert answer.status_code == 200, answer.text


async def stored_events(hub: httpx.AsyncClient, instance_id: str) -> list[dict[str, Any]]:
    """Every event the hub stored for the instance, in recording order."""
    events: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"limit": "100", **({"after": after} if after else {})}
        answer = await hub.get(f"/v1/instances/{instance_id}/events", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        events += page["data"]
        after = page["next_cursor"]
        if after is None:
            return events


async def unfinished_deliveries(hub: httpx.AsyncClient, instance_id: str) -> int:
    count = 0
    for status in ("pending", "failed"):
        answer = await hub.get(
            f"/v1/instances/{instance_id}/deliveries", params={"status": status, "limit": "100"}
        )
        assert answer.status_code == 200, answer.text
        count += len(answer.json()["data"])
    return count


async def settled_events(hub: httpx.AsyncClient, instance_id: str) -> list[dict[str, Any]]:
    """The instance's stored events once nothing is left to deliver, and still nothing after
    a few more polls (one that emitted something twice would show then)."""
    await _drained(hub, instance_id)
    await asyncio.sleep(SETTLE_SECONDS)
    await _drained(hub, instance_id)
    return await stored_events(hub, instance_id)


async def _drained(hub: httpx.AsyncClient, instance_id: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    while (left := await unfinished_deliveries(hub, instance_id)) > 0:
        assert loop.time() < deadline, f"{left} deliveries still unfinished"
        await asyncio.sleep(0.2)


def stored_bulk_job(data_dir: Path, job_id: str) -> dict[str, Any]:
    """A bulk job's row as the hub's SQLite database holds it (its checkpoint included),
    read directly: the API does not show the checkpoint. For failure messages and reports."""
    database = data_dir / "interlink.db"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM bulk_jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        return {}
    stored = dict(row)
    if isinstance(stored.get("checkpoint"), str):
        stored["checkpoint"] = json.loads(stored["checkpoint"])
    return stored


# -- the whole set-up ---------------------------------------------------------------------


@dataclass
class Rig:
    """A sandbox, `interlink serve` on its own data folder, the receiver, the org's key."""

    started: Processes
    receiver: Receiver
    callback_url: str
    sandbox: SandboxApi
    env: dict[str, str]
    key: str
    serve: Started

    def hub(self) -> httpx.AsyncClient:
        """A client of the hub as it runs now (each start listens on a new port)."""
        return hub_client(self.serve.url, self.key)

    async def restart(self) -> None:
        """`interlink serve` again, on the same data folder (after a kill)."""
        assert not self.serve.running
        self.serve = await self.started.start("serve", "serve", "--port", "0", env=self.env)


@contextlib.asynccontextmanager
async def rig(folder: Path, receiver: Receiver, *sandbox_options: str) -> AsyncIterator[Rig]:
    """Everything started; on the way out everything stopped, and the logs printed if the
    test failed."""
    async with (
        serving(receiver.app()) as receiver_url,
        processes(folder) as started,
        httpx.AsyncClient(timeout=30) as http,
    ):
        try:
            vendor = await started.start(
                "sandbox",
                *("sandbox", "--port", "0", "--api-key", SANDBOX_KEY, *sandbox_options),
                env=clean_env(folder / "sandbox"),
            )
            env = clean_env(folder / "hub", INTERLINK_ALLOW_PRIVATE_NETWORKS="true")
            key = await create_org_key(env)
            serve = await started.start("serve", "serve", "--port", "0", env=env)
            yield Rig(
                started,
                receiver,
                f"{receiver_url}/hook",
                SandboxApi(vendor.url, http),
                env,
                key,
                serve,
            )
        except BaseException:
            print(started.logs())
            raise
        finally:
            receiver.release.set()  # no handler left holding a post while the receiver stops


# -- what must hold -----------------------------------------------------------------------


def check_nothing_lost_or_doubled(
    received: Iterable[Received], accepted: Iterable[Post], expected: set[Change]
) -> None:
    """Every change has exactly one event id, and only the changes made have any; an event
    id means one event (type, subject, sequence) wherever it shows; sequences are unique;
    a webhook-id always carries the same events."""
    received = list(received)
    by_id: dict[str, set[tuple[str, str, int]]] = {}
    for event in received:
        by_id.setdefault(event.event_id, set()).add((event.type, event.subject, event.sequence))
    changed_twice = {eid: seen for eid, seen in by_id.items() if len(seen) > 1}
    assert not changed_twice, f"an event id arrived with different contents: {changed_twice}"

    ids_by_change: dict[Change, set[str]] = {}
    for event in received:
        ids_by_change.setdefault(event.change, set()).add(event.event_id)
    missing = expected - ids_by_change.keys()
    unexpected = ids_by_change.keys() - expected
    doubled = {change: ids for change, ids in ids_by_change.items() if len(ids) > 1}
    assert not missing, f"{len(missing)} changes never arrived, e.g. {sorted(missing)[:5]}"
    assert not unexpected, f"{len(unexpected)} events for no change, e.g. {sorted(unexpected)[:5]}"
    assert not doubled, f"{len(doubled)} changes got several event ids: {list(doubled.items())[:3]}"

    sequences: dict[int, set[str]] = {}
    for event_id, seen in by_id.items():
        for _, _, sequence in seen:
            sequences.setdefault(sequence, set()).add(event_id)
    shared = {sequence: ids for sequence, ids in sequences.items() if len(ids) > 1}
    assert not shared, f"distinct events share a sequence: {shared}"

    by_webhook_id: dict[str, set[tuple[str, ...]]] = {}
    for post in accepted:
        by_webhook_id.setdefault(post.webhook_id, set()).add(post.event_ids)
    varying = {wid: batches for wid, batches in by_webhook_id.items() if len(batches) > 1}
    assert not varying, f"a webhook-id came with different events: {varying}"


def check_stored_match_received(
    stored: list[dict[str, Any]], received: Iterable[Received], expected: set[Change]
) -> None:
    """The hub stored one event per change, and those are the events that arrived."""
    stored_changes = [(event["subject"], event["data"]["change"]) for event in stored]
    assert len(stored_changes) == len(set(stored_changes)), "a change was stored twice"
    assert set(stored_changes) == expected
    by_id = {event["id"]: (event["type"], event["subject"], event["sequence"]) for event in stored}
    received = list(received)
    for event in received:
        assert by_id.get(event.event_id) == (event.type, event.subject, event.sequence), event
    assert {event.event_id for event in received} == set(by_id)


def redelivered(received: Iterable[Received]) -> int:
    """How many events arrived again (the same id once more)."""
    received = list(received)
    return len(received) - len({event.event_id for event in received})
