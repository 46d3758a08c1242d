"""Bulk export throughput: a query job's records per second, side by side with a raw httpx
loop paging the same sandbox, the sandbox's native export, and dlt's rest_api source.

Run: python bench/bulk_export.py [--records 100000,1000000] [--latency-ms 0] [--skip-dlt]
    [--repeat 1] [--timeout 600] [--json]
For each record count, the Sandbox CRM runs in a child process (`interlink sandbox --seed N`,
N contacts) and so does a fresh hub (`interlink serve`, embedded SQLite and file store in a
temporary INTERLINK_DATA_DIR, its organization made first by `interlink org create --json`),
so the hub's CPU time (utime + stime from /proc/<pid>/stat) and peak RSS (VmHWM from
/proc/<pid>/status, reset through /proc/<pid>/clear_refs before each path where the kernel
allows it) are its own. Against the same seeded sandbox, in this order:

  raw       an httpx loop here: GET /api/contacts?limit=100&cursor=... to the end, each
            page's `results` written as NDJSON lines (orjson) to a local file. The practical
            limit of paging this vendor from one process.
  paging    POST /v1/instances/{id}/bulk/query {"q": "select * from contacts",
            "native": false, "callback_url": ...}: wall time from the POST to the arrival
            of the job's completion callback (the `bulk.completed` CloudEvent, its signature
            checked with the instance's secret) at a loopback receiver in this process.
            The hub posts it once the job's completed status is committed, so this is the
            POST-to-completed time plus the callback's delivery, which is reported (the
            "cb ms" column: arrival minus the job's finished_at, one clock). Polling the
            status instead (every 0.2 s, before) added up to a poll interval to a run of
            under 2 s, and polling much faster costs the hub the CPU it is measured on.
            GET /v1/bulk/{id} once a second meanwhile only enforces --timeout.
  native    the same with "native": true (the sandbox's POST /api/exports, poll, NDJSON).
  dlt       dlt's rest_api source (cursor paginator: `next_cursor` in the body, `cursor`
            query parameter, limit=100, bearer auth) into the filesystem destination as
            JSONL (uncompressed, like the others) in a temporary folder, in this process:
            the wall time of pipeline.run (extract, normalize, load).

Every path must end with exactly N records (the hub's files are downloaded and their lines
counted after the timing). With --repeat N, raw, paging and native run N times in turn
(dlt once, at the end) and each path reports its median run; a ratio is the median of
the repetitions' own ratios, each printed beside it, since on a shared 2-core machine the
speed of the same loop varies by a quarter from one run to the next. The hub is started
once per record count, so only its first job is a fresh hub's. Goals: paging / raw >= 0.9,
paging / dlt >= 2, and the hub's peak RSS flat from 100k to 1M records. The sandbox
element's rate limit (`rate_limit` in src/interlink/elements/builtin/sandbox.yaml, read
here from the element definition: 1000 requests/s when this was written) times its pages
of 100 caps any hub paging (then 100,000 records/s; the report prints the cap); the raw
loop and dlt have no such budget.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from standardwebhooks.webhooks import Webhook

from interlink.elements.catalog import builtin_elements

API_KEY = "bench-sandbox-key"
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnop"
PAGE_SIZE = 100
# How often the status is read while waiting for the completion callback (for --timeout).
POLL_SECONDS = 1.0
# A job the status says is finished whose callback has not arrived after this long fails.
CALLBACK_GRACE_SECONDS = 30.0
START_TIMEOUT_SECONDS = 120.0  # seeding a million contacts takes ~6 s alone
STOP_TIMEOUT_SECONDS = 20.0
DLT_MISSING = "dlt: not installed (pip install '.[bench]')"


@dataclass
class PathResult:
    path: str
    seconds: float
    records: int
    cpu_seconds: float  # the process doing the work: the hub's, or this one for raw and dlt
    vendor_cpu_seconds: float
    peak_rss_mb: float | None = None  # the hub's, for the hub's paths
    job_seconds: float | None = None  # the job's own started_at -> finished_at
    callback_lag_seconds: float | None = None  # the callback's arrival after finished_at
    file_lines: int | None = None
    file_seconds: float | None = None
    download_peak_rss_mb: float | None = None  # the hub's VmHWM once the file was downloaded

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclass
class Round:
    records: int
    seed_seconds: float
    hub_start_rss_mb: float = 0.0
    hub_peak_rss_mb: float = 0.0  # over the hub's paths, their downloads included
    paths: dict[str, PathResult] = field(default_factory=dict)  # each path's median run
    runs: dict[str, list[PathResult]] = field(default_factory=dict)  # every run, in order
    notes: list[str] = field(default_factory=list)

    def add(self, result: PathResult) -> None:
        runs = self.runs.setdefault(result.path, [])
        runs.append(result)
        self.paths[result.path] = sorted(runs, key=lambda run: run.seconds)[(len(runs) - 1) // 2]


def _element_cap() -> float:
    """Records a second the sandbox element's rate limit lets a hub page: its budget for
    this vendor (sandbox.yaml's rate_limit), in pages a second, times the page size."""
    limit = builtin_elements()["sandbox"].rate_limit
    return limit.requests / limit.per_seconds * PAGE_SIZE


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- child processes ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all threads, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_mb(pid: int, key: str) -> float:
    """VmHWM (peak) or VmRSS (now) from /proc/<pid>/status, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: "5" into clear_refs); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextlib.asynccontextmanager
async def _child(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process logging to `log`; interrupted (then killed) on the way out."""
    with log.open("wb") as output:
        child = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output, env=env
        )
    try:
        yield child
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(child.wait(), STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                child.kill()
                await child.wait()


async def _wait_ready(
    child: asyncio.subprocess.Process, log: Path, ready: Callable[[], Any]
) -> None:
    deadline = time.perf_counter() + START_TIMEOUT_SECONDS
    while True:
        if child.returncode is not None:
            raise RuntimeError(f"{log.name} exited early:\n{_tail(log)}")
        with contextlib.suppress(OSError, httpx.HTTPError):
            if await ready():
                return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{log.name} not ready after {START_TIMEOUT_SECONDS:g} s")
        await asyncio.sleep(0.1)


def _count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Sandbox:
    url: str
    pid: int


@contextlib.asynccontextmanager
async def _sandbox(records: int, latency_ms: float, folder: Path) -> AsyncIterator[Sandbox]:
    port = _free_port()
    argv = [sys.executable, "-m", "interlink", "sandbox", f"--seed={records}", f"--port={port}"]
    argv += [f"--api-key={API_KEY}", f"--latency-ms={latency_ms}"]
    log = folder / "sandbox.log"
    async with _child(argv, log) as child:

        async def ready() -> bool:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return True

        await _wait_ready(child, log, ready)
        yield Sandbox(f"http://127.0.0.1:{port}", child.pid)


@dataclass
class HubProcess:
    url: str
    pid: int
    api_key: str


@contextlib.asynccontextmanager
async def _hub(folder: Path) -> AsyncIterator[HubProcess]:
    env = dict(os.environ)
    env.update(
        INTERLINK_DATA_DIR=str(folder / "data"),
        INTERLINK_ALLOW_PRIVATE_NETWORKS="true",
        INTERLINK_SECRET_KEY=SECRET_KEY,
    )
    env.pop("INTERLINK_DATABASE_URL", None)
    env.pop("INTERLINK_FILE_STORE", None)
    made = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "interlink",
        "org",
        "create",
        "bench",
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await made.communicate()
    if made.returncode != 0:
        raise RuntimeError(f"interlink org create failed:\n{err.decode()}")
    api_key = json.loads(out.decode().strip().splitlines()[-1])["api_key"]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "hub.log"
    argv = [sys.executable, "-m", "interlink", "serve", f"--port={port}"]
    async with (
        _child(argv, log, env) as child,
        httpx.AsyncClient(base_url=url, trust_env=False) as client,
    ):

        async def ready() -> bool:
            return (await client.get("/healthz")).status_code == 200

        await _wait_ready(child, log, ready)
        yield HubProcess(url, child.pid, api_key)


@dataclass
class Callback:
    arrived: float  # time.perf_counter() once its body was read
    arrived_at: datetime  # the same moment on the wall clock (UTC), for its lag
    body: bytes
    headers: dict[str, str]


class CallbackReceiver:
    """A loopback HTTP/1.1 server taking the hub's completion callbacks, by job id."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._arrivals: dict[str, asyncio.Future[Callback]] = {}
        self.url = ""

    async def __aenter__(self) -> CallbackReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/callbacks"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def arrival(self, job_id: str) -> asyncio.Future[Callback]:
        """Resolved when the callback of `job_id` arrives (or already has)."""
        if job_id not in self._arrivals:
            self._arrivals[job_id] = asyncio.get_running_loop().create_future()
        return self._arrivals[job_id]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            callback = Callback(time.perf_counter(), datetime.now(UTC), body, headers)
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
        job_id = str(orjson.loads(body).get("subject", ""))
        arrival = self.arrival(job_id)
        if not arrival.done():  # a retried callback keeps the first arrival
            arrival.set_result(callback)


# -- the paths ----------------------------------------------------------------------------


async def _raw(sandbox: Sandbox, target: Path) -> PathResult:
    """Page through the sandbox's contacts, writing each page's records as NDJSON."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    records = 0
    vendor_cpu = _cpu_seconds(sandbox.pid)
    cpu, started = time.process_time(), time.perf_counter()
    async with httpx.AsyncClient(
        base_url=sandbox.url, headers=headers, trust_env=False, timeout=60
    ) as client:
        with target.open("wb") as output:
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": PAGE_SIZE}
                if cursor:
                    params["cursor"] = cursor
                response = await client.get("/api/contacts", params=params)
                response.raise_for_status()
                page = orjson.loads(response.content)
                results = page["results"]
                output.write(b"".join(orjson.dumps(record) + b"\n" for record in results))
                records += len(results)
                cursor = page.get("next_cursor")
                if not cursor:
                    break
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return PathResult("raw", seconds, records, cpu, _cpu_seconds(sandbox.pid) - vendor_cpu)


@dataclass
class HubInstance:
    id: str
    signing_secret: str  # checks the signature of the completion callbacks


async def _instance(client: httpx.AsyncClient, sandbox: Sandbox) -> HubInstance:
    response = await client.post(
        "/v1/instances",
        json={
            "element": "sandbox",
            "name": "bench",
            "config": {"base_url": sandbox.url, "api_key": API_KEY},
        },
    )
    response.raise_for_status()
    made = response.json()
    return HubInstance(str(made["id"]), str(made["events"]["signing_secret"]))


async def _interlink(
    client: httpx.AsyncClient,
    hub: HubProcess,
    sandbox: Sandbox,
    instance: HubInstance,
    receiver: CallbackReceiver,
    *,
    native: bool,
    limit_seconds: float,
    notes: list[str],
) -> PathResult:
    name = "native" if native else "paging"
    if not _reset_peak(hub.pid):
        notes.append("VmHWM could not be reset: peak RSS is the hub's since it started")
    hub_cpu, vendor_cpu = _cpu_seconds(hub.pid), _cpu_seconds(sandbox.pid)
    started = time.perf_counter()
    response = await client.post(
        f"/v1/instances/{instance.id}/bulk/query",
        json={"q": "select * from contacts", "native": native, "callback_url": receiver.url},
    )
    response.raise_for_status()
    job_id = response.json()["id"]
    arrival = receiver.arrival(job_id)
    finished_seen: float | None = None
    while True:
        try:
            callback = await asyncio.wait_for(asyncio.shield(arrival), POLL_SECONDS)
            break
        except TimeoutError:
            pass
        response = await client.get(f"/v1/bulk/{job_id}")
        response.raise_for_status()
        job = response.json()
        now = time.perf_counter()
        if job["status"] in ("completed", "failed", "cancelled"):
            finished_seen = finished_seen or now
            if now - finished_seen > CALLBACK_GRACE_SECONDS:
                raise RuntimeError(f"{name}: job {job['status']}, but no callback arrived")
        elif now - started > limit_seconds:
            await client.post(f"/v1/bulk/{job_id}/cancel")
            raise RuntimeError(
                f"{name}: not completed after {limit_seconds:g} s ({job['records']} records)"
            )
    seconds = callback.arrived - started
    hub_cpu, vendor_cpu = _cpu_seconds(hub.pid) - hub_cpu, _cpu_seconds(sandbox.pid) - vendor_cpu
    peak = _memory_mb(hub.pid, "VmHWM")
    event = Webhook(instance.signing_secret).verify(callback.body, callback.headers)
    if event["type"] != "bulk.completed" or event["subject"] != job_id:
        raise RuntimeError(f"{name}: callback {event['type']} for {event['subject']}")
    job = event["data"]
    if job["status"] != "completed":
        raise RuntimeError(f"{name}: job {job['status']}: {job['error']}")
    if bool(job["native"]) != native:
        notes.append(f"{name}: the job ran with native={job['native']}")
    result = PathResult(name, seconds, int(job["records"]), hub_cpu, vendor_cpu, peak)
    if job["started_at"] and job["finished_at"]:
        result.job_seconds = (
            datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
        ).total_seconds()
        result.callback_lag_seconds = (
            callback.arrived_at - datetime.fromisoformat(job["finished_at"])
        ).total_seconds()
    # Not timed: the file holds what the status says.
    lines, download = 0, time.perf_counter()
    headers = {"Accept": "application/x-ndjson"}
    async with client.stream("GET", f"/v1/bulk/{job_id}/file", headers=headers) as streamed:
        streamed.raise_for_status()
        async for chunk in streamed.aiter_bytes():
            lines += chunk.count(b"\n")
    result.file_lines, result.file_seconds = lines, time.perf_counter() - download
    result.download_peak_rss_mb = _memory_mb(hub.pid, "VmHWM")
    return result


def _dlt(sandbox: Sandbox, folder: Path) -> PathResult | None:
    """dlt's rest_api source into the filesystem destination, JSONL; None without dlt."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")
    try:
        import dlt
        from dlt.sources.rest_api import rest_api_source
    except ImportError:
        return None
    source = rest_api_source(
        {
            "client": {
                "base_url": f"{sandbox.url}/",
                "auth": {"type": "bearer", "token": API_KEY},
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "next_cursor",
                    "cursor_param": "cursor",
                },
            },
            "resources": [
                {
                    "name": "contacts",
                    "write_disposition": "append",
                    "endpoint": {
                        "path": "api/contacts",
                        "params": {"limit": PAGE_SIZE},
                        "data_selector": "results",
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_bulk_export",
        pipelines_dir=str(folder / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(folder / "out").as_uri()),
        dataset_name="sandbox",
        progress=None,
    )
    vendor_cpu = _cpu_seconds(sandbox.pid)
    cpu, started = time.process_time(), time.perf_counter()
    pipeline.run(source, loader_file_format="jsonl")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    trace = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
    records = int(counts.get("contacts", 0))
    lines = sum(_count_lines(path) for path in (folder / "out").rglob("contacts/*.jsonl"))
    result = PathResult("dlt", seconds, records, cpu, _cpu_seconds(sandbox.pid) - vendor_cpu)
    result.file_lines = lines
    return result


# -- one record count ---------------------------------------------------------------------


async def _round(records: int, args: argparse.Namespace) -> Round:
    with tempfile.TemporaryDirectory(prefix="bench-bulk-export-") as name:
        folder = Path(name)
        _log(f"[{records:,}] seeding the sandbox ...")
        seeding = time.perf_counter()
        async with _sandbox(records, args.latency_ms, folder) as sandbox:
            measured = Round(records, time.perf_counter() - seeding)
            _log(f"[{records:,}] seeded in {measured.seed_seconds:.1f} s")
            async with _hub(folder) as hub:
                measured.hub_start_rss_mb = _memory_mb(hub.pid, "VmRSS")
                headers = {"Authorization": f"Bearer {hub.api_key}"}
                async with (
                    httpx.AsyncClient(
                        base_url=hub.url, headers=headers, trust_env=False, timeout=60
                    ) as client,
                    CallbackReceiver() as receiver,
                ):
                    instance = await _instance(client, sandbox)
                    # Side by side: each repetition runs the raw loop and then the hub's
                    # jobs, so a ratio compares runs made moments apart on this machine.
                    for repetition in range(1, args.repeat + 1):
                        _log(f"[{records:,}] #{repetition} raw httpx loop ...")
                        raw = await asyncio.wait_for(
                            _raw(sandbox, folder / "raw.ndjson"), args.timeout
                        )
                        raw.file_lines = _count_lines(folder / "raw.ndjson")
                        (folder / "raw.ndjson").unlink()
                        measured.add(raw)
                        for native in (False, True):
                            name = "native" if native else "paging"
                            _log(f"[{records:,}] #{repetition} interlink {name} ...")
                            result = await _interlink(
                                client,
                                hub,
                                sandbox,
                                instance,
                                receiver,
                                native=native,
                                limit_seconds=args.timeout,
                                notes=measured.notes,
                            )
                            measured.add(result)
                measured.hub_peak_rss_mb = max(
                    path.download_peak_rss_mb or 0.0
                    for runs in measured.runs.values()
                    for path in runs
                )
            if args.skip_dlt:
                measured.notes.append("dlt: skipped (--skip-dlt)")
            else:
                _log(f"[{records:,}] dlt rest_api -> filesystem ...")
                result = await asyncio.wait_for(
                    asyncio.to_thread(_dlt, sandbox, folder / "dlt"), args.timeout
                )
                if result is None:
                    measured.notes.append(DLT_MISSING)
                    _log(DLT_MISSING)
                else:
                    measured.add(result)
    for path in (run for runs in measured.runs.values() for run in runs):
        for count in (path.records, path.file_lines):
            if count is not None and count != records:
                measured.notes.append(f"{path.path}: {count:,} records, expected {records:,}")
    return measured


# -- the report ---------------------------------------------------------------------------


def _ratios(measured: Round, top: str, bottom: str) -> list[float]:
    """`top`'s speed over `bottom`'s: for each repetition where both ran in every one,
    otherwise (dlt runs once) of their median runs."""
    tops, bottoms = measured.runs.get(top, []), measured.runs.get(bottom, [])
    if not tops or not bottoms:
        return []
    if len(tops) != len(bottoms):
        tops, bottoms = [measured.paths[top]], [measured.paths[bottom]]
    return [
        above.per_second / below.per_second
        for above, below in zip(tops, bottoms, strict=True)
        if below.per_second
    ]


def _ratio(measured: Round, top: str, bottom: str) -> float | None:
    """The median of `_ratios`."""
    ratios = sorted(_ratios(measured, top, bottom))
    return ratios[(len(ratios) - 1) // 2] if ratios else None


RATIOS = (
    ("paging/raw", "paging", "raw", ">= 0.9"),
    ("paging/dlt", "paging", "dlt", ">= 2"),
    ("native/paging", "native", "paging", ""),
)
LABELS = {
    "raw": "raw httpx loop (this process)",
    "paging": "interlink paging (hub)",
    "native": "interlink native (hub)",
    "dlt": "dlt rest_api -> jsonl (this proc)",
}


def _table(measured: Round, latency_ms: float) -> None:
    repeated = max(len(runs) for runs in measured.runs.values())
    print(
        f"\n{measured.records:,} contacts, sandbox latency {latency_ms:g} ms "
        f"(seeded in {measured.seed_seconds:.1f} s); hub RSS at start "
        f"{measured.hub_start_rss_mb:.0f} MB"
        + (f"; median runs of {repeated}, ratios [by repetition]" if repeated > 1 else "")
    )
    print(
        f"{'path':34} {'seconds':>8} {'records/s':>10} {'CPU s':>7} {'vendor CPU':>10} "
        f"{'peak RSS':>9} {'job s':>7} {'cb ms':>6}"
    )
    for name, label in LABELS.items():
        path = measured.paths.get(name)
        if path is None:
            continue
        peak = f"{path.peak_rss_mb:6.0f} MB" if path.peak_rss_mb is not None else ""
        job = f"{path.job_seconds:7.2f}" if path.job_seconds is not None else ""
        lag = path.callback_lag_seconds
        callback = f"{lag * 1000:6.0f}" if lag is not None else ""
        print(
            f"{label:34} {path.seconds:8.2f} {path.per_second:10,.0f} {path.cpu_seconds:7.2f} "
            f"{path.vendor_cpu_seconds:10.2f} {peak:>9} {job:>7} {callback:>6}"
        )
    shown = []
    for label, top, bottom, goal in RATIOS:
        value = _ratio(measured, top, bottom)
        text = f"{value:.2f}" if value is not None else "n/a"
        each = _ratios(measured, top, bottom)
        if len(each) > 1:
            text += f" [{' '.join(f'{ratio:.2f}' for ratio in each)}]"
        shown.append(f"{label} {text}" + (f" (goal {goal})" if goal else ""))
    print("ratios: " + ", ".join(shown))
    print(f"hub peak RSS over the round (downloads included): {measured.hub_peak_rss_mb:.0f} MB")
    for note in measured.notes:
        print(f"note: {note}")


def _report(rounds: list[Round], args: argparse.Namespace, load: tuple[str, str]) -> None:
    if args.json:
        document = {
            "latency_ms": args.latency_ms,
            "load_average": {"start": load[0], "end": load[1]},
            "element_cap_records_per_second": _element_cap(),
            "rounds": [
                {
                    **{
                        key: value
                        for key, value in asdict(measured).items()
                        if key not in ("paths", "runs")
                    },
                    "paths": {
                        name: {**asdict(path), "records_per_second": path.per_second}
                        for name, path in measured.paths.items()
                    },
                    "runs": {
                        name: [asdict(run) for run in runs] for name, runs in measured.runs.items()
                    },
                    "ratios": {
                        label: _ratio(measured, top, bottom) for label, top, bottom, _ in RATIOS
                    },
                }
                for measured in rounds
            ],
        }
        print(json.dumps(document, indent=2))
        return
    print(f"load average at start: {load[0]}, at end: {load[1]}")
    print(
        "CPU s: the hub's process for its paths, this process for raw and dlt; "
        "vendor CPU: the sandbox's.\npeak RSS: the hub's VmHWM during the path. "
        "job s: the job's own started_at -> finished_at.\ncb ms: the completion callback's "
        "arrival after the job's finished_at (part of the hub's seconds)."
    )
    print(f"the sandbox element's rate limit caps hub paging at {_element_cap():,.0f} records/s")
    for measured in rounds:
        _table(measured, args.latency_ms)
    if len(rounds) > 1:
        peaks = ", ".join(
            f"{measured.records:,}: paging "
            f"{measured.paths['paging'].peak_rss_mb or 0:.0f} MB, native "
            f"{measured.paths['native'].peak_rss_mb or 0:.0f} MB"
            for measured in rounds
            if "paging" in measured.paths and "native" in measured.paths
        )
        print(f"\nhub peak RSS by size (goal: flat): {peaks}")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


async def _bench(args: argparse.Namespace) -> None:
    start_load = _load()
    rounds = [await _round(records, args) for records in args.records]
    _report(rounds, args, (start_load, _load()))


def _counts(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=_counts, default=[100_000, 1_000_000])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--skip-dlt", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of raw, paging and native, alternating"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per path")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    asyncio.run(_bench(parser.parse_args()))


if __name__ == "__main__":
    main()
