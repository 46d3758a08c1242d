"""`interlink bulk export|upload|status|download`: bulk jobs of a running hub, over its API.

Every command takes `--url` (INTERLINK_URL) and `--api-key` (INTERLINK_API_KEY). Exit
status: 0 when the job completed (an upload with failed rows included), 1 when the job
failed or was cancelled or the hub refused the request, 2 for usage errors and a hub that
cannot be reached. Progress is shown on stderr; data written to stdout (`--output -`)
stays clean, and the summary then goes to stderr too.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn

import typer
from rich.console import Console

from interlink.cli.bulk.client import (
    DEFAULT_URL,
    FINISHED,
    MEDIA_TYPES,
    CliFailure,
    HubClient,
    Job,
    MultipartFile,
    file_format,
)
from interlink.cli.bulk.progress import (
    BytesDisplay,
    JobDisplay,
    duration,
    job_table,
    progress_console,
    size_text,
)

app = typer.Typer(
    help="Bulk jobs of a running hub, over its HTTP API: export, upload, status, download.",
    no_args_is_help=True,
)

STDOUT = "-"


class Format(StrEnum):
    ndjson = "ndjson"
    csv = "csv"
    json = "json"


class Action(StrEnum):
    create = "create"
    update = "update"
    upsert = "upsert"
    delete = "delete"


UrlOption = Annotated[str, typer.Option("--url", envvar="INTERLINK_URL", help="The hub's address.")]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="INTERLINK_API_KEY",
        help="An API key of your organization (required).",
        show_default=False,
    ),
]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Print the job's id and return once it is queued.")
]


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"interlink: {message}", err=True)
    raise typer.Exit(code)


def _say(message: str, *, data_on_stdout: bool = False) -> None:
    typer.echo(message, err=data_on_stdout)


@contextlib.contextmanager
def _hub(url: str, api_key: str | None) -> Iterator[HubClient]:
    """A client of the hub; any failure of a call is printed and ends the command."""
    if not api_key:
        _fail(
            "no API key: pass --api-key or set INTERLINK_API_KEY "
            "(`interlink org create NAME` prints one)",
            2,
        )
    try:
        with HubClient(url, api_key) as client:
            yield client
    except CliFailure as exc:
        _fail(exc.message, exc.code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def _check_output(target: str | None) -> None:
    """Refuse, before any job runs, an output that cannot be written."""
    if target is None or target == STDOUT:
        return
    path = Path(target)
    if path.is_dir():
        _fail(f"--output {target} is a folder: name a file", 2)
    if not path.parent.is_dir():
        _fail(f"--output {target}: the folder {path.parent} does not exist", 2)


def _follow(client: HubClient, job: Job) -> Job:
    """The job followed with its progress display until it has finished."""
    if job["status"] in FINISHED:
        return job
    try:
        with JobDisplay(progress_console(), job) as display:
            return client.follow(job, display.update)
    except KeyboardInterrupt:
        _fail(
            f"stopped waiting; bulk job {job['id']} goes on at the hub "
            f"(follow it: interlink bulk status {job['id']} --watch)",
            130,
        )


def _ended_badly(job: Job) -> NoReturn:
    if job["status"] == "cancelled":
        _fail(f"bulk job {job['id']} was cancelled", 1)
    _fail(f"bulk job {job['id']} failed: {job.get('error') or 'no reason given'}", 1)


def _queued(job: Job) -> None:
    """--no-wait: the id alone on stdout (for scripts), how to follow it on stderr."""
    typer.echo(job["id"])
    typer.echo(f"follow it: interlink bulk status {job['id']} --watch", err=True)


@contextlib.contextmanager
def _opened(target: str) -> Iterator[BinaryIO]:
    """The file to write (stdout for `-`); a file this command created and could not
    finish is removed."""
    if target == STDOUT:
        out = sys.stdout.buffer
        try:
            yield out
            out.flush()
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as command-line tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(1) from None
        return
    path = Path(target)
    existed = path.exists()
    try:
        file = path.open("wb")
    except OSError as exc:
        raise CliFailure(f"cannot write {target}: {exc.strerror or exc}", 2) from exc
    try:
        with file:
            yield file
    except BaseException:
        if not existed and path.is_file():
            path.unlink(missing_ok=True)
        raise


def _save(client: HubClient, api_path: str, target: str, what: str, accept: str) -> int:
    """A file of the hub streamed into `target` with a bytes bar; its size."""
    with _opened(target) as out, BytesDisplay(progress_console(), what) as bar:
        return client.download(
            api_path, out, accept=accept, on_start=bar.start, on_bytes=bar.advance
        )


def _where(target: str) -> str:
    return "stdout" if target == STDOUT else target


def _took(job: Job) -> str:
    seconds = duration(job)
    return "" if seconds is None else f" in {seconds:.1f}s"


@app.command("export")
def export(
    instance_id: Annotated[
        str, typer.Argument(metavar="INSTANCE_ID", help="The instance to export from.")
    ],
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help='A CEQL query: "select * from contacts where …".')
    ],
    fmt: Annotated[Format, typer.Option("--format", help="The file's format.")] = Format.ndjson,
    no_native: Annotated[
        bool,
        typer.Option(
            "--no-native",
            help="Page through the API even where the vendor has a native bulk export.",
        ),
    ] = False,
    callback_url: Annotated[
        str | None,
        typer.Option("--callback-url", help="Where the hub posts the end of the job."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="The file to write, - for stdout (default: <job id>.<format>).",
            show_default=False,
        ),
    ] = None,
    no_wait: NoWaitOption = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Export what a query selects: create the job, follow it, download its file."""
    _check_output(output)
    with _hub(url, api_key) as client:
        job = client.create_query_job(
            instance_id, query, fmt=fmt.value, native=not no_native, callback_url=callback_url
        )
        if no_wait:
            _queued(job)
            return
        job = _follow(client, job)
        if job["status"] != "completed":
            _ended_badly(job)
        target = output or f"{job['id']}.{fmt.value}"
        size = _save(client, f"/v1/bulk/{job['id']}/file", target, "download", MEDIA_TYPES[fmt])
    _say(
        f"{job['id']} completed: {job['records']:,} records of {job['object']} exported"
        f"{_took(job)}, {size_text(size)} written to {_where(target)}",
        data_on_stdout=target == STDOUT,
    )


