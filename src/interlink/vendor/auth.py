"""httpx.Auth for each auth type of the definition, filled from an instance's config."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, assert_never

import httpx

from interlink.elements.definition import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    CodeFlow,
    ElementDefinition,
    NoAuth,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    code_flow,
)
from interlink.elements.templates import placeholders, render
from interlink.vendor.oauth import (
    ClientCredentialsAuth,
    OAuthClient,
    RefreshTokenAuth,
    TokenKeeper,
)
from interlink.vendor.redaction import Redactor, protect_query_param

TokensCallback = Callable[[dict[str, Any]], Awaitable[None]]


class ApiKeyHeaderAuth(httpx.Auth):
    def __init__(self, header: str, value: str) -> None:
        self._header = header
        self._value = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value
        yield request


class ApiKeyQueryAuth(httpx.Auth):
    def __init__(self, param: str, value: str) -> None:
        self._param = param
        self._value = value
        protect_query_param(param)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_set_param(self._param, self._value)
        yield request


class BearerTokenAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class BasicCredentialsAuth(httpx.Auth):
    def __init__(self, username: str, password: str) -> None:
        self.encoded = base64.b64encode(f"{username}:{password}".encode()).decode()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Basic {self.encoded}"
        yield request


def build_auth(
    element: ElementDefinition,
    config: Mapping[str, Any],
    *,
    redactor: Redactor,
    on_tokens: TokensCallback | None = None,
    token_keeper: TokenKeeper | None = None,
    clock: Callable[[], float] = time.time,
) -> httpx.Auth | None:
    """The auth of `element` for one instance; every secret it renders joins `redactor`."""
    definition: Auth = element.auth

    def secret(template: str) -> str:
        value = render(template, config)
        redactor.add(value)
        return value

    match definition:
        case NoAuth():
            return None
        case ApiKeyAuth(location="header"):
            return ApiKeyHeaderAuth(definition.name, secret(definition.value))
        case ApiKeyAuth():
            return ApiKeyQueryAuth(definition.name, secret(definition.value))
        case BearerAuth():
            return BearerTokenAuth(secret(definition.token))
        case BasicAuth():
            basic = BasicCredentialsAuth(
                render(definition.username, config), secret(definition.password)
            )
            redactor.add(basic.encoded)  # the base64 form reveals the password as well
            return basic
        case OAuth2ClientCredentials():
            return ClientCredentialsAuth(
                _oauth_client(element, definition, config, redactor),
                scope=definition.scope,
                clock=clock,
            )
        case OAuth2RefreshToken():
            return RefreshTokenAuth(
                _oauth_client(element, definition, config, redactor),
                refresh_token=secret(definition.refresh_token),
                refresh_token_field=_config_field(definition.refresh_token) or "refresh_token",
                access_token_field=definition.access_token_field,
                expires_at_field=definition.expires_at_field,
                seed=config,
                on_tokens=on_tokens,
                keeper=token_keeper,
                clock=clock,
            )
        case _:
            assert_never(definition)


def token_fields(element: ElementDefinition) -> set[str]:
    """The config keys where refreshed OAuth tokens are stored for this element."""
    auth = element.auth
    if isinstance(auth, OAuth2RefreshToken):
        return {auth.access_token_field, _config_field(auth.refresh_token) or "refresh_token"}
    return set()


def auth_identity(element: ElementDefinition, config: Mapping[str, Any]) -> dict[str, str]:
    """The config values the auth section presents to the vendor: who is calling."""
    templates = [
        value
        for name, value in element.auth.model_dump().items()
        if isinstance(value, str) and name != "type"
    ]
    names = {name for template in templates for name in placeholders(template)}
    return {name: str(config.get(name, "")) for name in sorted(names)}


def authorization_code_client(
    element: ElementDefinition, config: Mapping[str, Any], *, redactor: Redactor
) -> OAuthClient:
    """The OAuth2 client that exchanges an authorization code for the element's tokens."""
    flow = code_flow(element.auth)
    if flow is None:
        raise ValueError(f"element {element.key!r} has no authorization-code flow")
    return _oauth_client(element, flow, config, redactor)


def _oauth_client(
    element: ElementDefinition,
    definition: OAuth2ClientCredentials | OAuth2RefreshToken | CodeFlow,
    config: Mapping[str, Any],
    redactor: Redactor,
) -> OAuthClient:
    client_secret = render(definition.client_secret, config)
    redactor.add(client_secret)
    return OAuthClient(
        element_key=element.key,
        token_url=render(definition.token_url, config),
        client_id=render(definition.client_id, config),
        client_secret=client_secret,
        client_auth=definition.client_auth,
        message_paths=element.errors.message_paths,
        redactor=redactor,
    )


def _config_field(template: str) -> str | None:
    """`refresh_token` for the template `{config.refresh_token}`; `None` for anything else."""
    names = placeholders(template)
    if len(names) == 1:
        (name,) = names
        if template == f"{{config.{name}}}":
            return name
    return None
