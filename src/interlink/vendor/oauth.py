"""OAuth2 as httpx.Auth: client-credentials and refresh-token grants, tokens cached."""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, quote

import httpx

from interlink.vendor.errors import (
    RetryableVendorError,
    VendorAuthError,
    VendorError,
    json_body,
    vendor_message,
)
from interlink.vendor.redaction import Redactor

logger = logging.getLogger(__name__)

# Renew this long before the vendor's expiry (at most a tenth of the token's lifetime), so a
# token never expires between the check and the vendor reading it.
RENEW_MARGIN_SECONDS = 60.0
# Where OAuth2 servers (RFC 6749 §5.2) put their explanation, before the element's paths.
OAUTH_MESSAGE_PATHS = ["error_description", "error.message", "error"]


class TokenKeeper(Protocol):
    """Where one instance's OAuth tokens are stored, shared by every client of it.

    Clients of one instance run in several jobs and processes at once; with a rotating
    refresh token, two renewals would spend the same refresh token and the second would
    fail. The keeper lets one renewal happen at a time, deployment-wide.
    """

    def renewal(self) -> AbstractAsyncContextManager[Mapping[str, Any]]:
        """Held by one renewal at a time: the instance's tokens as stored right now."""

    async def save(self, tokens: dict[str, Any]) -> None:
        """Stores renewed tokens; called inside `renewal`, before it is let go."""


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: float | None = None


class OAuthClient:
    """One OAuth2 client at one token endpoint: builds token requests, reads the answers."""

    def __init__(
        self,
        *,
        element_key: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        client_auth: Literal["body", "basic"],
        message_paths: list[str],
        redactor: Redactor,
    ) -> None:
        self.element_key = element_key
        self.redactor = redactor
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._client_auth = client_auth
        self._message_paths = [*OAUTH_MESSAGE_PATHS, *message_paths]

    def token_request(self, form: Mapping[str, str], like: httpx.Request) -> httpx.Request:
        """A token request; it takes the timeouts of the request `like` that needs it."""
        data = dict(form)
        headers = {"Accept": "application/json"}
        if self._client_auth == "basic":
            # RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding.
            pair = f"{quote(self._client_id, safe='')}:{quote(self._client_secret, safe='')}"
            encoded = base64.b64encode(pair.encode()).decode()
            self.redactor.add(encoded)
            headers["Authorization"] = f"Basic {encoded}"
        else:
            data.update(client_id=self._client_id, client_secret=self._client_secret)
        extensions = {"timeout": like.extensions["timeout"]} if "timeout" in like.extensions else {}
        return httpx.Request(
            "POST", self._token_url, data=data, headers=headers, extensions=extensions
        )

    async def read_tokens(self, response: httpx.Response) -> Tokens:
        """The tokens of a token endpoint's answer; its refusal as a `VendorError`."""
        await response.aread()
        if not response.is_success:
            raise self._refusal(response)
        answer = _token_answer(response)
        access_token = answer.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            # Some servers (GitHub's) answer 200 with an RFC 6749 §5.2 error body.
            error = answer.get("error")
            said = answer.get("error_description") or error
            raise VendorAuthError(
                f"{self.element_key}: the token endpoint answered without an access_token",
                status=response.status_code,
                vendor_message=self.redactor(said) if isinstance(said, str) else None,
            )
        refresh_token = answer.get("refresh_token")
        refresh_token = refresh_token if isinstance(refresh_token, str) and refresh_token else None
        self.redactor.add(access_token)
        self.redactor.add(refresh_token)
        logger.info("obtained an OAuth2 access token", extra={"element": self.element_key})
        return Tokens(access_token, refresh_token, _number(answer.get("expires_in")))

    def _refusal(self, response: httpx.Response) -> VendorError:
        status = response.status_code
        details: dict[str, Any] = {
            "status": status,
            "vendor_message": vendor_message(response, self._message_paths),
        }
        summary = f"{self.element_key}: the token endpoint answered {status}"
        if status in (408, 429) or status >= 500:
            # The request that needed the token has not been sent: it may go again.
            return RetryableVendorError(summary, safe_to_resend=True, **details)
        return VendorAuthError(summary, **details)


