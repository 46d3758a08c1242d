"""The hub's bulk API as the CLI calls it: one sync httpx client, errors made printable,
downloads streamed to a file, and uploads streamed as a multipart body read in chunks."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
# Connecting is quick or not at all; a status call answers fast; a download chunk may
# take a while when the hub reads its file from object storage.
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TRANSFER_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
CHUNK_BYTES = 64 * 1024

MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv", "json": "application/json"}
EXTENSIONS = {"csv": "csv", "ndjson": "ndjson", "jsonl": "ndjson", "json": "json"}
FINISHED = ("completed", "failed", "cancelled")

# While following a job, a hub that restarts or hiccups is asked again this many times in
# a row (waiting a little longer each time, at most MAX_BACKOFF seconds) before giving up.
MAX_MISSES = 8
MAX_BACKOFF = 5.0

Job = dict[str, Any]


class CliFailure(Exception):
    """A failure the CLI prints as `interlink: <message>` and exits with `code`."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ApiError(CliFailure):
    """The hub answered an error (a problem+json document, as a rule): exit 1."""

    def __init__(self, status: int, title: str, detail: str | None) -> None:
        super().__init__(f"{title}: {detail}" if detail else title, 1)
        self.status = status
        self.title = title
        self.detail = detail


class Unreachable(CliFailure):
    """No answer from the hub (refused, timed out, bad URL): exit 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 2)


def api_error(response: httpx.Response) -> ApiError:
    """The error of an answer whose body has been read: its problem's title and detail,
    or the start of whatever else came back (a proxy's HTML page, say)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("title"), str):
        detail = body.get("detail")
        return ApiError(response.status_code, body["title"], str(detail) if detail else None)
    text = " ".join(response.text.split())[:200]
    reason = response.reason_phrase or "error"
    return ApiError(response.status_code, f"HTTP {response.status_code} {reason}", text or None)


class HubClient:
    """The bulk calls of one hub, for one API key. Every failure is a `CliFailure`."""

    def __init__(
        self, url: str, api_key: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        try:
            self._http = httpx.Client(
                base_url=self.url,
                headers={"Authorization": f"Bearer {api_key}", "User-Agent": "interlink-cli"},
                timeout=TIMEOUT,
                transport=transport,
            )
        except (httpx.InvalidURL, ValueError) as exc:
            raise Unreachable(f"{url!r} is not a hub URL: {exc}") from exc

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """Transport failures as one readable sentence each."""
        try:
            yield
        except httpx.ConnectError as exc:
            raise Unreachable(
                f"cannot reach the hub at {self.url} ({exc}); is `interlink serve` running? "
                "(set --url or INTERLINK_URL)"
            ) from exc
        except httpx.TimeoutException as exc:
            raise Unreachable(f"the hub at {self.url} did not answer in time") from exc
        except httpx.UnsupportedProtocol as exc:
            raise Unreachable(f"{self.url!r} is not a hub URL: {exc}") from exc
        except httpx.TransportError as exc:
            raise Unreachable(
                f"the connection to the hub at {self.url} failed: {exc or type(exc).__name__}"
            ) from exc
        except httpx.InvalidURL as exc:
            raise Unreachable(f"{self.url!r} is not a hub URL: {exc}") from exc

    def _call(self, method: str, path: str, **options: Any) -> Any:
        with self._reaching():
            response = self._http.request(method, path, **options)
        if response.is_error:
            raise api_error(response)
        return response.json()

    def create_query_job(
        self,
        instance_id: str,
        q: str,
        *,
        fmt: str,
        native: bool,
        callback_url: str | None,
    ) -> Job:
        body: dict[str, Any] = {"q": q, "format": fmt, "native": native}
        if callback_url:
            body["callback_url"] = callback_url
        job: Job = self._call("POST", f"/v1/instances/{instance_id}/bulk/query", json=body)
        return job

    def job(self, job_id: str) -> Job:
        job: Job = self._call("GET", f"/v1/bulk/{job_id}")
        return job

    def upload(self, instance_id: str, object_name: str, body: MultipartFile) -> Job:
        """Send the file as it is read; `body.on_bytes` hears of every chunk sent."""
        with self._reaching():
            response = self._http.post(
                f"/v1/instances/{instance_id}/bulk/{object_name}",
                content=body.chunks(),
                headers=body.headers(),
                timeout=TRANSFER_TIMEOUT,
            )
        if response.is_error:
            raise api_error(response)
        job: Job = response.json()
        return job

    def download(
        self,
        path: str,
        out: BinaryIO,
        *,
        accept: str | None = None,
        on_start: Callable[[int | None], None] = lambda _: None,
        on_bytes: Callable[[int], None] = lambda _: None,
    ) -> int:
        """Stream `path`'s body into `out`; the byte count. `on_start` gets the declared
        length (None when the hub streams without one), `on_bytes` each chunk's size."""
        headers = {"Accept": accept} if accept else {}
        written = 0
        stream = self._http.stream("GET", path, headers=headers, timeout=TRANSFER_TIMEOUT)
        with self._reaching(), stream as response:
            if response.is_error:
                response.read()
                raise api_error(response)
            length = response.headers.get("content-length")
            on_start(int(length) if length and length.isdigit() else None)
            for chunk in response.iter_bytes(CHUNK_BYTES):
                out.write(chunk)
                written += len(chunk)
                on_bytes(len(chunk))
        return written

    def follow(
        self,
        job: Job,
        on_update: Callable[[Job], None],
        *,
        interval: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Job:
        """Ask for the job about twice a second until it has finished; the last answer.

        A hub that is briefly unreachable or answers 5xx is asked again, at most
        MAX_MISSES times in a row; an error of the caller's (4xx) ends it at once.
        """
        misses = 0
        while job["status"] not in FINISHED:
            sleep(interval if misses == 0 else min(interval * 2**misses, MAX_BACKOFF))
            try:
                job = self.job(job["id"])
            except (ApiError, Unreachable) as exc:
                transient = isinstance(exc, Unreachable) or (
                    isinstance(exc, ApiError) and exc.status >= 500
                )
                misses += 1
                if not transient or misses > MAX_MISSES:
                    raise
                continue
            misses = 0
            on_update(job)
        return job


def file_format(path: Path, declared: str | None) -> str | None:
    """The upload's format: the one declared, else the extension's; None lets the hub
    sniff the file."""
    if declared:
        return declared
    _, dot, extension = path.name.rpartition(".")
    return EXTENSIONS.get(extension.lower()) if dot else None


def _quoted(name: str) -> str:
    """A file name fit for a Content-Disposition parameter (as browsers escape it)."""
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass
class MultipartFile:
    """A `multipart/form-data` body of a `metadata` JSON part and a `file` part whose
    bytes are read from disk chunk by chunk as the body is sent: memory holds one chunk.

    The length is known up front (the file's size plus the framing), so the body goes
    with a Content-Length rather than chunked."""

    path: Path
    metadata: dict[str, Any]
    content_type: str
    on_bytes: Callable[[int], None] = lambda _: None
    boundary: str = field(default_factory=lambda: "interlink-" + secrets.token_hex(16))

    def __post_init__(self) -> None:
        self.size = os.stat(self.path).st_size
        self._head = (
            f"--{self.boundary}\r\n"
            'Content-Disposition: form-data; name="metadata"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{json.dumps(self.metadata)}\r\n"
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{_quoted(self.path.name)}"'
            f"\r\nContent-Type: {self.content_type}\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        return len(self._head) + self.size + len(self._tail)

    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(self.length),
        }

    def chunks(self) -> Iterator[bytes]:
        """The body; exactly `length` bytes, or an error if the file changed size."""
        yield self._head
        left = self.size
        with self.path.open("rb") as file:
            while left > 0:
                chunk = file.read(min(CHUNK_BYTES, left))
                if not chunk:
                    raise CliFailure(f"{self.path} shrank while it was being sent", 1)
                left -= len(chunk)
                self.on_bytes(len(chunk))
                yield chunk
        yield self._tail