@app.command("upload")
def upload(
    instance_id: Annotated[
        str, typer.Argument(metavar="INSTANCE_ID", help="The instance to upload into.")
    ],
    object_name: Annotated[str, typer.Argument(metavar="OBJECT", help="The object: contacts…")],
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            exists=True,
            dir_okay=False,
            readable=True,
            help="The records: CSV with a header row, NDJSON or a JSON array.",
        ),
    ],
    action: Annotated[Action, typer.Option("--action", help="What to do with each record.")],
    identifier: Annotated[
        str | None,
        typer.Option("--identifier", help="The field that finds existing records (email…)."),
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            help="The file's format (default: by its extension, else the hub sniffs it).",
            show_default=False,
        ),
    ] = None,
    callback_url: Annotated[
        str | None,
        typer.Option("--callback-url", help="Where the hub posts the end of the job."),
    ] = None,
    results: Annotated[
        str | None,
        typer.Option("--results", help="Save the rows that went through (NDJSON) here."),
    ] = None,
    errors: Annotated[
        str | None,
        typer.Option("--errors", help="Save the rows that failed, with why (NDJSON), here."),
    ] = None,
    no_wait: NoWaitOption = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Upload a file of records: send it, follow the job, save its results and errors."""
    if results is not None and results == errors:
        _fail("--results and --errors must name two different files", 2)
    _check_output(results)
    _check_output(errors)
    kind = file_format(file, fmt.value if fmt else None)
    metadata: dict[str, str] = {"action": action.value}
    if identifier:
        metadata["identifier"] = identifier
    if fmt:
        metadata["format"] = fmt.value
    if callback_url:
        metadata["callback_url"] = callback_url
    body = MultipartFile(file, metadata, MEDIA_TYPES.get(kind or "", "application/octet-stream"))
    with _hub(url, api_key) as client:
        with BytesDisplay(progress_console(), "send", total=body.size) as bar:
            body.on_bytes = bar.advance
            job = client.upload(instance_id, object_name, body)
        if no_wait:
            _queued(job)
            return
        job = _follow(client, job)
        saved = []
        for which, target in (("results", results), ("errors", errors)):
            if target is not None:
                api_path = f"/v1/bulk/{job['id']}/{which}"
                _save(client, api_path, target, which, MEDIA_TYPES["ndjson"])
                saved.append(f"{which} in {_where(target)}")
    if job["status"] != "completed":
        _ended_badly(job)
    failed = int(job.get("failed") or 0)
    summary = f"{job['id']} completed: {job['records']:,} ok, {failed:,} failed{_took(job)}"
    if saved:
        summary += f" ({', '.join(saved)})"
    if failed and errors is None:
        summary += f"; see the failed rows: interlink bulk download {job['id']} --errors"
    _say(summary, data_on_stdout=STDOUT in (results, errors))


@app.command("status")
def status(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="The bulk job (bulk_…).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The job as the API has it: one JSON document.")
    ] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Follow the job until it finishes (exit 1 if it fails or is cancelled).",
        ),
    ] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Show a bulk job: its status, counts, progress and times."""
    with _hub(url, api_key) as client:
        job = client.job(job_id)
        if watch:
            job = _follow(client, job)
    if as_json:
        typer.echo(json.dumps(job, indent=2))
    else:
        Console().print(job_table(job))
    if watch and job["status"] != "completed":
        raise typer.Exit(1)


@app.command("download")
def download(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="The bulk job (bulk_…).")],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="The file to write, - for stdout "
            "(default: <job id>.<format>, <job id>.results.ndjson or <job id>.errors.ndjson).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            help="An export's format (default: the job's).",
            show_default=False,
        ),
    ] = None,
    results: Annotated[
        bool, typer.Option("--results", help="An upload's rows that went through.")
    ] = False,
    errors: Annotated[bool, typer.Option("--errors", help="An upload's failed rows.")] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Download an export's file, or an upload's results or errors (NDJSON)."""
    if results and errors:
        _fail("--results and --errors: choose one", 2)
    if fmt and (results or errors):
        _fail("--format is for an export's file; results and errors are NDJSON", 2)
    _check_output(output)
    with _hub(url, api_key) as client:
        job = client.job(job_id)
        uploaded = job.get("direction") == "upload"
        if results or errors:
            which = "results" if results else "errors"
            if not uploaded:
                _fail(f"bulk job {job_id} is an export: it has a file, not {which}", 2)
            target = output or f"{job['id']}.{which}.ndjson"
            api_path, accept = f"/v1/bulk/{job['id']}/{which}", MEDIA_TYPES["ndjson"]
        else:
            if uploaded:
                _fail(f"bulk job {job_id} is an upload: download its --results or --errors", 2)
            which = "file"
            chosen = fmt.value if fmt else str(job.get("format") or "ndjson")
            target = output or f"{job['id']}.{chosen}"
            api_path, accept = f"/v1/bulk/{job['id']}/file", MEDIA_TYPES[chosen]
        size = _save(client, api_path, target, "download", accept)
    _say(
        f"{job['id']} {which}: {size_text(size)} written to {_where(target)}",
        data_on_stdout=target == STDOUT,
    )
