"""What the distributed acceptance tests drive: one API process and `interlink worker`
processes on one PostgreSQL database, files in moto's S3, sandboxes, a receiver for many
instances.

Built on `crash_support` (processes logging to files, the sandbox's API, the checks). A
worker listens on no port: it counts as started once procrastinate logs that it runs. The
process running a job is the live worker whose log says it started that job (procrastinate
logs `Starting job <task>[<id>]`) while the queue says the job is 'doing'.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from moto.server import ThreadedMotoServer
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.sandbox.schema import SCHEMAS
from tests.acceptance.crash_support import (
    BATCH_CONTENT_TYPE,
    COMMAND,
    SANDBOX_KEY,
    START_SECONDS,
    Change,
    Post,
    Processes,
    Received,
    SandboxApi,
    Started,
    _log_file,
    clean_env,
    create_org_key,
    hub_client,
    processes,
    stored_events,
    unfinished_deliveries,
    wait_until,
)
from tests.files.helpers import S3_KEY, S3_REGION, s3_client

# What procrastinate logs once a worker runs (`interlink worker` listens on no port).
WORKER_READY = "Starting worker on queues"
SECRET_KEY = "distributed-acceptance-secret-key-0123456789"
S3_BUCKET_PREFIX = "interlink-distributed"


# -- moto's S3 ----------------------------------------------------------------------------


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Moto's S3 API on a free loopback port (a thread of this process)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def s3_bucket(endpoint: str) -> AsyncIterator[str]:
    """A new bucket; moto forgets everything on the way out."""
    name = f"{S3_BUCKET_PREFIX}-{uuid.uuid4().hex[:12]}"
    async with s3_client(endpoint) as client:
        await client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        async with httpx.AsyncClient() as http:
            (await http.post(f"{endpoint}/moto-api/reset")).raise_for_status()


async def s3_object_count(endpoint: str, bucket: str) -> int:
    async with s3_client(endpoint) as client:
        listed = await client.list_objects_v2(Bucket=bucket)
    return int(listed.get("KeyCount", 0))


def distributed_env(
    data_dir: Path, database_url: str, s3_endpoint: str, bucket: str
) -> dict[str, str]:
    """The settings every process of the deployment shares."""
    return clean_env(
        data_dir,
        INTERLINK_DATABASE_URL=database_url,
        INTERLINK_SECRET_KEY=SECRET_KEY,
        INTERLINK_FILE_STORE=f"s3://{bucket}/interlink",
        INTERLINK_ALLOW_PRIVATE_NETWORKS="true",
        AWS_ENDPOINT_URL=s3_endpoint,
        AWS_ACCESS_KEY_ID=S3_KEY,
        AWS_SECRET_ACCESS_KEY=S3_KEY,
        AWS_REGION=S3_REGION,
    )


# -- PostgreSQL, looked at directly ---------------------------------------------------------


def libpq_url(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


async def pg_rows(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """One query on a connection of its own (autocommit)."""
    async with await psycopg.AsyncConnection.connect(
        libpq_url(database_url), autocommit=True, connect_timeout=5
    ) as connection:
        cursor = await connection.execute(query, params)
        return await cursor.fetchall() if cursor.description else []


async def terminate_connections(database_url: str) -> int:
    """What a PostgreSQL restart does to its clients: every other session of the database
    ended. The number of sessions ended."""
    database = libpq_url(database_url).rsplit("/", 1)[1].split("?", 1)[0]
    rows = await pg_rows(
        database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        database,
    )
    return sum(1 for (ended,) in rows if ended)


async def doing(database_url: str, task_name: str) -> list[int]:
    """The ids of the jobs of `task_name` running now."""
    rows = await pg_rows(
        database_url,
        "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND task_name = %s ORDER BY id",
        task_name,
    )
    return [row[0] for row in rows]


async def job_counts(database_url: str) -> dict[str, int]:
    """Jobs by status, for reports."""
    rows = await pg_rows(
        database_url, "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status"
    )
    return {status: count for status, count in rows}


# -- the processes ------------------------------------------------------------------------


async def launch(group: Processes, name: str, *args: str, env: dict[str, str]) -> Started:
    """`interlink ARGS…` in the background, not waiting for anything (a worker listens on no
    port); stopped with the group."""
    log = group.folder / f"{len(group.started):02d}-{name}.log"
    with _log_file(log) as output:
        process = await asyncio.create_subprocess_exec(
            *COMMAND,
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    started = Started(name, process, log)
    group.started.append(started)
    return started


@dataclass
class Cluster:
    """The API process, the workers, the database, the org's key, the receiver, S3."""

    group: Processes
    env: dict[str, str]
    database_url: str
    api: Started
    key: str
    http: httpx.AsyncClient
    hooks: Hooks
    hooks_url: str  # an instance named N posts to hooks_url/N
    s3: str  # moto's endpoint
    bucket: str
    workers: list[Started] = field(default_factory=list)

    async def sandbox(self, name: str, *options: str) -> SandboxApi:
        return await start_sandbox(self.group, self.http, name, *options)

    def hub(self) -> httpx.AsyncClient:
        return hub_client(self.api.url, self.key)

    async def start_worker(self, name: str, concurrency: int) -> Started:
        """`interlink worker --concurrency N`, once its procrastinate worker runs."""
        started = await launch(
            self.group, name, "worker", "--concurrency", str(concurrency), env=self.env
        )
        self.workers.append(started)
        await wait_until(
            lambda: WORKER_READY in started.output() or not started.running,
            START_SECONDS,
            f"{name} to start",
        )
        assert started.running, f"{name} exited:\n{started.output()}"
        return started

    async def start_workers(self, count: int, concurrency: int) -> list[Started]:
        names = [f"worker-{len(self.workers) + n + 1}" for n in range(count)]
        return list(await asyncio.gather(*(self.start_worker(n, concurrency) for n in names)))

    def alive(self) -> list[Started]:
        return [worker for worker in self.workers if worker.running]

    async def running(self, task_name: str) -> list[tuple[int, Started]]:
        """(job id, process) of the jobs of `task_name` that our live workers run now: the
        job is 'doing' in the queue and the worker's log says it started it."""
        found = []
        for job_id in await doing(self.database_url, task_name):
            line = f"Starting job {task_name}[{job_id}]"
            owner = next((w for w in self.alive() if line in w.output()), None)
            if owner is not None:
                found.append((job_id, owner))
        return found