class _TokenAuth(httpx.Auth):
    """A bearer token fetched when missing or about to expire, and once more after a 401."""

    def __init__(self, client: OAuthClient, *, clock: Callable[[], float]) -> None:
        self._client = client
        self._clock = clock
        # Concurrent requests wait for one token fetch instead of each starting their own.
        self._lock = asyncio.Lock()
        self._access_token: str | None = None
        self._expires_at: float | None = None
        self._renew_at: float | None = None

    def _token_form(self) -> dict[str, str]:
        raise NotImplementedError

    async def _accept(self, tokens: Tokens) -> None:
        self._access_token = tokens.access_token
        if tokens.expires_in is None:
            self._expires_at = self._renew_at = None  # good until the vendor refuses it
        else:
            now = self._clock()
            self._expires_at = now + tokens.expires_in
            margin = min(RENEW_MARGIN_SECONDS, tokens.expires_in / 10)
            self._renew_at = self._expires_at - margin

    def _usable_token(self) -> str | None:
        if self._renew_at is not None and self._clock() >= self._renew_at:
            return None
        return self._access_token

    def _still_needed(self, refused: str | None) -> bool:
        """Whether a renewal is due: the token is expiring, or is the one just refused
        (and nobody renewed it in the meantime)."""
        if refused is None:
            return self._usable_token() is None
        return self._access_token == refused

    @asynccontextmanager
    async def _renewal(self, *, refused: str | None) -> AsyncIterator[bool]:
        """Held while a renewal is decided and made; yields whether it is still needed."""
        yield self._still_needed(refused)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("OAuth2 auth of the vendor client is async only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._usable_token() is None:
            async with self._lock, self._renewal(refused=None) as needed:
                if needed:
                    answer = yield self._client.token_request(self._token_form(), request)
                    await self._accept(await self._client.read_tokens(answer))
        token_sent = self._access_token
        request.headers["Authorization"] = f"Bearer {token_sent}"
        response = yield request
        if response.status_code != 401:
            return
        # A token may be revoked before its expiry: fetch one fresh token and try once more.
        async with self._lock, self._renewal(refused=token_sent) as needed:
            if needed:
                answer = yield self._client.token_request(self._token_form(), request)
                await self._accept(await self._client.read_tokens(answer))
        request.headers["Authorization"] = f"Bearer {self._access_token}"
        yield request


class ClientCredentialsAuth(_TokenAuth):
    """`grant_type=client_credentials`: the client's own token, cached until its expiry."""

    def __init__(
        self, client: OAuthClient, *, scope: str | None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(client, clock=clock)
        self._scope = scope

    def _token_form(self) -> dict[str, str]:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        return form


class RefreshTokenAuth(_TokenAuth):
    """`grant_type=refresh_token`: renews the access token; rotated tokens are handed on.

    `seed` is the stored credentials: the access token at `access_token_field` and its
    expiry at `expires_at_field` (unix seconds or RFC 3339) spare a refresh when the
    stored token is still good. Every renewal is passed to `on_tokens` as
    `{<access_token_field>, <refresh_token_field>, <expires_at_field>}` so the caller can
    store it, encrypted, before a rotated refresh token is lost.
    """

    def __init__(
        self,
        client: OAuthClient,
        *,
        refresh_token: str,
        refresh_token_field: str = "refresh_token",
        access_token_field: str = "access_token",
        expires_at_field: str = "token_expires_at",
        seed: Mapping[str, Any] | None = None,
        on_tokens: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        keeper: TokenKeeper | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client, clock=clock)
        self._refresh_token = refresh_token
        self._refresh_token_field = refresh_token_field
        self._access_token_field = access_token_field
        self._expires_at_field = expires_at_field
        # With a keeper, renewals are stored through it, under its lock.
        self._on_tokens = keeper.save if keeper is not None else on_tokens
        self._keeper = keeper
        self._adopt(seed or {})

    def _adopt(self, stored: Mapping[str, Any]) -> None:
        """Takes the stored tokens where they differ from ours: another client renewed."""
        stored_token = stored.get(self._access_token_field)
        if isinstance(stored_token, str) and stored_token and stored_token != self._access_token:
            self._client.redactor.add(stored_token)
            self._access_token = stored_token
            self._expires_at = _unix_time(stored.get(self._expires_at_field))
            self._renew_at = (
                None if self._expires_at is None else self._expires_at - RENEW_MARGIN_SECONDS
            )
        stored_refresh = stored.get(self._refresh_token_field)
        if isinstance(stored_refresh, str) and stored_refresh:
            self._client.redactor.add(stored_refresh)
            self._refresh_token = stored_refresh

    @asynccontextmanager
    async def _renewal(self, *, refused: str | None) -> AsyncIterator[bool]:
        if self._keeper is None:
            yield self._still_needed(refused)
            return
        async with self._keeper.renewal() as stored:
            # Another job or process may have renewed while we waited for the lock: its
            # tokens are the good ones (a rotated refresh token of ours is already spent).
            self._adopt(stored)
            yield self._still_needed(refused)

    def _token_form(self) -> dict[str, str]:
        return {"grant_type": "refresh_token", "refresh_token": self._refresh_token}

    async def _accept(self, tokens: Tokens) -> None:
        await super()._accept(tokens)
        rotated = tokens.refresh_token is not None and tokens.refresh_token != self._refresh_token
        if tokens.refresh_token is not None:
            self._refresh_token = tokens.refresh_token
        if self._on_tokens is None:
            if rotated:
                logger.warning(
                    "the vendor rotated the refresh token and nothing stores it",
                    extra={"element": self._client.element_key},
                )
            return
        expires_at = None if self._expires_at is None else math.floor(self._expires_at)
        await self._on_tokens(
            {
                self._access_token_field: tokens.access_token,
                self._refresh_token_field: self._refresh_token,
                self._expires_at_field: expires_at,
            }
        )


def _token_answer(response: httpx.Response) -> dict[str, Any]:
    body = json_body(response)
    if isinstance(body, dict):
        return body
    # A few servers (GitHub's, famously) answer form-encoded unless told otherwise.
    if "application/x-www-form-urlencoded" in response.headers.get("content-type", ""):
        return dict(parse_qsl(response.text))
    return {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _unix_time(value: Any) -> float | None:
    number = _number(value)
    if number is not None:
        return number
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.timestamp() if parsed.tzinfo is not None else None
    return None
