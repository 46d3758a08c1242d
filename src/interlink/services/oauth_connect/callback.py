"""The callback: spend the state once, exchange the code, create the instance."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select, update

from interlink.elements import catalog
from interlink.elements.definition import CodeFlow, ElementDefinition
from interlink.elements.templates import render
from interlink.errors import InterlinkError
from interlink.hub import Hub
from interlink.security.outbound import check_url
from interlink.services import instances
from interlink.services.instance_config import EventsSettings
from interlink.services.oauth_connect.common import (
    ERROR_CODE,
    AuthorizationFailed,
    CompletedAuthorization,
    state_hash,
    vendor_text,
)
from interlink.services.oauth_connect.start import (
    authorize_section,
    connect_config,
)
from interlink.storage.models import OAuthAuthorization
from interlink.storage.types import utcnow
from interlink.vendor.auth import authorization_code_client
from interlink.vendor.errors import VendorAuthError, VendorError
from interlink.vendor.redaction import Redactor

logger = logging.getLogger("interlink.services.oauth_connect")


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
        code_name = error if ERROR_CODE.match(error) else "access_denied"
        said = f": {vendor_text(error_description)}" if error_description else ""
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
        said = vendor_text(redactor(exc.vendor_message or f"HTTP {exc.status}"))
        raise await failure(
            400,
            "Authorization failed",
            f"the vendor refused the authorization code: {said}; nothing was created",
            code="invalid_grant",
        ) from None
    except (VendorError, httpx.HTTPError) as exc:
        said = vendor_text(redactor(str(exc) or type(exc).__name__))
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
            select(OAuthAuthorization).where(OAuthAuthorization.state_hash == state_hash(state))
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
            raise _already_used(row.id)
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
            raise _already_used(row.id)
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


def _already_used(authorization_id: str) -> AuthorizationFailed:
    return AuthorizationFailed(
        400,
        "Authorization already used",
        "this state was used already; every authorization works once",
        code="invalid_request",
        authorization_id=authorization_id,
    )
