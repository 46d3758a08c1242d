"""Every auth type against a live server: what reaches the vendor, and OAuth2 token flows."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interlink.elements.definition import ElementDefinition
from interlink.elements.definition import Request as RequestSpec
from interlink.vendor import VendorAuthError

from .support import API_KEY, FakeClock, make_client, make_element, serving

WHOAMI = RequestSpec(path="/whoami")
CLIENT_SECRET = "cs_9d8e7f6a5b4c3d2e"
OAUTH_CONFIG = [
    {"name": "base_url", "type": "url"},
    {"name": "client_id"},
    {"name": "client_secret", "secret": True},
    {"name": "refresh_token", "secret": True, "required": False},
]


@dataclass
class AuthServer:
    """An API that echoes what authenticated it, and an OAuth2 token endpoint."""

    url: str = ""
    token_forms: list[dict[str, str]] = field(default_factory=list)
    token_headers: list[str | None] = field(default_factory=list)
    issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=lambda: {"rt-0"})
    expires_in: int | None = 3600
    token_error: tuple[int, dict[str, Any]] | None = None

    async def whoami(self, request: Request) -> Response:
        return JSONResponse(
            {
                "authorization": request.headers.get("authorization"),
                "x_api_key": request.headers.get("x-api-key"),
                "query": dict(request.query_params),
            }
        )

    async def protected(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return JSONResponse({"message": "token not valid"}, status_code=401)
        return JSONResponse({"token": token})

    async def token(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.token_forms.append(form)
        self.token_headers.append(request.headers.get("authorization"))
        if self.token_error is not None:
            status, body = self.token_error
            return JSONResponse(body, status_code=status)
        answer: dict[str, Any] = {"token_type": "bearer"}
        if form["grant_type"] == "refresh_token":
            if form["refresh_token"] not in self.refresh_tokens:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "refresh token revoked"},
                    status_code=400,
                )
            self.refresh_tokens = {f"rt-{self.issued + 1}"}  # rotated: the old one is spent
            answer["refresh_token"] = f"rt-{self.issued + 1}"
        self.issued += 1
        answer["access_token"] = f"at-{self.issued}"
        self.valid_tokens.add(answer["access_token"])
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return JSONResponse(answer)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/whoami", self.whoami),
                Route("/protected", self.protected),
                Route("/oauth/token", self.token, methods=["POST"]),
            ]
        )


@pytest.fixture
async def server() -> AsyncIterator[AuthServer]:
    state = AuthServer()
    async with serving(state.app()) as url:
        state.url = url
        yield state


async def whoami(element: ElementDefinition, server: AuthServer, clock: FakeClock) -> Any:
    async with make_client(element, server.url, clock) as client:
        return await client.call(WHOAMI)


async def test_api_key_in_a_header(server: AuthServer, clock: FakeClock) -> None:
    auth = {"type": "api_key", "in": "header", "name": "X-Api-Key", "value": "{config.api_key}"}
    seen = await whoami(make_element(auth=auth), server, clock)
    assert seen["x_api_key"] == API_KEY
    assert seen["authorization"] is None


async def test_api_key_in_the_query_is_never_logged(
    server: AuthServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = {"type": "api_key", "in": "query", "name": "hapi_token", "value": "{config.api_key}"}
    seen = await whoami(make_element(auth=auth), server, clock)
    assert seen["query"] == {"hapi_token": API_KEY}
    ours = [record for record in caplog.records if not record.name.startswith("uvicorn")]
    assert any("hapi_token=redacted" in record.getMessage() for record in ours)  # httpx's line
    assert not any(API_KEY in record.getMessage() for record in ours)


async def test_bearer(server: AuthServer, clock: FakeClock) -> None:
    seen = await whoami(make_element(), server, clock)
    assert seen["authorization"] == f"Bearer {API_KEY}"


async def test_basic(server: AuthServer, clock: FakeClock) -> None:
    element = make_element(
        config=[{"name": "base_url"}, {"name": "user"}, {"name": "api_key", "secret": True}],
        auth={"type": "basic", "username": "{config.user}", "password": "{config.api_key}"},
    )
    async with make_client(element, server.url, clock, config={"user": "ann"}) as client:
        seen = await client.call(WHOAMI)
    scheme, _, encoded = seen["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"ann:{API_KEY}"


def client_credentials(client_auth: str = "body") -> ElementDefinition:
    return make_element(
        config=OAUTH_CONFIG,
        auth={
            "type": "oauth2_client_credentials",
            "token_url": "{config.base_url}/oauth/token",
            "client_id": "{config.client_id}",
            "client_secret": "{config.client_secret}",
            "scope": "contacts.read",
            "client_auth": client_auth,
        },
    )


OAUTH_VALUES = {"client_id": "app-1", "client_secret": CLIENT_SECRET}
PROTECTED = RequestSpec(path="/protected")


async def test_client_credentials_token_is_fetched_once_and_cached_until_expiry(
    server: AuthServer, clock: FakeClock
) -> None:
    async with make_client(client_credentials(), server.url, clock, config=OAUTH_VALUES) as client:
        answers = await asyncio.gather(*(client.call(PROTECTED) for _ in range(5)))
        assert {answer["token"] for answer in answers} == {"at-1"}
        assert len(server.token_forms) == 1
        clock.now += 3600 - 30  # inside the renewal margin before expiry
        assert (await client.call(PROTECTED))["token"] == "at-2"
    assert server.token_forms[0] == {
        "grant_type": "client_credentials",
        "scope": "contacts.read",
        "client_id": "app-1",
        "client_secret": CLIENT_SECRET,
    }


async def test_client_credentials_by_basic_auth(server: AuthServer, clock: FakeClock) -> None:
    async with make_client(
        client_credentials("basic"), server.url, clock, config=OAUTH_VALUES
    ) as client:
        await client.call(PROTECTED)
    assert "client_secret" not in server.token_forms[0]
    header = server.token_headers[0] or ""
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"app-1:{CLIENT_SECRET}"


async def test_a_401_fetches_a_new_token_once(server: AuthServer, clock: FakeClock) -> None:
    async with make_client(client_credentials(), server.url, clock, config=OAUTH_VALUES) as client:
        await client.call(PROTECTED)
        server.valid_tokens.clear()  # revoked at the vendor before its expiry
        assert (await client.call(PROTECTED))["token"] == "at-2"
    assert len(server.token_forms) == 2


async def test_a_token_the_vendor_keeps_refusing_is_an_auth_error(
    server: AuthServer, clock: FakeClock
) -> None:
    server.valid_tokens.add("never-issued")  # /protected accepts nothing we will get
    original = server.token

    async def token_not_accepted(request: Request) -> Response:
        response = await original(request)
        server.valid_tokens.clear()
        return response

    server.token = token_not_accepted  # type: ignore[method-assign]
    async with (
        serving(server.app()) as url,
        make_client(
            client_credentials(), url, clock, config={**OAUTH_VALUES, "base_url": url}
        ) as client,
    ):
        with pytest.raises(VendorAuthError) as caught:
            await client.call(PROTECTED)
    assert caught.value.vendor_message == "token not valid"
    assert len(server.token_forms) == 2  # the first token, and one fresh try


async def test_a_token_endpoint_refusal_carries_the_vendors_message(
    server: AuthServer, clock: FakeClock
) -> None:
    server.token_error = (401, {"error": "invalid_client", "error_description": "unknown app"})
    async with make_client(client_credentials(), server.url, clock, config=OAUTH_VALUES) as client:
        with pytest.raises(VendorAuthError) as caught:
            await client.call(PROTECTED)
    assert caught.value.vendor_message == "unknown app"
    assert caught.value.status == 401


def refresh_element() -> ElementDefinition:
    return make_element(
        config=OAUTH_CONFIG,
        auth={
            "type": "oauth2_refresh_token",
            "token_url": "{config.base_url}/oauth/token",
            "client_id": "{config.client_id}",
            "client_secret": "{config.client_secret}",
            "refresh_token": "{config.refresh_token}",
        },
    )


async def test_refresh_token_rotation_is_handed_to_on_tokens(
    server: AuthServer, clock: FakeClock
) -> None:
    stored: list[dict[str, Any]] = []

    async def on_tokens(tokens: dict[str, Any]) -> None:
        stored.append(tokens)

    config = {**OAUTH_VALUES, "refresh_token": "rt-0"}
    async with make_client(
        refresh_element(), server.url, clock, config=config, on_tokens=on_tokens
    ) as client:
        assert (await client.call(PROTECTED))["token"] == "at-1"
        assert (await client.call(PROTECTED))["token"] == "at-1"
        clock.now += 3600
        assert (await client.call(PROTECTED))["token"] == "at-2"
    assert [form["refresh_token"] for form in server.token_forms] == ["rt-0", "rt-1"]
    assert stored == [
        {"access_token": "at-1", "refresh_token": "rt-1", "token_expires_at": 1000 + 3600},
        {"access_token": "at-2", "refresh_token": "rt-2", "token_expires_at": 1000 + 7200},
    ]


async def test_stored_tokens_are_used_until_they_expire(
    server: AuthServer, clock: FakeClock
) -> None:
    server.valid_tokens.add("at-stored")
    config = {
        **OAUTH_VALUES,
        "refresh_token": "rt-0",
        "access_token": "at-stored",
        "token_expires_at": clock.now + 600,
    }
    async with make_client(refresh_element(), server.url, clock, config=config) as client:
        assert (await client.call(PROTECTED))["token"] == "at-stored"
        assert server.token_forms == []
        clock.now += 600
        assert (await client.call(PROTECTED))["token"] == "at-1"


async def test_a_revoked_refresh_token_is_an_auth_error(
    server: AuthServer, clock: FakeClock
) -> None:
    config = {**OAUTH_VALUES, "refresh_token": "rt-stale"}
    async with make_client(refresh_element(), server.url, clock, config=config) as client:
        with pytest.raises(VendorAuthError) as caught:
            await client.call(PROTECTED)
    assert caught.value.vendor_message == "refresh token revoked"
    assert "rt-stale" not in str(caught.value)


def refresh_element_storing_in(access_token_field: str, expires_at_field: str) -> ElementDefinition:
    auth = refresh_element().auth.model_dump(by_alias=True)
    auth.update(access_token_field=access_token_field, expires_at_field=expires_at_field)
    return make_element(config=OAUTH_CONFIG, auth=auth)


async def test_refreshed_tokens_go_where_the_element_says(
    server: AuthServer, clock: FakeClock
) -> None:
    stored: list[dict[str, Any]] = []

    async def on_tokens(tokens: dict[str, Any]) -> None:
        stored.append(tokens)

    server.valid_tokens.add("at-stored")
    config = {
        **OAUTH_VALUES,
        "refresh_token": "rt-0",
        "crm_access": "at-stored",
        "crm_access_expiry": "1970-01-01T00:26:40Z",  # clock.now + 600, in RFC 3339
        "access_token": "at-ignored",  # the default keys mean nothing to this element
        "token_expires_at": 0,
    }
    element = refresh_element_storing_in("crm_access", "crm_access_expiry")
    async with make_client(
        element, server.url, clock, config=config, on_tokens=on_tokens
    ) as client:
        assert (await client.call(PROTECTED))["token"] == "at-stored"
        clock.now += 600
        assert (await client.call(PROTECTED))["token"] == "at-1"
    assert stored == [
        {"crm_access": "at-1", "refresh_token": "rt-1", "crm_access_expiry": 1000 + 600 + 3600}
    ]
