"""The bulk commands' displays: a job while it runs, bytes while they move, a job's table.

Progress goes to stderr (data may be on stdout). On a terminal it is live; elsewhere
(a pipe, a log file) rich prints nothing while it runs and the final state once at the
end, so the output never fills with control codes.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any

from rich import filesize
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from interlink.cli.bulk.client import FINISHED, Job

LOG_WIDTH = 120
STATUS_STYLES = {
    "queued": "yellow",
    "running": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def progress_console() -> Console:
    console = Console(stderr=True)
    if not console.is_terminal and console.width < LOG_WIDTH:
        # A log's lines need not fit a terminal: wide enough to keep every column whole.
        console.width = LOG_WIDTH
    return console


class _JobSpinner(SpinnerColumn):
    """A spinner that stops once the job has finished, however it ended."""

    def render(self, task: Task) -> RenderableType:
        return Text("•") if task.fields.get("over") else super().render(task)


def _progress(console: Console, *columns: ProgressColumn | str) -> Progress:
    # No redirection of stdout/stderr: the data written to stdout must stay untouched.
    return Progress(
        *columns, console=console, redirect_stdout=False, redirect_stderr=False, transient=False
    )


def _rate(job: Job) -> str:
    rate = (job.get("progress") or {}).get("records_per_second")
    return f"{rate:,.1f} rec/s" if isinstance(rate, int | float) else "– rec/s"


class JobDisplay:
    """A running job: records, pages, rate and elapsed time with a spinner (an export's
    total is unknown); an upload also gets a bar by the bytes of its file read so far."""

    def __init__(self, console: Console, job: Job) -> None:
        self.upload = job.get("direction") == "upload"
        head: list[ProgressColumn | str] = [
            _JobSpinner(),
            TextColumn("[bold]{task.fields[job_id]}[/] {task.fields[status]}"),
        ]
        if self.upload:
            columns = [
                *head,
                BarColumn(bar_width=24),
                TaskProgressColumn(),
                DownloadColumn(),
                TextColumn("[green]{task.fields[ok]:,} ok[/] [red]{task.fields[failed]:,} failed"),
            ]
        else:
            columns = [
                *head,
                TextColumn("{task.fields[records]:,} records, {task.fields[pages]:,} pages"),
            ]
        self._progress = _progress(
            console, *columns, TextColumn("{task.fields[rate]}"), TimeElapsedColumn()
        )
        self._task: TaskID = self._progress.add_task("", total=None, **self._fields(job))
        self.update(job)

    @staticmethod
    def _fields(job: Job) -> dict[str, Any]:
        progress = job.get("progress") or {}
        status = str(job.get("status", ""))
        return {
            "job_id": job.get("id", ""),
            "status": f"[{STATUS_STYLES.get(status, 'white')}]{status}[/]",
            "records": int(job.get("records") or 0),
            "ok": int(job.get("records") or 0),
            "failed": int(job.get("failed") or 0),
            "pages": int(progress.get("pages") or 0),
            "rate": _rate(job),
            "over": job.get("status") in FINISHED,
        }

    def update(self, job: Job) -> None:
        progress = job.get("progress") or {}
        total = progress.get("total_bytes") if self.upload else None
        done = int(progress.get("bytes") or 0) if self.upload else 0
        if job.get("status") == "completed" and isinstance(total, int):
            done = total
        self._progress.update(
            self._task,
            total=total if isinstance(total, int) and total > 0 else None,
            completed=done,
            **self._fields(job),
        )
        if job.get("status") in FINISHED:
            self._progress.stop_task(self._task)

    def __enter__(self) -> JobDisplay:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()


class BytesDisplay:
    """Bytes moving (a download, an upload's body): a bar when the total is known,
    a pulsing one otherwise, with the amount and the speed."""

    def __init__(self, console: Console, description: str, total: int | None = None) -> None:
        self._progress = _progress(
            console,
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
        )
        self._task = self._progress.add_task(description, total=total)

    def start(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)

    def advance(self, size: int) -> None:
        self._progress.advance(self._task, size)

    def finish(self) -> None:
        task = self._progress.tasks[0]
        if task.total is None:
            self._progress.update(self._task, total=task.completed)

    def __enter__(self) -> BytesDisplay:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.finish()
        self._progress.stop()


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration(job: Job) -> float | None:
    """Seconds from start to finish, as the hub measured them."""
    started, finished = _moment(job.get("started_at")), _moment(job.get("finished_at"))
    if started is None or finished is None:
        return None
    return max((finished - started).total_seconds(), 0.0)


def size_text(size: int) -> str:
    return filesize.decimal(size)


def job_table(job: Job) -> Table:
    """The job as a two-column table; every value plain text (queries hold brackets)."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    progress = job.get("progress") or {}
    status = str(job.get("status", ""))
    rows: list[tuple[str, Any]] = [
        ("id", job.get("id")),
        ("instance", job.get("instance_id")),
        ("object", job.get("object")),
        ("direction", job.get("direction")),
        ("status", Text(status, style=STATUS_STYLES.get(status, ""))),
        ("format", job.get("format")),
    ]
    if job.get("direction") == "upload":
        rows += [("action", job.get("action")), ("identifier", job.get("identifier"))]
        rows += [("ok", job.get("records")), ("failed", job.get("failed"))]
        total = progress.get("total_bytes")
        read = progress.get("bytes")
        if isinstance(total, int) and isinstance(read, int):
            rows.append(("read", f"{size_text(read)} of {size_text(total)}"))
    else:
        rows += [("query", job.get("query")), ("records", job.get("records"))]
        rows.append(("native", "yes" if job.get("native") else "no"))
    rows += [
        ("pages", progress.get("pages")),
        ("rate", _rate(job)),
        ("created", job.get("created_at")),
        ("started", job.get("started_at")),
        ("finished", job.get("finished_at")),
    ]
    took = duration(job)
    if took is not None:
        rows.append(("duration", f"{took:.1f}s"))
    if job.get("callback_url"):
        rows.append(("callback", job["callback_url"]))
    if job.get("error"):
        rows.append(("error", Text(str(job["error"]), style="red")))
    for name, value in rows:
        shown = value if isinstance(value, Text) else Text("–" if value is None else str(value))
        table.add_row(name, shown)
    return table
