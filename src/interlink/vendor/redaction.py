"""Keeps credentials out of log lines, error messages and reprs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

REDACTED = "[redacted]"
REDACTED_PARAM = "redacted"  # in a URL: nothing to percent-encode
# Shorter values would blank out ordinary words of a message; no real credential is this short.
MIN_SECRET_CHARS = 4

# Query parameters that carry credentials by convention; api_key auth adds its own name.
_SECRET_QUERY_PARAMS = {
    "access_token",
    "api-key",
    "api_key",
    "apikey",
    "client_secret",
    "hapikey",
    "key",
    "password",
    "secret",
    "sig",
    "signature",
    "token",
}


class Redactor:
    """Replaces every known secret value (and its URL-encoded forms) in a text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Learn one more value to hide, such as a token fetched at run time."""
        if secret and len(secret) >= MIN_SECRET_CHARS:
            self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})

    def __call__(self, text: str) -> str:
        # Longest first, so a secret that contains another is hidden whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._secrets)} values>"


def scrub_json(value: Any, scrub: Callable[[str], str]) -> Any:
    """`value` (decoded JSON) with every string passed through `scrub`."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: scrub_json(item, scrub) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_json(item, scrub) for item in value]
    return value


def protect_query_param(name: str) -> None:
    """Hide the value of query parameter `name` in httpx's request log lines."""
    _SECRET_QUERY_PARAMS.add(name.lower())


def redact_url(url: httpx.URL) -> httpx.URL:
    """`url` with the values of credential-carrying query parameters replaced."""
    if not any(name.lower() in _SECRET_QUERY_PARAMS for name in url.params):
        return url
    params: list[tuple[str, Any]] = [
        (name, REDACTED_PARAM if name.lower() in _SECRET_QUERY_PARAMS else value)
        for name, value in url.params.multi_items()
    ]
    return url.copy_with(params=httpx.QueryParams(params))


# The redactor of the vendor call running in this task, for httpx's log lines made within it.
_active: ContextVar[Redactor | None] = ContextVar("interlink_vendor_redactor", default=None)


@contextmanager
def redacting(redactor: Redactor) -> Iterator[None]:
    """httpx's log lines written inside this block pass through `redactor`."""
    token = _active.set(redactor)
    try:
        yield
    finally:
        _active.reset(token)


class _RedactHttpxUrls(logging.Filter):
    """httpx logs every request's full URL at INFO: an api key in the query, or a token in
    the path (some vendors put it there), would go along."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            redactor = _active.get()
            record.args = tuple(
                _redact_logged(arg, redactor) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True


def _redact_logged(url: httpx.URL, redactor: Redactor | None) -> httpx.URL | str:
    url = redact_url(url)
    return url if redactor is None else redactor(str(url))


def _install_httpx_filter() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _RedactHttpxUrls) for existing in httpx_logger.filters):
        httpx_logger.addFilter(_RedactHttpxUrls())


_install_httpx_filter()