@contextlib.asynccontextmanager
async def deployment(folder: Path, database_url: str, hooks: Hooks) -> AsyncIterator[Cluster]:
    """Moto's S3 and a bucket, the receiver, the org made, the API started (`serve
    --no-workers`); everything stopped on the way out, the logs printed if the test
    failed. Sandboxes and workers are the test's to start."""
    with moto_server() as s3:
        async with (
            s3_bucket(s3) as bucket,
            hooks_serving(hooks) as hooks_url,
            processes(folder) as group,
            httpx.AsyncClient(timeout=30) as http,
        ):
            try:
                env = distributed_env(folder / "hub", database_url, s3, bucket)
                key, api = await asyncio.gather(
                    create_org_key(env),
                    group.start("api", "serve", "--port", "0", "--no-workers", env=env),
                )
                env["INTERLINK_PUBLIC_URL"] = api.url
                yield Cluster(
                    group, env, database_url, api, key, http, hooks, hooks_url, s3, bucket
                )
            except BaseException:
                print(group.logs())
                raise


async def start_sandbox(
    group: Processes, http: httpx.AsyncClient, name: str, *options: str
) -> SandboxApi:
    """`interlink sandbox OPTIONS…` on a free port, with its own (empty) data folder."""
    vendor = await group.start(
        name,
        *("sandbox", "--port", "0", "--api-key", SANDBOX_KEY, *options),
        env=clean_env(group.folder / name),
    )
    return SandboxApi(vendor.url, http)


def seeded_contact_ids(count: int) -> set[str]:
    """The ids `interlink sandbox --seed N` gives its N contacts (a prefix and a counter)."""
    prefix = SCHEMAS["contacts"].id_prefix
    return {f"{prefix}{number:012d}" for number in range(1, count + 1)}


# -- a receiver for many instances ----------------------------------------------------------


