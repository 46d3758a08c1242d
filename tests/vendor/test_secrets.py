"""Credentials never reach a log line, an exception's text or a repr."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interlink.vendor import VendorError, build_auth
from interlink.vendor.redaction import Redactor

from .support import API_KEY, FakeClock, make_client, make_element, serving

PASSWORD = "hunter2-correct-horse"


async def echo_everything(request: Request) -> Response:
    """A vendor that quotes the credentials back in its errors, as some do."""
    said = f"{request.headers.get('authorization')} {request.url.query}"
    return JSONResponse({"message": f"cannot accept {said}", "echo": [said]}, status_code=500)


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/{path:path}", echo_everything, methods=["GET", "POST"])])
    async with serving(app) as url:
        yield url


def leaked(texts: list[Any]) -> list[str]:
    return [str(text) for text in texts if API_KEY in str(text) or PASSWORD in str(text)]


def our_log_texts(caplog: pytest.LogCaptureFixture) -> list[Any]:
    """Every message and extra field we logged (the vendor server's own logs left out)."""
    texts: list[Any] = []
    for record in caplog.records:
        if not record.name.startswith("uvicorn"):
            texts += [record.getMessage(), *vars(record).values()]
    return texts


def error_texts(error: VendorError) -> list[Any]:
    return [str(error), repr(error), error.args, error.vendor_message, error.body]


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "bearer", "token": "{config.api_key}"},
        {"type": "api_key", "in": "query", "name": "key", "value": "{config.api_key}"},
        {"type": "basic", "username": "ann", "password": "{config.api_key}"},
    ],
    ids=["bearer", "query", "basic"],
)
async def test_an_echoing_vendor_leaks_nothing(
    echo_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture, auth: dict[str, str]
) -> None:
    caplog.set_level(logging.DEBUG)
    element = make_element(auth=auth, objects={"contacts": {"path": "/api/contacts"}})
    async with make_client(element, echo_url, clock) as client:
        with pytest.raises(VendorError) as caught:
            await client.list_page("contacts")
        assert API_KEY not in repr(client)
    assert "cannot accept" in str(caught.value)
    assert leaked(error_texts(caught.value)) == []
    assert leaked(our_log_texts(caplog)) == []
    assert any(record.name == "interlink.vendor" for record in caplog.records)


async def test_a_secret_in_the_path_is_hidden_too(
    echo_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    element = make_element(objects={"contacts": {"path": "/bot{config.api_key}/contacts"}})
    async with make_client(element, echo_url, clock) as client:
        with pytest.raises(VendorError) as caught:
            await client.create("contacts", {"name": "x"})
    assert "/bot[redacted]/contacts" in str(caught.value)
    assert leaked(error_texts(caught.value)) == []
    assert leaked(our_log_texts(caplog)) == []


def test_auth_objects_do_not_show_their_secrets() -> None:
    config = {"base_url": "https://api.example.com", "api_key": API_KEY, "user": "ann"}
    for auth in [
        {"type": "bearer", "token": "{config.api_key}"},
        {"type": "api_key", "in": "header", "name": "X-Key", "value": "{config.api_key}"},
        {"type": "basic", "username": "{config.user}", "password": "{config.api_key}"},
    ]:
        element = make_element(
            auth=auth,
            config=[{"name": "base_url"}, {"name": "api_key", "secret": True}, {"name": "user"}],
        )
        redactor = Redactor()
        built = build_auth(element, config, redactor=redactor)
        assert API_KEY not in repr(built)
        assert API_KEY not in repr(redactor)
        assert API_KEY not in redactor(f"the key {API_KEY} is wrong")


def test_the_redactor_hides_url_encoded_forms_and_ignores_tiny_values() -> None:
    redactor = Redactor([PASSWORD + "&/", "ab", None])
    assert redactor(f"p={PASSWORD}%26%2F") == "p=[redacted]"
    assert redactor("ab cd") == "ab cd"
