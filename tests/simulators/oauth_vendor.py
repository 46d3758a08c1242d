"""An OAuth2 vendor on loopback: the authorization-code flow and one protected API.

It plays the vendor side of connecting through OAuth as the RFCs describe it:
- `GET /oauth/authorize` (RFC 6749 §4.1.1): checks the client and its registered
  redirect URI (a mismatch is an error page, never a redirect), then "asks the user", who
  answers as the test said (`consent`): back to the redirect URI with a `code` and the
  `state`, or with `error=access_denied` (§4.1.2.1). With `require_pkce`, an S256
  `code_challenge` is required (RFC 7636 §4.3).
- `POST /oauth/token`: `authorization_code` (§4.1.3: the code once, the same client and
  redirect URI, the PKCE verifier whose S256 is the challenge) and `refresh_token` (§6,
  rotated: the old refresh token is spent); client authentication in the body or by HTTP
  Basic; errors as §5.2 JSON (`invalid_client` 401, `invalid_grant` 400, …).
- `GET /api/contacts`: a bearer-protected API; an unknown or expired access token is
  401 `invalid_token` (RFC 6750 §3.1).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlencode

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving

CODE_TTL_SECONDS = 60


@dataclass
class IssuedCode:
    client_id: str
    redirect_uri: str
    challenge: str | None
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class Issued:
    """The tokens of one token answer, as the vendor handed them out."""

    grant: str
    access_token: str
    refresh_token: str


@dataclass
class OAuthVendor:
    clients: dict[str, str]
    redirect_uris: set[str] = field(default_factory=set)
    require_pkce: bool = True
    access_ttl: int = 3600
    consent: Literal["allow", "deny"] = "allow"
    url: str = ""
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    access_tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    # Every token request's grant type, whatever the outcome, and what was handed out.
    grants: list[str] = field(default_factory=list)
    issued: list[Issued] = field(default_factory=list)
    # The bearer token of every API call, in order.
    api_tokens: list[str] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    def expire(self, access_token: str) -> None:
        """The token's lifetime is over at the vendor."""
        self.access_tokens[access_token] = 0.0

    def secrets_handed_out(self) -> list[str]:
        """Every code and token this vendor issued: none may show up in the hub's output."""
        tokens = [t for issued in self.issued for t in (issued.access_token, issued.refresh_token)]
        return [*self.codes, *tokens]

    # --- the HTTP API ---------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth/authorize", self._authorize, methods=["GET"]),
                Route("/oauth/token", self._token, methods=["POST"]),
                Route("/api/contacts", self._contacts, methods=["GET"]),
            ]
        )

    async def _authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.authorize_requests.append(query)
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        if client_id not in self.clients:
            return Response("unknown client_id", status_code=400, media_type="text/plain")
        if redirect_uri not in self.redirect_uris:
            # §4.1.2.1: never redirect to an unregistered URI.
            return Response("redirect_uri mismatch", status_code=400, media_type="text/plain")
        state = query.get("state")

        def back(**params: str) -> Response:
            if state is not None:
                params["state"] = state
            return Response(
                status_code=302, headers={"Location": f"{redirect_uri}?{urlencode(params)}"}
            )

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type")
        challenge = query.get("code_challenge")
        if self.require_pkce and (not challenge or query.get("code_challenge_method") != "S256"):
            return back(error="invalid_request", error_description="PKCE S256 is required")
        if self.consent == "deny":
            return back(error="access_denied", error_description="The user denied the request")
        code = secrets.token_urlsafe(24)
        self.codes[code] = IssuedCode(
            client_id,
            redirect_uri,
            challenge,
            query.get("scope", ""),
            time.time() + CODE_TTL_SECONDS,
        )
        return back(code=code)

    async def _token(self, request: Request) -> Response:
        form = dict((await request.form()).items())
        values = {name: value for name, value in form.items() if isinstance(value, str)}
        grant = values.get("grant_type", "")
        self.grants.append(grant)
        client_id = self._authenticated_client(request, values)
        if client_id is None:
            return _oauth_error(401, "invalid_client", "client authentication failed")
        if grant == "authorization_code":
            return self._code_grant(client_id, values)
        if grant == "refresh_token":
            spent = values.get("refresh_token", "")
            if spent not in self.refresh_tokens:
                return _oauth_error(400, "invalid_grant", "the refresh token is invalid")
            self.refresh_tokens.discard(spent)  # rotation: a refresh token works once
            return self._tokens(grant)
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r}")

    def _authenticated_client(self, request: Request, form: dict[str, str]) -> str | None:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            pair = base64.b64decode(encoded).decode()
            raw_id, _, raw_secret = pair.partition(":")
            client_id, client_secret = unquote(raw_id), unquote(raw_secret)
        expected = self.clients.get(client_id or "")
        if expected is None or not hmac.compare_digest(
            (client_secret or "").encode(), expected.encode()
        ):
            return None
        return client_id

    def _code_grant(self, client_id: str, form: dict[str, str]) -> Response:
        issued = self.codes.get(form.get("code", ""))
        if issued is None or issued.used or issued.expires_at < time.time():
            return _oauth_error(400, "invalid_grant", "the authorization code is invalid")
        if issued.client_id != client_id:
            return _oauth_error(400, "invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != issued.redirect_uri:
            return _oauth_error(400, "invalid_grant", "redirect_uri does not match")
        if issued.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not verifier or not hmac.compare_digest(computed, issued.challenge):
                return _oauth_error(400, "invalid_grant", "PKCE verification failed")
        issued.used = True
        return self._tokens("authorization_code")

    def _tokens(self, grant: str) -> Response:
        access, refresh = f"at_{secrets.token_urlsafe(18)}", f"rt_{secrets.token_urlsafe(18)}"
        self.access_tokens[access] = time.time() + self.access_ttl
        self.refresh_tokens.add(refresh)
        self.issued.append(Issued(grant, access, refresh))
        body = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.access_ttl,
            "refresh_token": refresh,
        }
        return Response(
            orjson.dumps(body),
            media_type="application/json",
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    async def _contacts(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        self.api_tokens.append(token)
        if scheme.lower() != "bearer" or self.access_tokens.get(token, 0.0) < time.time():
            return Response(
                orjson.dumps({"error": "invalid_token", "error_description": "expired or unknown"}),
                status_code=401,
                media_type="application/json",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        contacts = [{"id": "1", "email": "ada@example.com"}, {"id": "2", "email": "bo@example.com"}]
        return Response(orjson.dumps({"results": contacts}), media_type="application/json")


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response(
        orjson.dumps({"error": error, "error_description": description}),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@contextlib.asynccontextmanager
async def running_oauth_vendor(**options: Any) -> AsyncIterator[OAuthVendor]:
    vendor = OAuthVendor(**options)
    async with serving(vendor.app()) as url:
        vendor.url = url
        yield vendor


ELEMENT_YAML = """\
key: {key}
name: OAuth CRM (test vendor)
base_url: "{{config.base_url}}"
config:
  - {{name: base_url, type: url}}
  - {{name: client_id, required: false}}
  - {{name: client_secret, secret: true, required: false}}
  - {{name: refresh_token, secret: true}}
auth:
  type: oauth2_refresh_token
  token_url: "{{config.base_url}}/oauth/token"
  client_id: "{{config.client_id}}"
  client_secret: "{{config.client_secret}}"
  refresh_token: "{{config.refresh_token}}"
  authorize:
    url: "{{config.base_url}}/oauth/authorize"
    scopes: [contacts.read, offline_access]
    pkce: true
    params: {{prompt: consent}}
objects:
  contacts:
    path: /api/contacts
    records_path: results
"""


def element_yaml(key: str = "oauthcrm") -> str:
    """The element of this vendor, as an organization would register it."""
    return ELEMENT_YAML.format(key=key)
