"""Starting a connection: the pending authorization and the vendor's authorize URL."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements import catalog
from interlink.elements.definition import CodeFlow, ElementDefinition, code_flow
from interlink.elements.format.auth import config_field
from interlink.elements.templates import render
from interlink.errors import InvalidInput
from interlink.hub import Hub
from interlink.ids import new_id
from interlink.security.outbound import check_url_syntax
from interlink.services.instance_config import EventsSettings, check_events, split_config
from interlink.services.oauth_connect.common import (
    CALLBACK_PATH,
    KEEP_EXPIRED,
    iso_time,
    state_hash,
)
from interlink.settings import oauth_app_name
from interlink.storage.models import OAuthAuthorization
from interlink.storage.types import utcnow

logger = logging.getLogger("interlink.services.oauth_connect")


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
            "expires_at": iso_time(self.expires_at),
        }


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
        state_hash=state_hash(state),
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
