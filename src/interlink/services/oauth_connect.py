"""Connecting an instance through OAuth2 authorization code (RFC 6749 §4.1, PKCE RFC 7636).

`start_authorization` stores a pending authorization bound to the organization (its random
`state` only as a SHA-256, its PKCE verifier and the future instance encrypted) and builds
the vendor's authorize URL. `complete_authorization` is the callback: it spends the state
once, exchanges the code at the token endpoint (no transaction is held meanwhile) and
creates the instance with the tokens in its encrypted credentials. From then on an
`oauth2_refresh_token` instance runs on the element's refresh-token grant
(`vendor.oauth.RefreshTokenAuth`); a `bearer` or `api_key` instance presents the access
token as it is, stored in the config field its auth names (no refresh token needed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements import catalog
from interlink.elements.definition import CodeFlow, ElementDefinition, code_flow
from interlink.elements.format.auth import config_field
from interlink.elements.templates import render
from interlink.errors import InterlinkError, InvalidInput, NotFound
from interlink.hub import Hub
from interlink.ids import new_id
from interlink.security.outbound import check_url, check_url_syntax
from interlink.services import instances
from interlink.services.instance_config import EventsSettings, check_events, split_config
from interlink.settings import oauth_app_name
from interlink.storage.models import OAuthAuthorization
from interlink.storage.types import utcnow
from interlink.vendor.auth import authorization_code_client
from interlink.vendor.errors import VendorAuthError, VendorError
from interlink.vendor.redaction import Redactor

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/v1/oauth/callback"
# Pending authorizations are kept this long past their expiry (to answer "expired"), then purged.
KEEP_EXPIRED = timedelta(days=1)
MAX_VENDOR_TEXT = 300
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class AuthorizationRequest(BaseModel):
    """What the instance will be once the vendor has said yes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    events: EventsSettings = Field(default_factory=EventsSettings)
    redirect_after: str | None = Field(
        default=None,
        max_length=2048,
        description="where the browser is sent once the instance exists (or the flow failed)",
    )


@dataclass(frozen=True)
class StartedAuthorization:
    id: str
    authorize_url: str
    expires_at: datetime

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "authorize_url": self.authorize_url,
            "expires_at": _iso(self.expires_at),
        }


