"""One vendor call end to end: budget slot, hooks, auth, classification, retries, logs."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from interlink.elements.definition import ElementDefinition, HttpMethod
from interlink.vendor.errors import (
    FatalVendorError,
    RetryableVendorError,
    VendorError,
    json_body,
)
from interlink.vendor.hooks import Hooks, RequestContext
from interlink.vendor.ratelimit import RateLimiter, bucket_pause
from interlink.vendor.redaction import Redactor, redacting
from interlink.vendor.retry import Retrier
from interlink.vendor.specs import FORM_CONTENT_TYPE, encode_form

logger = logging.getLogger("interlink.vendor")

# Reads change nothing at the vendor, whatever their method (some search with POST).
READ_OPERATIONS = frozenset({"list", "get", "deleted"})
# A request that never reached the vendor can always go again, even a POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# Paged reads send one path again and again (an export: thousands of times); httpx parses
# two URLs to join it to the base URL, about a third of building the request. Their paths
# come from the definition and config alone, so the joined URLs are few and kept; a path
# with a record id in it (get, update) would grow the cache without end.
_JOINED_ONCE = frozenset({"list", "deleted"})


class Sender:
    def __init__(
        self,
        element: ElementDefinition,
        config: Mapping[str, Any],
        *,
        http: httpx.AsyncClient,
        limiter: RateLimiter,
        retrier: Retrier,
        hooks: Hooks,
        redactor: Redactor,
    ) -> None:
        self.element = element
        self._config = config
        self._http = http
        self._limiter = limiter
        self._retrier = retrier
        self._hooks = hooks
        self._redactor = redactor
        self._joined: dict[str, httpx.URL] = {}

    async def send(
        self,
        operation: str,
        object_name: str | None,
        method: HttpMethod,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        content: tuple[bytes, str] | None = None,
        per_record: bool = False,
    ) -> httpx.Response:
        """The vendor's successful answer (read), or the classified `VendorError`.

        `form` is sent form-encoded (`application/x-www-form-urlencoded`) instead of `json`;
        `content` is `(bytes, content type)` sent as is (a CSV upload).
        """
        return await self._exchange(
            operation,
            object_name,
            method,
            url,
            params=params,
            json=json,
            form=form,
            per_record=per_record,
            stream=False,
            raw=content,
        )

    @asynccontextmanager
    async def stream(
        self,
        operation: str,
        object_name: str | None,
        method: HttpMethod,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """The vendor's successful answer with its body still unread, for the block.

        Getting the answer goes like `send` (budget, hooks, retries, classification); an
        error answer's body is read, as classification needs it. Reading the body inside
        the block is never retried: part of it has been handed out already, so only the
        caller knows where to start again. A failure while reading is still classified
        (a `RetryableVendorError` for a lost connection or a timeout) and redacted. The
        budget slot is not held while the block runs: a long download would starve the
        other calls sharing it, and a caller calling the vendor mid-read would deadlock.
        """
        response = await self._exchange(
            operation,
            object_name,
            method,
            url,
            params=params,
            json=None,
            form=None,
            per_record=False,
            stream=True,
        )
        try:
            yield response
        except httpx.HTTPError as exc:
            error = self._transport_error(exc, method, response.request.url.path)
            error.redact(self._redactor)
            raise error from exc
        finally:
            await response.aclose()

    async def _exchange(
        self,
        operation: str,
        object_name: str | None,
        method: HttpMethod,
        url: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        form: Mapping[str, Any] | None,
        per_record: bool,
        stream: bool,
        raw: tuple[bytes, str] | None = None,
    ) -> httpx.Response:
        context = RequestContext(self.element, operation, object_name, self._config)
        # Encoded once: every attempt sends the same bytes.
        content = None if form is None else encode_form(form)
        form_headers = None if form is None else {"Content-Type": FORM_CONTENT_TYPE}
        if raw is not None:
            content, form_headers = raw[0], {"Content-Type": raw[1]}
        log: dict[str, Any] = {
            "element": self.element.key,
            "object": object_name,
            "operation": operation,
        }

        async def attempt() -> httpx.Response:
            async with self._limiter.slot():
                request = self._http.build_request(
                    method,
                    self._joined_url(url) if operation in _JOINED_ONCE else url,
                    params=dict(params) if params else None,
                    json=json if form is None and raw is None else None,
                    content=content,
                    headers=form_headers,
                )
                self._hooks.prepare_request(request, context)
                log["method"], log["path"] = method, self._redactor(request.url.path)
                started = time.perf_counter()
                try:
                    with redacting(self._redactor):
                        response = await self._http.send(request, stream=stream)
                        if stream and not response.is_success:
                            await _read_and_close(response)  # classification reads it
                except httpx.HTTPError as exc:
                    raise self._transport_error(exc, method, request.url.path) from exc
                # Before the slot is given up, so no call starts before the pause is set.
                self._follow_bucket(response)
            log["status"] = response.status_code
            log["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
            logger.debug("vendor call answered", extra=log)
            try:
                error = self._hooks.classify(response, self.element, per_record)
            except BaseException:
                await response.aclose()  # a streamed answer holds a connection until closed
                raise
            if error is not None:
                await response.aclose()
                self._share_retry_after(error)
                raise error
            return response

        def on_retry(error: RetryableVendorError, attempt_number: int, delay: float) -> None:
            logger.warning(
                "vendor call failed, retrying",
                extra={
                    **log,
                    "status": error.status,
                    "attempt": attempt_number,
                    "delay_seconds": round(delay, 3),
                    "error": self._redactor(str(error)),
                },
            )

        idempotent = operation in READ_OPERATIONS or method != "POST"
        try:
            return await self._retrier.run(attempt, idempotent=idempotent, on_retry=on_retry)
        except VendorError as error:
            error.redact(self._redactor)
            raise

    def decode(self, response: httpx.Response) -> Any:
        """The answer's JSON; `None` for an empty answer; an error for anything else."""
        body = json_body(response)
        if body is None and response.content.strip():
            raise FatalVendorError(
                f"{self.element.key}: {response.request.method} "
                f"{self._redactor(response.request.url.path)} answered something not JSON",
                status=response.status_code,
            )
        return body

    def _joined_url(self, url: str) -> str | httpx.URL:
        """`url` joined to the client's base URL as httpx joins it, remembered."""
        if "://" in url:
            return url  # a vendor's next-page URL: absolute, and new every page
        joined = self._joined.get(url)
        if joined is None:
            joined = self._joined[url] = self._http.build_request("GET", url).url
        return joined

    def _follow_bucket(self, response: httpx.Response) -> None:
        # Slows everyone sharing the credentials down before the vendor's bucket overflows.
        header = self.element.rate_limit.bucket_header
        if header is None:
            return
        wait = bucket_pause(response.headers.get(header), self.element.rate_limit)
        if wait > 0:
            self._limiter.pause_for(min(wait, self.element.retry.max_retry_after_seconds))

    def _share_retry_after(self, error: VendorError) -> None:
        # Everyone sharing these credentials waits, not only the caller that was told.
        limited = (429, 503, *self.element.rate_limit.limited_statuses)
        if error.retry_after is not None and error.status in limited:
            cap = self.element.retry.max_retry_after_seconds
            self._limiter.pause_for(min(error.retry_after, cap))

    def _transport_error(self, exc: httpx.HTTPError, method: str, path: str) -> VendorError:
        where = f"{self.element.key}: {method} {path}"
        if isinstance(exc, _NOT_SENT):
            return RetryableVendorError(
                f"{where}: could not reach the vendor ({type(exc).__name__})", safe_to_resend=True
            )
        if isinstance(exc, httpx.TimeoutException):
            return RetryableVendorError(f"{where}: timed out ({type(exc).__name__})")
        if isinstance(exc, _MAYBE_SENT):
            return RetryableVendorError(f"{where}: connection lost ({type(exc).__name__})")
        return FatalVendorError(f"{where}: {type(exc).__name__}: {exc}")


async def _read_and_close(response: httpx.Response) -> None:
    try:
        await response.aread()
    finally:
        await response.aclose()
