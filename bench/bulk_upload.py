"""Bulk upload throughput: an upload job's rows per second through the element's native
batch endpoint, side by side with the same kind of rows sent record by record.

Run: python bench/bulk_upload.py [--rows 100000] [--latency-ms 0] [--budget 180]
    [--probe 15] [--timeout 600] [--json]
For each row count N, the Sandbox CRM runs in a child process (`interlink sandbox --seed 0`,
empty) and so does a fresh hub (`interlink serve`, embedded SQLite and file store in a
temporary INTERLINK_DATA_DIR), started by bench/bulk_export.py's helpers, so the hub's CPU
time and peak RSS (VmHWM, reset before each path where the kernel allows it) are its own.
Each path builds an NDJSON file of N contacts (not timed), then POSTs it to
/v1/instances/{id}/bulk/contacts (multipart: `file` + `metadata`) and GETs /v1/bulk/{id}
every 0.2 s until it has completed: the wall time from the POST to the status that says
completed. In this order, against the same sandbox:

  batch     {"action": "create"}, N new contacts (unique emails) on an instance of the
            built-in `sandbox` element: its contacts have a batch endpoint (100 a call).
  upsert    {"action": "upsert", "identifier": "email"}, the same N emails again with
            another title, on the same instance: every row becomes an update.
  single    {"action": "create"}, N other new contacts on an instance of a custom element
            registered with POST /v1/elements: the sandbox's definition without
            objects.contacts.batch (and without webhooks), so rows go record by record, a
            few at a time within the element's concurrency and rate limit.

Every path must end with the job's `records == N` and `failed == 0`, the sandbox holding N
more contacts (N for the creates, none for the upsert: its /healthz counts, before and
after) and, not timed, N lines in the job's results with the expected outcome.

Record by record is slow. If, `--probe` seconds in, the single path's pace says it would
take longer than `--budget` seconds (default 180) for N rows, the job is cancelled, the row
count it would finish within the budget is printed as what the `--rows` default should be,
and a second round runs every path again at that count, so native / one-by-one compares
equal files. Both rounds are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

# Run as a script, bench/ is sys.path[0]: the export benchmark's harness is importable.
from bulk_export import (
    API_KEY,
    POLL_SECONDS,
    HubProcess,
    Sandbox,
    _counts,
    _cpu_seconds,
    _hub,
    _instance,
    _load,
    _log,
    _memory_mb,
    _reset_peak,
    _sandbox,
)

from interlink.elements.catalog import builtin_elements

UNBATCHED_ELEMENT = "sandbox_unbatched"
TITLES = ("Engineer", "Manager", "Director", "Analyst", "Designer")
STAGES = ("lead", "customer", "evangelist")
DONE = ("completed", "failed", "cancelled")


@dataclass
class PathResult:
    path: str
    rows: int  # in the file
    seconds: float  # POST -> the status that says completed (or cancelled)
    records: int  # the job's
    failed: int  # the job's
    cpu_seconds: float  # the hub's
    vendor_cpu_seconds: float  # the sandbox's
    peak_rss_mb: float  # the hub's VmHWM during the path
    contacts_added: int  # the sandbox's contacts after minus before
    native: bool | None = None  # the job's own word
    job_seconds: float | None = None  # the job's started_at -> finished_at
    outcomes: dict[str, int] = field(default_factory=dict)  # results lines by outcome
    error_lines: int = 0
    cancelled: bool = False  # stopped at --probe: the whole file would not fit --budget
    projected_seconds: float | None = None  # for all the rows, at the probe's pace

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclass
class Round:
    rows: int
    hub_start_rss_mb: float = 0.0
    hub_peak_rss_mb: float = 0.0
    suggested_rows: int | None = None  # set when the single path did not fit the budget
    paths: dict[str, PathResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- the files ----------------------------------------------------------------------------


def _write_rows(target: Path, rows: int, prefix: str, version: int) -> None:
    """N contacts as NDJSON, emails `{prefix}{n}@upload.example`, unique within the file."""
    with target.open("wb") as output:
        for start in range(0, rows, 10_000):
            output.write(
                b"".join(
                    orjson.dumps(
                        {
                            "email": f"{prefix}{number}@upload.example",
                            "first_name": f"First{number}",
                            "last_name": f"Last{number}",
                            "title": f"{TITLES[number % len(TITLES)]} v{version}",
                            "lifecycle_stage": STAGES[number % len(STAGES)],
                        }
                    )
                    + b"\n"
                    for number in range(start, min(rows, start + 10_000))
                )
            )


# -- the hub and the sandbox --------------------------------------------------------------


async def _unbatched_instance(client: httpx.AsyncClient, sandbox: Sandbox) -> str:
    """An instance of the sandbox's definition without the contacts' batch endpoint."""
    document = builtin_elements()["sandbox"].model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    document["key"] = UNBATCHED_ELEMENT
    document.pop("webhooks", None)
    del document["objects"]["contacts"]["batch"]
    response = await client.post("/v1/elements", json=document)
    if response.status_code != 201:
        raise RuntimeError(f"POST /v1/elements: {response.status_code} {response.text}")
    response = await client.post(
        "/v1/instances",
        json={
            "element": UNBATCHED_ELEMENT,
            "name": "bench-unbatched",
            "config": {"base_url": sandbox.url, "api_key": API_KEY},
        },
    )
    response.raise_for_status()
    return str(response.json()["id"])


async def _contacts(vendor: httpx.AsyncClient) -> int:
    response = await vendor.get("/healthz")
    response.raise_for_status()
    return int(response.json()["counts"]["contacts"])


async def _settled_contacts(vendor: httpx.AsyncClient) -> int:
    """The sandbox's contacts once two reads 0.5 s apart agree (a cancelled job's last
    writes land after its status says cancelled)."""
    count = await _contacts(vendor)
    for _ in range(40):
        await asyncio.sleep(0.5)
        again = await _contacts(vendor)
        if again == count:
            break
        count = again
    return count


async def _outcomes(client: httpx.AsyncClient, job_id: str, which: str) -> list[bytes]:
    response = await client.get(f"/v1/bulk/{job_id}/{which}")
    response.raise_for_status()
    return response.content.splitlines()


# -- one path -----------------------------------------------------------------------------


async def _upload(
    client: httpx.AsyncClient,
    vendor: httpx.AsyncClient,
    hub: HubProcess,
    sandbox: Sandbox,
    instance_id: str,
    *,
    name: str,
    source: Path,
    rows: int,
    metadata: dict[str, Any],
    args: argparse.Namespace,
    measured: Round,
    probe: bool = False,
) -> PathResult:
    if not _reset_peak(hub.pid):
        measured.notes.append("VmHWM could not be reset: peak RSS is the hub's since it started")
    content = await asyncio.to_thread(source.read_bytes)
    before = await _contacts(vendor)
    hub_cpu, vendor_cpu = _cpu_seconds(hub.pid), _cpu_seconds(sandbox.pid)
    started = time.perf_counter()
    response = await client.post(
        f"/v1/instances/{instance_id}/bulk/contacts",
        files={
            "file": (source.name, content, "application/x-ndjson"),
            "metadata": (None, json.dumps(metadata)),
        },
    )
    if response.status_code != 202:
        raise RuntimeError(f"{name}: upload answered {response.status_code} {response.text}")
    job_id = response.json()["id"]
    projected: float | None = None
    while True:
        await asyncio.sleep(POLL_SECONDS)
        response = await client.get(f"/v1/bulk/{job_id}")
        response.raise_for_status()
        job = response.json()
        if job["status"] in DONE:
            break
        elapsed = time.perf_counter() - started
        if probe and projected is None and elapsed >= args.probe and job["records"]:
            projected = elapsed * rows / int(job["records"])
            if projected <= args.budget:
                _log(f"  {name}: projected {projected:.0f} s for {rows:,} rows, within budget")
            else:
                _log(
                    f"  {name}: projected {projected:.0f} s for {rows:,} rows "
                    f"> budget {args.budget:g} s; cancelling"
                )
                await client.post(f"/v1/bulk/{job_id}/cancel")
        if elapsed > args.timeout:
            await client.post(f"/v1/bulk/{job_id}/cancel")
            raise RuntimeError(
                f"{name}: not completed after {args.timeout:g} s ({job['records']} records)"
            )
    seconds = time.perf_counter() - started
    hub_cpu, vendor_cpu = _cpu_seconds(hub.pid) - hub_cpu, _cpu_seconds(sandbox.pid) - vendor_cpu
    peak = _memory_mb(hub.pid, "VmHWM")
    cancelled = job["status"] == "cancelled"
    if job["status"] != "completed" and not (cancelled and projected is not None):
        raise RuntimeError(f"{name}: job {job['status']}: {job['error']}")
    # Not timed: what the vendor holds, and every row's outcome.
    after = await (_settled_contacts(vendor) if cancelled else _contacts(vendor))
    result = PathResult(
        name,
        rows,
        seconds,
        int(job["records"]),
        int(job["failed"]),
        hub_cpu,
        vendor_cpu,
        peak,
        after - before,
        native=job.get("native"),
        cancelled=cancelled,
        projected_seconds=projected if cancelled else None,
    )
    if job["started_at"] and job["finished_at"]:
        result.job_seconds = (
            datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
        ).total_seconds()
    for line in await _outcomes(client, job_id, "results"):
        outcome = str(orjson.loads(line)["outcome"])
        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
    errors = await _outcomes(client, job_id, "errors")
    result.error_lines = len(errors)
    if errors:
        measured.notes.append(f"{name}: first error: {errors[0].decode()[:300]}")
    return result


def _check(result: PathResult, expected_added: int, outcome: str, notes: list[str]) -> None:
    if result.cancelled:
        if result.contacts_added < result.records:
            notes.append(
                f"{result.path}: {result.records:,} records but {result.contacts_added:,} "
                "contacts added"
            )
        return
    checks = [
        ("records", result.records, result.rows),
        ("failed", result.failed, 0),
        ("contacts added", result.contacts_added, expected_added),
        (f"'{outcome}' results", result.outcomes.get(outcome, 0), result.rows),
        ("error lines", result.error_lines, 0),
    ]
    for label, got, want in checks:
        if got != want:
            notes.append(f"{result.path}: {label} {got:,}, expected {want:,}")


# -- one row count ------------------------------------------------------------------------


def _suggested_rows(per_second: float, budget: float) -> int:
    """The rows record by record does within the budget, down to one significant digit."""
    fits = max(1, int(per_second * budget))
    unit = 10 ** (len(str(fits)) - 1)
    return max(unit, fits // unit * unit)


async def _round(rows: int, args: argparse.Namespace, *, probe: bool) -> Round:
    measured = Round(rows)
    with tempfile.TemporaryDirectory(prefix="bench-bulk-upload-") as name:
        folder = Path(name)
        _log(f"[{rows:,}] writing the files ...")
        _write_rows(folder / "batch.ndjson", rows, "batch-", 1)
        _write_rows(folder / "upsert.ndjson", rows, "batch-", 2)
        _write_rows(folder / "single.ndjson", rows, "single-", 1)
        async with (
            _sandbox(0, args.latency_ms, folder) as sandbox,
            _hub(folder) as hub,
            httpx.AsyncClient(base_url=sandbox.url, trust_env=False, timeout=60) as vendor,
            httpx.AsyncClient(
                base_url=hub.url,
                headers={"Authorization": f"Bearer {hub.api_key}"},
                trust_env=False,
                timeout=120,
            ) as client,
        ):
            measured.hub_start_rss_mb = _memory_mb(hub.pid, "VmRSS")
            batched = await _instance(client, sandbox)
            unbatched = await _unbatched_instance(client, sandbox)
            plan: list[tuple[str, str, dict[str, Any], int, str]] = [
                ("batch", batched, {"action": "create"}, rows, "created"),
                ("upsert", batched, {"action": "upsert", "identifier": "email"}, 0, "updated"),
                ("single", unbatched, {"action": "create"}, rows, "created"),
            ]
            for path, instance_id, metadata, added, outcome in plan:
                _log(f"[{rows:,}] {path} {json.dumps(metadata)} ...")
                result = await _upload(
                    client,
                    vendor,
                    hub,
                    sandbox,
                    instance_id,
                    name=path,
                    source=folder / f"{path}.ndjson",
                    rows=rows,
                    metadata=metadata,
                    args=args,
                    measured=measured,
                    probe=probe and path == "single",
                )
                _log(
                    f"[{rows:,}] {path}: {result.seconds:.1f} s, {result.per_second:,.0f} rows/s"
                    + (" (cancelled)" if result.cancelled else "")
                )
                _check(result, added, outcome, measured.notes)
                measured.paths[path] = result
                if result.native != (path != "single"):
                    measured.notes.append(f"{path}: the job ran with native={result.native}")
            measured.hub_peak_rss_mb = max(path.peak_rss_mb for path in measured.paths.values())
    single = measured.paths["single"]
    if single.cancelled:
        measured.suggested_rows = _suggested_rows(single.per_second, args.budget)
    return measured


# -- the report ---------------------------------------------------------------------------


def _ratio(measured: Round) -> float | None:
    if "batch" not in measured.paths or "single" not in measured.paths:
        return None
    below = measured.paths["single"].per_second
    return measured.paths["batch"].per_second / below if below else None


LABELS = {
    "batch": "native batch create (sandbox)",
    "upsert": "native batch upsert by email",
    "single": "record by record create (custom)",
}


def _table(measured: Round, latency_ms: float) -> None:
    print(
        f"\n{measured.rows:,} rows, sandbox latency {latency_ms:g} ms; hub RSS at start "
        f"{measured.hub_start_rss_mb:.0f} MB"
    )
    print(
        f"{'path':33} {'rows':>8} {'seconds':>8} {'rows/s':>8} {'hub CPU s':>9} "
        f"{'vendor CPU':>10} {'peak RSS':>9} {'job s':>7}"
    )
    for name, label in LABELS.items():
        path = measured.paths.get(name)
        if path is None:
            continue
        job = f"{path.job_seconds:7.1f}" if path.job_seconds is not None else ""
        print(
            f"{label:33} {path.records:8,} {path.seconds:8.1f} {path.per_second:8,.0f} "
            f"{path.cpu_seconds:9.1f} {path.vendor_cpu_seconds:10.1f} "
            f"{path.peak_rss_mb:6.0f} MB {job:>7}"
        )
        if path.cancelled:
            print(
                f"{'':33} cancelled at the probe: {path.records:,} of {path.rows:,} rows, "
                f"all of them projected at {path.projected_seconds or 0:.0f} s"
            )
    ratio = _ratio(measured)
    single = measured.paths.get("single")
    partial = " (one-by-one from its partial run)" if single and single.cancelled else ""
    print(f"ratio native/one-by-one: {f'{ratio:.1f}' if ratio else 'n/a'}{partial}")
    print(f"hub peak RSS over the round: {measured.hub_peak_rss_mb:.0f} MB")
    if measured.suggested_rows is not None:
        print(
            f"record by record would take longer than the budget at {measured.rows:,} rows: "
            f"the --rows default should be {measured.suggested_rows:,}"
        )
    for note in measured.notes:
        print(f"note: {note}")


def _report(rounds: list[Round], args: argparse.Namespace, load: tuple[str, str]) -> None:
    if args.json:
        document = {
            "latency_ms": args.latency_ms,
            "budget_seconds": args.budget,
            "load_average": {"start": load[0], "end": load[1]},
            "rounds": [
                {
                    **{key: value for key, value in asdict(measured).items() if key != "paths"},
                    "paths": {
                        name: {**asdict(path), "rows_per_second": path.per_second}
                        for name, path in measured.paths.items()
                    },
                    "native_over_one_by_one": _ratio(measured),
                }
                for measured in rounds
            ],
        }
        print(json.dumps(document, indent=2))
        return
    print(f"load average at start: {load[0]}, at end: {load[1]}")
    print(
        "seconds: POST of the file -> the status that says completed. hub CPU s, peak RSS: "
        "the hub's process\n(VmHWM during the path); vendor CPU: the sandbox's. job s: the "
        "job's own started_at -> finished_at."
    )
    for measured in rounds:
        _table(measured, args.latency_ms)


async def _bench(args: argparse.Namespace) -> None:
    start_load = _load()
    rounds: list[Round] = []
    for rows in args.rows:
        measured = await _round(rows, args, probe=True)
        rounds.append(measured)
        if measured.suggested_rows is not None and measured.suggested_rows < rows:
            _log(
                f"[{rows:,}] record by record does not fit {args.budget:g} s: "
                f"the --rows default should be {measured.suggested_rows:,}; running that"
            )
            rounds.append(await _round(measured.suggested_rows, args, probe=False))
    _report(rounds, args, (start_load, _load()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=_counts, default=[100_000])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--budget", type=float, default=180.0, help="seconds record by record may take"
    )
    parser.add_argument(
        "--probe",
        type=float,
        default=15.0,
        help="seconds before judging the one-by-one pace",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per path")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    asyncio.run(_bench(parser.parse_args()))


if __name__ == "__main__":
    main()