class AuthorizationFailed(InterlinkError):
    """The callback cannot create the instance; nothing was created.

    `code` is an OAuth-style error code for the browser (`access_denied`, …) and
    `redirect_after` where to send it, when the authorization said so."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str,
        redirect_after: str | None = None,
        authorization_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.redirect_after = redirect_after
        self.authorization_id = authorization_id


@dataclass(frozen=True)
class CompletedAuthorization:
    authorization_id: str
    instance: dict[str, Any]
    redirect_after: str | None


# --- starting ---------------------------------------------------------------------------


async def start_authorization(
    hub: Hub,
    session: AsyncSession,
    organization_id: str,
    element_key: str,
    request: AuthorizationRequest,
) -> StartedAuthorization:
    """Validates the future instance as the callback will, stores the pending authorization
    and answers where to send the browser."""
    element = await catalog.find_element(session, organization_id, element_key)
    flow = authorize_section(element)
    allow_private = hub.settings.allow_private_networks
    config = await connect_config(hub, element, request.config)
    await check_events(
        element,
        request.events,
        min_poll_interval=hub.settings.min_poll_interval,
        allow_private=allow_private,
    )
    if request.redirect_after is not None:
        check_url_syntax(
            request.redirect_after, allow_private=allow_private, field="redirect_after"
        )
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if flow.authorize.pkce else None
    redirect_uri = f"{hub.public_url}{CALLBACK_PATH}"
    authorize_url = _authorize_url(flow, config, redirect_uri, state, verifier)
    now = utcnow()
    row = OAuthAuthorization(
        id=new_id("oauth"),
        organization_id=organization_id,
        element_key=element.key,
        state_hash=_state_hash(state),
        request=hub.secrets.encrypt_json(
            {**request.model_dump(mode="json"), "code_verifier": verifier}
        ),
        redirect_uri=redirect_uri,
        status="pending",
        created_at=now,
        expires_at=now + timedelta(seconds=hub.settings.oauth_state_ttl_seconds),
    )
    await session.execute(
        delete(OAuthAuthorization).where(OAuthAuthorization.expires_at < now - KEEP_EXPIRED)
    )
    session.add(row)
    await session.flush()
    logger.info(
        "OAuth authorization started",
        extra={"authorization": row.id, "element": element.key, "organization": organization_id},
    )
    return StartedAuthorization(row.id, authorize_url, row.expires_at)


async def request_from_query(
    session: AsyncSession, organization_id: str, element_key: str, query: list[tuple[str, str]]
) -> AuthorizationRequest:
    """`?name=…&redirect_after=…&config.<field>=…` as an AuthorizationRequest.

    Secret config fields are refused here: a URL ends up in logs and browser history, so
    they go in the body of `POST /v1/oauth/{element}/authorize` instead."""
    element = await catalog.find_element(session, organization_id, element_key)
    fields = {field.name: field for field in element.config}
    values: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for name, value in query:
        if name.startswith("config."):
            key = name.removeprefix("config.")
            field = fields.get(key)
            if field is not None and field.secret:
                raise InvalidInput(
                    f"{name} is a secret: send it in the body of POST "
                    f"/v1/oauth/{element.key}/authorize, never in a URL",
                    field=name,
                )
            config[key] = _typed(value, field.type if field is not None else "string", name)
        elif name in ("name", "redirect_after"):
            values[name] = value
        else:
            raise InvalidInput(
                f"unknown parameter {name!r}: this call takes name, redirect_after and "
                "config.<field>",
                field=name,
            )
    try:
        return AuthorizationRequest.model_validate({**values, "config": config})
    except ValueError as exc:
        raise InvalidInput(f"invalid authorization request: {exc}", field="name") from None


def _typed(value: str, kind: str, where: str) -> Any:
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(f"{where} must be an integer", field=where) from None
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise InvalidInput(f"{where} must be true or false", field=where)
        return value.lower() == "true"
    return value


def authorize_section(element: ElementDefinition) -> CodeFlow:
    """The element's authorization-code flow (`auth.authorize`), or InvalidInput."""
    flow = code_flow(element.auth)
    if flow is None:
        raise InvalidInput(
            f"element {element.key!r} does not connect through OAuth2 authorization code",
            field="element",
        )
    return flow


async def connect_config(
    hub: Hub, element: ElementDefinition, given: dict[str, Any]
) -> dict[str, Any]:
    """The instance config the flow runs with: the caller's, plus the hub's OAuth app for a
    built-in element where the caller brings none. Checked as `POST /v1/instances` checks
    it, with a stand-in for the token the vendor has yet to issue."""
    flow = authorize_section(element)
    for name in flow.vendor_fields:
        if name in given:
            raise InvalidInput(
                f"config.{name} comes from the vendor once the authorization succeeds",
                field=f"config.{name}",
            )
    config = {**_hub_app_config(hub, element, given), **given}
    for role, template in (("client_id", flow.client_id), ("client_secret", flow.client_secret)):
        field_name = config_field(template)
        if field_name is not None and not config.get(field_name):
            hint = (
                f" (or set INTERLINK_OAUTH_{oauth_app_name(element.key)}_CLIENT_ID and "
                "_CLIENT_SECRET on the hub)"
                if _is_builtin(element)
                else ""
            )
            raise InvalidInput(
                f"config.{field_name} is required: the {role} of your OAuth app at the "
                f"vendor{hint}",
                field=f"config.{field_name}",
            )
    await split_config(
        element,
        {**config, flow.stored_field: "pending"},
        allow_private=hub.settings.allow_private_networks,
    )
    return config