@dataclass
class Hooks:
    """`POST /hook/{name}`: each instance posts to its own name and is verified with its
    own signing secret. Keeps each name's accepted posts and events. Every verified post is
    answered after `delay` seconds, so that deliveries are in flight when a worker dies."""

    delay: float = 0.0
    secrets: dict[str, str] = field(default_factory=dict)
    posts: dict[str, list[Post]] = field(default_factory=dict)
    events: dict[str, list[Received]] = field(default_factory=dict)
    refused: int = 0

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook/{name}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        try:
            secret = self.secrets.get(name)
            if secret is None:
                raise WebhookVerificationError("no secret for this name")
            Webhook(secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.refused += 1
            return Response(status_code=401)
        if request.headers.get("content-type", "").split(";")[0].strip() != BATCH_CONTENT_TYPE:
            self.refused += 1
            return Response(status_code=415)
        if self.delay:
            await asyncio.sleep(self.delay)
        webhook_id = request.headers["webhook-id"]
        batch: list[dict[str, Any]] = json.loads(body)
        self.posts.setdefault(name, []).append(
            Post(webhook_id, tuple(str(event["id"]) for event in batch), 204)
        )
        self.events.setdefault(name, []).extend(
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

    def changes(self, name: str) -> set[Change]:
        return {event.change for event in self.events.get(name, [])}

    def event_count(self) -> int:
        return sum(len(events) for events in self.events.values())


@contextlib.asynccontextmanager
async def hooks_serving(hooks: Hooks) -> AsyncIterator[str]:
    """The receiver's base URL (`…/hook`)."""
    async with serving(hooks.app()) as url:
        yield f"{url}/hook"


# -- the hub's API ------------------------------------------------------------------------


async def create_polling_instance(
    hub: httpx.AsyncClient, run: Cluster, name: str, sandbox_url: str
) -> str:
    """A polling instance posting to `hooks_url/name`, live (its baseline taken)."""
    body = {
        "element": "sandbox",
        "name": name,
        "config": {"base_url": sandbox_url, "api_key": SANDBOX_KEY},
        "events": {
            "enabled": True,
            "mode": "polling",
            "objects": ["contacts"],
            "poll_interval_seconds": 1,
            "callback_url": f"{run.hooks_url}/{name}",
            "initial": "baseline",
        },
    }
    created = await hub.post("/v1/instances", json=body)
    assert created.status_code == 201, created.text
    instance: dict[str, Any] = created.json()
    run.hooks.secrets[name] = instance["events"]["signing_secret"]
    polled = await hub.post(f"/v1/instances/{instance['id']}/poll?wait=true", timeout=90)
    assert polled.status_code == 200, polled.text
    assert polled.json()["objects"]["contacts"]["state"] == "live", polled.text
    return str(instance["id"])


async def create_plain_instance(hub: httpx.AsyncClient, sandbox_url: str) -> str:
    body = {
        "element": "sandbox",
        "name": "export",
        "config": {"base_url": sandbox_url, "api_key": SANDBOX_KEY},
    }
    created = await hub.post("/v1/instances", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def start_export(hub: httpx.AsyncClient, instance_id: str) -> str:
    created = await hub.post(
        f"/v1/instances/{instance_id}/bulk/query",
        json={"q": "select * from contacts", "native": False},
    )
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


async def bulk_status(hub: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    answer = await hub.get(f"/v1/bulk/{job_id}")
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


async def wait_for_bulk(
    hub: httpx.AsyncClient, job_id: str, *, seconds: float, started: bool = False
) -> dict[str, Any]:
    """The job once it completed (or, with `started`, once it has written records)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        job = await bulk_status(hub, job_id)
        assert job["status"] in ("queued", "running", "completed"), f"the job failed: {job}"
        if job["status"] == "completed" or (started and job["records"] > 0):
            return job
        assert loop.time() < deadline, f"waited {seconds:g} s in vain for the export: {job}"
        await asyncio.sleep(0.1)


async def bulk_records(hub: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    """The export's file, downloaded (from S3, through the API) as NDJSON."""
    answer = await hub.get(
        f"/v1/bulk/{job_id}/file", headers={"Accept": "application/x-ndjson"}, timeout=120
    )
    assert answer.status_code == 200, answer.text[:2000]
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


async def drained(hub: httpx.AsyncClient, instance_ids: list[str], seconds: float) -> None:
    """Until no instance has a delivery left to make (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        left = await asyncio.gather(*(unfinished_deliveries(hub, i) for i in instance_ids))
        if not any(left):
            return
        assert loop.time() < deadline, f"deliveries still unfinished: {sum(left)}"
        await asyncio.sleep(0.5)


async def polling_instances(
    run: Cluster, prefix: str, count: int, sandbox_url: str
) -> dict[str, str]:
    """`count` live polling instances (made at once), by their receiver name."""
    names = [f"{prefix}{n:02d}" for n in range(count)]
    async with run.hub() as hub:
        ids = await asyncio.gather(
            *(create_polling_instance(hub, run, name, sandbox_url) for name in names)
        )
    return dict(zip(names, ids, strict=True))


async def all_stored_events(
    hub: httpx.AsyncClient, instance_ids: list[str]
) -> list[list[dict[str, Any]]]:
    return list(await asyncio.gather(*(stored_events(hub, i) for i in instance_ids)))
