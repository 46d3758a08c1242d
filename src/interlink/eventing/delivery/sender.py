"""One attempt of a delivery: a signed POST through the outbound guard, classified.

Nothing here raises for what a receiver does (an error answer, a timeout, a refused
address): every such outcome is an `AttemptResult`, stored as an attempt.

Attempts go straight to the guarded httpx transport, not through an `httpx.AsyncClient`:
a delivery is one POST to an absolute URL with no redirects to follow, no cookies to
keep and no auth flow, and the client's handling of those took a third of the time of
an attempt to a receiver on loopback (see docs/benchmarks.md). The transport still
keeps the connections, maps errors to httpx's exceptions and applies the timeouts.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import httpx

from interlink import __version__
from interlink.errors import UnsafeURL
from interlink.eventing.cloudevents import BATCH_CONTENT_TYPE
from interlink.eventing.delivery.schedule import parse_retry_after
from interlink.security.outbound import guarded_transport
from interlink.storage.types import utcnow

# What of a receiver's answer is kept with the attempt: enough to read an error message.
RESPONSE_BODY_LIMIT = 1024
USER_AGENT = f"Interlink-Webhooks/{__version__}"


@dataclass(frozen=True)
class AttemptResult:
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None = None
    response_body: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes milliseconds; one context serves every delivery transport.
    return httpx.create_ssl_context()


def delivery_transport(*, allow_private: bool) -> httpx.AsyncBaseTransport:
    """The connections to callback URLs: guarded at connect time. Close it when done."""
    return guarded_transport(allow_private=allow_private, verify=_tls_context())


async def post_batch(
    transport: httpx.AsyncBaseTransport,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,  # noqa: ASYNC109 - the whole attempt's deadline, not a per-phase one
) -> AttemptResult:
    """POST one batch; any answer, timeout or refusal comes back as a result. A redirect
    is an answer like any other: it is not followed."""
    attempted_at = utcnow()
    started = time.monotonic()

    def elapsed_ms() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        # httpx's timeout is per phase (connect, write, read); this one bounds the whole.
        async with asyncio.timeout(timeout):
            request = httpx.Request(
                "POST",
                _parsed(url),
                headers={**headers, "content-type": BATCH_CONTENT_TYPE, "user-agent": USER_AGENT},
                content=body,
                extensions={"timeout": _phase_timeouts(timeout)},
            )
            answer = await transport.handle_async_request(request)
            try:
                kept = await _read_prefix(answer)
            finally:
                await answer.aclose()
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
        return AttemptResult(attempted_at, None, elapsed_ms(), error)
    except UnsafeURL as exc:
        return AttemptResult(attempted_at, None, elapsed_ms(), str(exc))
    except httpx.TimeoutException:
        error = f"no answer within {timeout:g} s"
        return AttemptResult(attempted_at, None, elapsed_ms(), error)
    except httpx.ConnectError as exc:
        return AttemptResult(attempted_at, None, elapsed_ms(), f"could not connect: {exc}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return AttemptResult(attempted_at, None, elapsed_ms(), error)
    retry_after = parse_retry_after(answer.headers.get("retry-after"), utcnow())
    return AttemptResult(
        attempted_at,
        answer.status_code,
        elapsed_ms(),
        None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}",
        kept.decode("utf-8", errors="replace") if kept else None,
        retry_after,
    )


@functools.lru_cache(maxsize=256)
def _parsed(url: str) -> httpx.URL:
    # Every delivery of a run goes to the same URL: parse it once (an invalid one raises
    # each time, and is not cached).
    return httpx.URL(url)


@functools.lru_cache(maxsize=16)
def _phase_timeouts(timeout: float) -> dict[str, float | None]:
    return httpx.Timeout(timeout).as_dict()


async def _read_prefix(answer: httpx.Response) -> bytes:
    """At most RESPONSE_BODY_LIMIT bytes of the body; a huge answer is not read through."""
    kept = b""
    # Decoding is only needed for an encoded answer (we ask for none); the bytes as they
    # come skip httpx's decoder chain, a good part of an attempt's cost on loopback.
    chunks = answer.aiter_bytes() if "content-encoding" in answer.headers else answer.aiter_raw()
    async for chunk in chunks:
        kept += chunk
        if len(kept) >= RESPONSE_BODY_LIMIT:
            break
    return kept[:RESPONSE_BODY_LIMIT]