def _hub_app_config(hub: Hub, element: ElementDefinition, given: dict[str, Any]) -> dict[str, Any]:
    """The hub-level OAuth app, for built-in elements only: a tenant's own element names
    its own token URL, and the hub's client secret must never be sent there."""
    if not _is_builtin(element):
        return {}
    app = hub.settings.oauth_app(element.key)
    flow = authorize_section(element)
    id_field, secret_field = config_field(flow.client_id), config_field(flow.client_secret)
    if app is None or id_field is None or secret_field is None:
        return {}
    if given.get(id_field) or given.get(secret_field):
        return {}  # the organization brings its own app, whole
    return {id_field: app.client_id, secret_field: app.client_secret.get_secret_value()}


def _is_builtin(element: ElementDefinition) -> bool:
    return catalog.builtin_elements().get(element.key) is element


def _authorize_url(
    flow: CodeFlow,
    config: dict[str, Any],
    redirect_uri: str,
    state: str,
    verifier: str | None,
) -> str:
    authorize = flow.authorize
    base = render(authorize.url, config)
    # Only the browser goes there, but it must be a web address, not `javascript:`.
    check_url_syntax(base, allow_private=True, field="auth.authorize.url")
    params: dict[str, str] = {
        name: render(value, config) for name, value in authorize.params.items()
    }
    params.update(
        response_type="code",
        client_id=render(flow.client_id, config),
        redirect_uri=redirect_uri,
        state=state,
    )
    if authorize.scopes:
        params["scope"] = authorize.scope_separator.join(authorize.scopes)
    if verifier is not None:
        params.update(code_challenge=pkce_challenge(verifier), code_challenge_method="S256")
    return str(httpx.URL(base).copy_merge_params(params))


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- the callback -----------------------------------------------------------------------


async def complete_authorization(
    hub: Hub,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    error_description: str | None,
    query: list[tuple[str, str]] | None = None,
) -> CompletedAuthorization:
    """Spends the state, exchanges the code and creates the instance; or AuthorizationFailed
    with nothing created. `query` is the callback's whole query, for a vendor that signs it."""
    row, request = await _claim(hub, state)
    failure = _Failure(hub, row.id, request.get("redirect_after"))
    if error is not None:
        code_name = error if _ERROR_CODE.match(error) else "access_denied"
        said = f": {_vendor_text(error_description)}" if error_description else ""
        raise await failure(
            400,
            "Authorization refused",
            f"the vendor answered {code_name}{said}; nothing was created",
            code=code_name,
        )
    if not code:
        raise await failure(
            400,
            "Missing code",
            "the callback carries no authorization code",
            code="invalid_request",
        )
    try:
        async with hub.database.sessions() as session:
            element = await catalog.find_element(session, row.organization_id, row.element_key)
        config = await connect_config(hub, element, request["config"])
    except InterlinkError as exc:
        raise await failure(400, "Cannot connect", str(exc), code="invalid_request") from None
    flow = authorize_section(element)
    if not callback_signed(flow, config, query or []):
        raise await failure(
            400,
            "Invalid callback signature",
            "the callback's signature does not match the app's client secret; nothing was created",
            code="invalid_request",
        )
    tokens = await _exchange(hub, element, config, code, row.redirect_uri, request, failure)
    # A refresh-token element stores the refresh token in its config and the access token
    # (with its expiry) beside it; a bearer or api_key element, the access token alone.
    stored: dict[str, Any] = {flow.access_token_field: tokens.access_token}
    beside: dict[str, Any] = {}
    if flow.refresh_token_field is not None and flow.expires_at_field is not None:
        expires_at = (
            None if tokens.expires_in is None else math.floor(time.time() + tokens.expires_in)
        )
        stored = {flow.refresh_token_field: tokens.refresh_token}
        beside = {flow.access_token_field: tokens.access_token, flow.expires_at_field: expires_at}
    new = instances.NewInstance(
        element=element.key,
        name=request["name"],
        config={**config, **stored},
        events=EventsSettings.model_validate(request["events"]),
    )
    try:
        async with hub.database.transaction() as session:
            instance = await instances.create_instance(hub, session, row.organization_id, new)
            if beside:
                credentials = hub.secrets.decrypt_json(instance.credentials)
                credentials.update(beside)
                instance.credentials = hub.secrets.encrypt_json(credentials)
            instance.auth_state, instance.auth_checked_at = "ok", utcnow()
            await session.execute(
                update(OAuthAuthorization)
                .where(OAuthAuthorization.id == row.id)
                .values(status="completed", instance_id=instance.id)
            )
            await session.flush()
            description = await instances.describe_instance(hub, session, instance)
    except InterlinkError as exc:
        raise await failure(400, "Cannot connect", str(exc), code="invalid_request") from None
    # Whoever holds the browser sees this answer: the organization's signing secret is
    # read with its API key (GET /v1/instances/{id}), never here.
    description["events"].pop("signing_secret", None)
    logger.info(
        "OAuth authorization completed",
        extra={"authorization": row.id, "element": element.key, "instance": instance.id},
    )
    return CompletedAuthorization(row.id, description, request.get("redirect_after"))


@dataclass(frozen=True)
class _Tokens:
    access_token: str
    refresh_token: str | None  # always there for a refresh-token flow; None otherwise
    expires_in: float | None


async def _exchange(
    hub: Hub,
    element: ElementDefinition,
    config: dict[str, Any],
    code: str,
    redirect_uri: str,
    request: dict[str, Any],
    failure: _Failure,
) -> _Tokens:
    flow = authorize_section(element)
    redactor = Redactor([code])
    token_url = render(flow.token_url, config)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if request.get("code_verifier"):
        form["code_verifier"] = request["code_verifier"]
    try:
        await check_url(token_url, allow_private=hub.settings.allow_private_networks)
        client = authorization_code_client(element, config, redactor=redactor)
        async with httpx.AsyncClient(
            transport=hub.vendor_transport(),
            follow_redirects=False,
            timeout=hub.settings.vendor_timeout_seconds,
        ) as http:
            answer = await http.send(client.token_request(form, httpx.Request("POST", token_url)))
            tokens = await client.read_tokens(answer)
    except VendorAuthError as exc:
        said = _vendor_text(redactor(exc.vendor_message or f"HTTP {exc.status}"))
        raise await failure(
            400,
            "Authorization failed",
            f"the vendor refused the authorization code: {said}; nothing was created",
            code="invalid_grant",
        ) from None
    except (VendorError, httpx.HTTPError) as exc:
        said = _vendor_text(redactor(str(exc) or type(exc).__name__))
        raise await failure(
            502,
            "Vendor unavailable",
            f"the vendor's token endpoint did not answer usefully: {said}",
            code="temporarily_unavailable",
        ) from None
    except InterlinkError as exc:  # the token URL is outside what the hub may reach
        raise await failure(400, "Cannot connect", str(exc), code="invalid_request") from None
    if flow.refresh_token_field is None:
        # The access token is used as it is, until the vendor refuses it.
        if tokens.refresh_token is not None or tokens.expires_in is not None:
            logger.warning(
                "OAuth token answer has a refresh token or expiry the element does not use",
                extra={"element": element.key, "expires_in": tokens.expires_in},
            )
        return _Tokens(tokens.access_token, None, None)
    if tokens.refresh_token is None:
        raise await failure(
            502,
            "No refresh token",
            "the vendor issued no refresh token (does the element ask for offline access?); "
            "nothing was created",
            code="invalid_grant",
        )
    return _Tokens(tokens.access_token, tokens.refresh_token, tokens.expires_in)


def callback_signed(flow: CodeFlow, config: dict[str, Any], query: list[tuple[str, str]]) -> bool:
    """Whether the callback's query carries the signature the element's vendor makes."""
    if flow.authorize.callback_signature == "none":
        return True
    # Shopify: hex HMAC-SHA256 of the other parameters, sorted and form-encoded, keyed
    # with the app's client secret.
    given = [value for name, value in query if name == "hmac"]
    if len(given) != 1:
        return False
    message = urlencode(sorted((name, value) for name, value in query if name != "hmac"))
    secret = render(flow.client_secret, config).encode()
    expected = hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given[0].lower().encode())


async def _claim(hub: Hub, state: str | None) -> tuple[OAuthAuthorization, dict[str, Any]]:
    """The pending authorization of `state`, spent now: a state works once, whatever follows."""
    if not state:
        raise AuthorizationFailed(
            400, "Missing state", "the callback carries no state", code="invalid_request"
        )
    now = utcnow()
    async with hub.database.transaction() as session:
        row = await session.scalar(
            select(OAuthAuthorization).where(OAuthAuthorization.state_hash == _state_hash(state))
        )
        if row is None:
            raise AuthorizationFailed(
                400,
                "Unknown authorization",
                "this state belongs to no authorization: start again from "
                "/v1/oauth/{element}/authorize",
                code="invalid_request",
            )
        if row.used_at is not None:
            raise AuthorizationFailed(
                400,
                "Authorization already used",
                "this state was used already; every authorization works once",
                code="invalid_request",
                authorization_id=row.id,
            )
        if row.expires_at <= now:
            raise AuthorizationFailed(
                400,
                "Authorization expired",
                "this authorization expired: start again from /v1/oauth/{element}/authorize",
                code="invalid_request",
                authorization_id=row.id,
            )
        spent = await session.execute(
            update(OAuthAuthorization)
            .where(OAuthAuthorization.id == row.id, OAuthAuthorization.used_at.is_(None))
            .values(used_at=now, status="exchanging")
        )
        if getattr(spent, "rowcount", 0) != 1:  # a concurrent callback won
            raise AuthorizationFailed(
                400,
                "Authorization already used",
                "this state was used already; every authorization works once",
                code="invalid_request",
                authorization_id=row.id,
            )
        request = hub.secrets.decrypt_json(row.request)
        session.expunge(row)
    return row, request


class _Failure:
    """Records why an authorization failed and builds the error to raise."""

    def __init__(self, hub: Hub, authorization_id: str, redirect_after: str | None) -> None:
        self._hub = hub
        self._id = authorization_id
        self._redirect_after = redirect_after

    async def __call__(
        self, status: int, title: str, detail: str, *, code: str
    ) -> AuthorizationFailed:
        async with self._hub.database.transaction() as session:
            await session.execute(
                update(OAuthAuthorization)
                .where(OAuthAuthorization.id == self._id)
                .values(status="failed", error=f"{title}: {detail}")
            )
        logger.info(
            "OAuth authorization failed",
            extra={"authorization": self._id, "reason": title},
        )
        return AuthorizationFailed(
            status,
            title,
            detail,
            code=code,
            redirect_after=self._redirect_after,
            authorization_id=self._id,
        )


# --- reading back -----------------------------------------------------------------------


async def describe_authorization(
    session: AsyncSession, organization_id: str, authorization_id: str
) -> dict[str, Any]:
    row = await session.scalar(
        select(OAuthAuthorization).where(
            OAuthAuthorization.id == authorization_id,
            OAuthAuthorization.organization_id == organization_id,
        )
    )
    if row is None:
        raise NotFound(f"no authorization {authorization_id!r}")
    status = row.status
    if status == "pending" and row.expires_at <= utcnow():
        status = "expired"
    return {
        "id": row.id,
        "element": row.element_key,
        "status": status,
        "instance_id": row.instance_id,
        "error": row.error,
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
    }


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _vendor_text(text: str | None) -> str:
    """A vendor's words, made safe to repeat: one line, bounded."""
    flat = " ".join((text or "").split())
    return flat[:MAX_VENDOR_TEXT]


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
