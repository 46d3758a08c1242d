"""A HubSpot CRM v3 simulator: contacts, companies, deals, OAuth tokens and v3-signed webhooks.

It behaves as HubSpot documents it, for what the `hubspot` element uses
(https://developers.hubspot.com/docs/api/crm/understanding-the-crm, …/crm/search,
…/working-with-oauth, …/usage-details, …/error-handling, …/webhooks):

- OAuth: `POST /oauth/v1/token` (form) with `grant_type=refresh_token` (or
  `authorization_code`) and the app's `client_id`/`client_secret` answers `{access_token,
  refresh_token, expires_in, token_type}`; HubSpot's refresh tokens do not rotate. A wrong
  refresh token answers 400 `{"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown
  refresh token"}`, a wrong client 400 `BAD_CLIENT_ID`/`BAD_CLIENT_SECRET`. API calls take
  `Authorization: Bearer <access token>`; anything else is 401 `INVALID_AUTHENTICATION`.
- Records `{id, properties, createdAt, updatedAt, archived}` (ids are numeric strings;
  property values strings); `GET /crm/v3/objects/{object}` with `limit` (10 by default,
  100 at most), `after`, `properties` (comma-separated; default a few), `archived=true`
  (the archived records, with `archivedAt`), in id order; `paging.next.after` while more
  follow. Get, create (`{"properties"}`), update (PATCH), archive (DELETE, 204); an
  archived or unknown id answers 404 `OBJECT_NOT_FOUND`.
- `POST /crm/v3/objects/{object}/search`: `filterGroups` (OR of ANDs; EQ, NEQ, GT, GTE,
  LT, LTE, HAS_PROPERTY), `sorts`, `properties`, `limit` (200 at most), `after` (an
  offset); archived records are never found. At most `search_cap` (10,000) results: a
  page that reaches past them answers 400, as HubSpot does.
- Batches `…/batch/create|update|upsert|archive`: 100 inputs at most; every input is
  checked on its own: 201 (all created) or 200 when all succeed, else 207 Multi-Status with
  `errors` (`{status, category, message, context: {ids | objectWriteTraceId}}`) beside
  the results; results echo each input's `objectWriteTraceId`. Upsert takes
  `idProperty` (a unique property: contacts' email) and answers `new` per result.
- Errors `{"status": "error", "message", "correlationId", "category"}`: an invalid email
  400 `VALIDATION_ERROR`, a duplicate email 409 `CONFLICT` ("Contact already exists.
  Existing ID: …"), an unknown property 400 `VALIDATION_ERROR`.
- Rate limits: every answer carries `X-HubSpot-RateLimit-Max`, `-Remaining`,
  `-Interval-Milliseconds`, `-Daily`, `-Daily-Remaining`; past `limit_per_interval`
  calls in the interval, 429 `{"status": "error", "errorType": "RATE_LIMIT", "policyName":
  "TEN_SECONDLY_ROLLING", …}`; `throttle(n)` makes the next n calls answer it.
- Webhooks: every change posts `[{eventId, subscriptionId, portalId, appId, occurredAt,
  subscriptionType: "contact.creation"|"contact.propertyChange"|"contact.deletion",
  attemptNumber, objectId, changeSource, propertyName?, propertyValue?}]` to each
  subscribed URL, signed `X-HubSpot-Signature-v3` (base64 HMAC-SHA256 of method + URI +
  body + timestamp, keyed with the app's client secret) and `X-HubSpot-Request-Timestamp`
  (unix ms).

Simplified: a few properties per object; no associations, pipelines or owners; the search
index has no lag; times come from the real clock in milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
AUTH_FAILURE = "missing or unknown refresh token"
INVALID_TOKEN = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
SEARCH_CAP = 10_000
MAX_LIMIT = 100
MAX_SEARCH_LIMIT = 200
MAX_BATCH = 100
KINDS = {"contacts": "contact", "companies": "company", "deals": "deal"}
PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": (
        "email",
        "firstname",
        "lastname",
        "phone",
        "company",
        "jobtitle",
        "lifecyclestage",
    ),
    "companies": ("name", "domain", "industry", "phone", "city", "country", "numberofemployees"),
    "deals": ("dealname", "amount", "dealstage", "pipeline", "closedate"),
}
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
DEFAULTS: dict[str, tuple[str, ...]] = {
    "contacts": ("email", "firstname", "lastname"),
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "dealstage", "pipeline", "closedate"),
}
UNIQUE = {"contacts": ("email",)}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def modified_property(object_name: str) -> str:
    return MODIFIED.get(object_name, "hs_lastmodifieddate")


def sign(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The `X-HubSpot-Signature-v3` value of a post."""
    message = f"{method}{uri}".encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float,
    now: float | None = None,
) -> bool:
    """Whether the post's headers sign it with `secret`, within `tolerance` seconds."""
    signature, stamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not stamp or not stamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamp) / 1000) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, method, uri, body, stamp), signature)


def iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class HubSpotError(Exception):
    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "status": "error",
            "message": message,
            "correlationId": secrets.token_hex(8),
            "category": category,
            **extra,
        }


def not_found(object_name: str, record_id: str) -> HubSpotError:
    return HubSpotError(
        404, f"resource not found: {KINDS[object_name]} {record_id}", "OBJECT_NOT_FOUND"
    )


class HubSpotClock:
    """Unix milliseconds, never going back (changes in one millisecond share it)."""

    def __init__(self) -> None:
        self._last = 0
        self._offset = 0

    def now(self) -> int:
        self._last = max(self._last, int(time.time() * 1000) + self._offset)
        return self._last

    def freeze(self) -> None:
        """Stops the clock where it is (until `advance`): changes then share one time."""
        self._offset = self._last - int(time.time() * 1000) - 10**9

    def advance(self, millis: int = 1) -> None:
        """Moves the clock `millis` forward (tests that need distinct or shared times)."""
        self._offset += millis
        self._last += millis


@dataclass
class Subscription:
    url: str
    secret: str


@dataclass
class HubSpotStore:
    clock: HubSpotClock = field(default_factory=HubSpotClock)
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in KINDS}
    )
    subscriptions: list[Subscription] = field(default_factory=list)
    outbox: asyncio.Queue[dict[str, Any]] | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(101))
    _events: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    # --- reads --------------------------------------------------------------------------

    def live(self, object_name: str) -> list[dict[str, Any]]:
        return [r for r in self._collection(object_name).values() if not r["archived"]]

    def archived(self, object_name: str) -> list[dict[str, Any]]:
        return [r for r in self._collection(object_name).values() if r["archived"]]

    def snapshot(self, object_name: str) -> list[dict[str, Any]]:
        return [_copy(record) for record in self.live(object_name)]

    def get(self, object_name: str, record_id: str) -> dict[str, Any]:
        record = self._collection(object_name).get(record_id)
        if record is None or record["archived"]:
            raise not_found(object_name, record_id)
        return record

    def find(self, object_name: str, name: str, value: str) -> dict[str, Any] | None:
        for record in self.live(object_name):
            if record["properties"].get(name) == value:
                return record
        return None

    # --- writes -------------------------------------------------------------------------

    def create(self, object_name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        values = self._checked(object_name, properties, None)
        now = self.clock.now()
        record_id = str(next(self._ids))
        record = {
            "id": record_id,
            "properties": {
                **values,
                "createdate": iso(now),
                modified_property(object_name): str(now),
                "hs_object_id": record_id,
            },
            "createdAt": iso(now),
            "updatedAt": iso(now),
            "archived": False,
        }
        self._collection(object_name)[record_id] = record
        self._publish(object_name, "creation", record)
        return _copy(record)

    def update(
        self, object_name: str, record_id: str, properties: Mapping[str, Any]
    ) -> dict[str, Any]:
        record = self.get(object_name, record_id)
        values = self._checked(object_name, properties, record_id)
        now = self.clock.now()
        record["properties"].update(values)
        record["properties"][modified_property(object_name)] = str(now)
        record["updatedAt"] = iso(now)
        for name, value in values.items():
            self._publish(object_name, "propertyChange", record, name, value)
        return _copy(record)

    def delete(self, object_name: str, record_id: str) -> None:
        record = self.get(object_name, record_id)
        now = self.clock.now()
        record.update(archived=True, archivedAt=iso(now), updatedAt=iso(now))
        self._publish(object_name, "deletion", record)

    def _checked(
        self, object_name: str, properties: Mapping[str, Any], record_id: str | None
    ) -> dict[str, str]:
        if not isinstance(properties, Mapping):
            raise HubSpotError(400, "properties must be an object", "VALIDATION_ERROR")
        unknown = sorted(set(properties) - set(PROPERTIES[object_name]))
        if unknown:
            raise HubSpotError(
                400,
                f'Property values were not valid: [{{"isValid":false,"message":"Property '
                f'\\"{unknown[0]}\\" does not exist","error":"PROPERTY_DOESNT_EXIST",'
                f'"name":"{unknown[0]}"}}]',
                "VALIDATION_ERROR",
            )
        values = {name: "" if value is None else _text(value) for name, value in properties.items()}
        email = values.get("email")
        if object_name == "contacts" and email:
            if not _EMAIL.match(email):
                raise HubSpotError(
                    400,
                    f'Property values were not valid: [{{"isValid":false,"message":"Email '
                    f'address {email} is invalid","error":"INVALID_EMAIL","name":"email"}}]',
                    "VALIDATION_ERROR",
                )
            existing = self.find(object_name, "email", email)
            if existing is not None and existing["id"] != record_id:
                raise HubSpotError(
                    409, f"Contact already exists. Existing ID: {existing['id']}", "CONFLICT"
                )
        return values

    def _collection(self, object_name: str) -> dict[str, dict[str, Any]]:
        if object_name not in KINDS:
            raise HubSpotError(
                400, f"Unable to infer object type from: {object_name}", "VALIDATION_ERROR"
            )
        return self.records[object_name]

    def _publish(
        self,
        object_name: str,
        change: str,
        record: dict[str, Any],
        name: str | None = None,
        value: str | None = None,
    ) -> None:
        if self.outbox is None or not self.subscriptions:
            return
        event: dict[str, Any] = {
            "eventId": next(self._events),
            "subscriptionId": 4242,
            "portalId": 62515,
            "appId": 1160452,
            "occurredAt": self.clock.now(),
            "subscriptionType": f"{KINDS[object_name]}.{change}",
            "attemptNumber": 0,
            "objectId": int(record["id"]),
            "changeSource": "CRM",
        }
        if name is not None:
            event.update(propertyName=name, propertyValue=value)
        self.outbox.put_nowait(event)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _copy(record: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(record))  # type: ignore[no-any-return]


def seed(store: HubSpotStore, count: int) -> None:
    for number in range(1, count + 1):
        store.create(
            "contacts",
            {
                "email": f"seed{number}@example.com",
                "firstname": f"Seed {number}",
                "lastname": "Contact",
            },
        )
        store.create("companies", {"name": f"Seed Company {number}", "domain": f"s{number}.test"})
        store.create("deals", {"dealname": f"Seed Deal {number}", "amount": str(number * 100)})


# --- the HTTP API --------------------------------------------------------------------------


class HubSpotSimulator:
    """The account's HTTP API over a store; `app()` is what `running_hubspot` serves."""

    def __init__(
        self,
        store: HubSpotStore,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        limit_per_interval: int = 1000,
        interval_ms: int = 10_000,
        search_cap: int = SEARCH_CAP,
    ) -> None:
        self.store = store
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.limit_per_interval = limit_per_interval
        self.interval_ms = interval_ms
        self.search_cap = search_cap
        self.access_tokens: set[str] = set()
        self.requests: list[httpx.Request] = []  # every authenticated call, body read
        self.grants: list[str] = []
        self._window: list[float] = []
        self._throttled = 0

    def throttle(self, times: int = 1) -> None:
        """The next `times` calls answer 429 TEN_SECONDLY_ROLLING."""
        self._throttled = times

    def app(self) -> Starlette:
        base = "/crm/v3/objects/{object}"
        return Starlette(
            routes=[
                Route("/oauth/v1/token", self._token, methods=["POST"]),
                Route(f"{base}/search", self._search, methods=["POST"]),
                Route(f"{base}/batch/{{action}}", self._batch, methods=["POST"]),
                Route(base, self._collection, methods=["GET", "POST"]),
                Route(f"{base}/{{record_id}}", self._record, methods=["GET", "PATCH", "DELETE"]),
            ]
        )

    # --- answers, auth, the rate limit --------------------------------------------------

    def _answer(self, status: int, body: Any = None) -> Response:
        remaining = max(self.limit_per_interval - len(self._window), 0)
        headers = {
            "X-HubSpot-RateLimit-Max": str(self.limit_per_interval),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.interval_ms),
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": "249000",
        }
        if body is None:
            return Response(status_code=status, headers=headers)
        return Response(
            orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
        )

    def _error(self, error: HubSpotError) -> Response:
        return self._answer(error.status, error.body)

    async def _refusal(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.access_tokens:
            return self._error(HubSpotError(401, INVALID_TOKEN, "INVALID_AUTHENTICATION"))
        body = await request.body()
        self.requests.append(
            httpx.Request(
                request.method, str(request.url), headers=request.headers.raw, content=body
            )
        )
        now = time.monotonic()
        self._window = [at for at in self._window if now - at < self.interval_ms / 1000]
        if self._throttled > 0 or len(self._window) >= self.limit_per_interval:
            self._throttled = max(self._throttled - 1, 0)
            return self._answer(
                429,
                {
                    "status": "error",
                    "message": "You have reached your ten_secondly_rolling limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": secrets.token_hex(8),
                    "policyName": "TEN_SECONDLY_ROLLING",
                    "groupName": "publicapi:oauth:1160452:62515",
                },
            )
        self._window.append(now)
        return None

    async def _json(self, request: Request) -> Any:
        try:
            return orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise HubSpotError(400, "Invalid input JSON on line 1", "VALIDATION_ERROR") from None

    # --- OAuth --------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        grant = form.get("grant_type", "")
        self.grants.append(grant)

        def refused(status: str, message: str) -> Response:
            body = {"status": status, "message": message, "correlationId": secrets.token_hex(8)}
            return Response(orjson.dumps(body), status_code=400, media_type="application/json")

        if not hmac.compare_digest(form.get("client_id", "").encode(), self.client_id.encode()):
            return refused("BAD_CLIENT_ID", "missing or unknown client id")
        secret = form.get("client_secret", "")
        if not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
            return refused("BAD_CLIENT_SECRET", "missing or invalid client secret")
        if grant != "refresh_token":
            return refused("BAD_GRANT_TYPE", f"unsupported grant_type {grant!r}")
        given = form.get("refresh_token", "")
        if not hmac.compare_digest(given.encode(), self.refresh_token.encode()):
            return refused("BAD_REFRESH_TOKEN", AUTH_FAILURE)
        access = f"CJ{secrets.token_urlsafe(24)}"
        self.access_tokens.add(access)
        body = {
            "token_type": "bearer",
            "refresh_token": self.refresh_token,  # HubSpot's refresh tokens do not rotate
            "access_token": access,
            "expires_in": 1800,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    # --- routes -------------------------------------------------------------------------

    async def _collection(self, request: Request) -> Response:
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        object_name = request.path_params["object"]
        try:
            if request.method == "POST":
                body = await self._json(request)
                properties = body.get("properties") if isinstance(body, dict) else None
                record = self.store.create(object_name, properties or {})
                return self._answer(201, shaped(record, object_name, None))
            return self._list(request, object_name)
        except HubSpotError as error:
            return self._error(error)

    async def _record(self, request: Request) -> Response:
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        object_name, record_id = request.path_params["object"], request.path_params["record_id"]
        try:
            if request.method == "DELETE":
                self.store.delete(object_name, record_id)
                return self._answer(204)
            if request.method == "PATCH":
                body = await self._json(request)
                properties = body.get("properties") if isinstance(body, dict) else None
                record = self.store.update(object_name, record_id, properties or {})
                return self._answer(200, shaped(record, object_name, None))
            record = self.store.get(object_name, record_id)
            wanted = _wanted(request.query_params.get("properties"))
            return self._answer(200, shaped(record, object_name, wanted))
        except HubSpotError as error:
            return self._error(error)

    def _list(self, request: Request, object_name: str) -> Response:
        params = request.query_params
        limit = _limit(params.get("limit"), 10, MAX_LIMIT)
        archived = params.get("archived", "false").lower() == "true"
        records = self.store.archived(object_name) if archived else self.store.live(object_name)
        records.sort(key=lambda r: int(r["id"]))
        after = params.get("after")
        if after:
            if not after.isdigit():
                raise HubSpotError(400, f"Invalid after value: {after}", "VALIDATION_ERROR")
            records = [r for r in records if int(r["id"]) > int(after)]
        page = records[:limit]
        wanted = _wanted(params.get("properties"))
        body: dict[str, Any] = {"results": [shaped(r, object_name, wanted) for r in page]}
        if len(records) > limit:
            body["paging"] = {"next": {"after": page[-1]["id"], "link": "?after=" + page[-1]["id"]}}
        return self._answer(200, body)

    async def _search(self, request: Request) -> Response:
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        object_name = request.path_params["object"]
        try:
            query = await self._json(request)
            if not isinstance(query, dict):
                raise HubSpotError(400, "Invalid search request", "VALIDATION_ERROR")
            limit = _limit(query.get("limit"), 10, MAX_SEARCH_LIMIT)
            after = int(str(query.get("after") or "0"))
            if after + limit > self.search_cap:
                raise HubSpotError(
                    400,
                    f"There was a problem with the request. Search results are limited to "
                    f"{self.search_cap} total results for any given query.",
                    "VALIDATION_ERROR",
                )
            groups = query.get("filterGroups") or []
            found = [r for r in self.store.live(object_name) if _matches(r, groups)]
            for sort in reversed(query.get("sorts") or []):
                name = sort.get("propertyName", "") if isinstance(sort, dict) else str(sort)
                descending = isinstance(sort, dict) and sort.get("direction") == "DESCENDING"
                found.sort(
                    key=lambda r, n=name: _sort_key(r["properties"].get(n)), reverse=descending
                )
            page = found[after : after + limit]
            wanted = query.get("properties") or None
            body: dict[str, Any] = {
                "total": len(found),
                "results": [shaped(r, object_name, wanted) for r in page],
            }
            if after + limit < len(found):
                body["paging"] = {"next": {"after": str(after + limit)}}
            return self._answer(200, body)
        except (ValueError, TypeError):
            return self._error(HubSpotError(400, "Invalid search request", "VALIDATION_ERROR"))
        except HubSpotError as error:
            return self._error(error)

    async def _batch(self, request: Request) -> Response:
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        object_name, action = request.path_params["object"], request.path_params["action"]
        try:
            if object_name not in KINDS or action not in ("create", "update", "upsert", "archive"):
                raise HubSpotError(404, f"no batch {action} for {object_name}", "OBJECT_NOT_FOUND")
            body = await self._json(request)
            inputs = body.get("inputs") if isinstance(body, dict) else None
            if not isinstance(inputs, list) or not inputs:
                raise HubSpotError(400, "inputs must be a non-empty list", "VALIDATION_ERROR")
            if len(inputs) > MAX_BATCH:
                raise HubSpotError(
                    400, f"Batch size must be at most {MAX_BATCH}", "VALIDATION_ERROR"
                )
            return self._batch_answer(object_name, action, inputs)
        except HubSpotError as error:
            return self._error(error)

    def _batch_answer(self, object_name: str, action: str, inputs: list[Any]) -> Response:
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        started = iso(self.store.clock.now())
        for item in inputs:
            item = item if isinstance(item, dict) else {}
            trace = item.get("objectWriteTraceId")
            try:
                result = self._batch_one(object_name, action, item)
            except HubSpotError as error:
                context: dict[str, list[str]] = {}
                if trace is not None:
                    context["objectWriteTraceId"] = [str(trace)]
                if item.get("id") is not None:
                    context["ids"] = [str(item["id"])]
                errors.append({**error.body, "context": context})
                continue
            if result is not None:
                if trace is not None:
                    result["objectWriteTraceId"] = str(trace)
                results.append(result)
        if action == "archive" and not errors:
            return self._answer(204)
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso(self.store.clock.now()),
        }
        if errors:
            answer.update(numErrors=len(errors), errors=errors)
            return self._answer(207, answer)
        return self._answer(201 if action == "create" else 200, answer)

    def _batch_one(
        self, object_name: str, action: str, item: dict[str, Any]
    ) -> dict[str, Any] | None:
        properties = item.get("properties") or {}
        if action == "create":
            return shaped(self.store.create(object_name, properties), object_name, None)
        record_id = str(item.get("id", ""))
        if action == "archive":
            self.store.delete(object_name, record_id)
            return None
        if action == "update":
            return shaped(self.store.update(object_name, record_id, properties), object_name, None)
        id_property = item.get("idProperty")
        if id_property not in UNIQUE.get(object_name, ()):
            raise HubSpotError(
                400, f"{id_property} is not a unique property of {object_name}", "VALIDATION_ERROR"
            )
        existing = self.store.find(object_name, id_property, record_id)
        if existing is None:
            created = self.store.create(object_name, {**properties, id_property: record_id})
            return {**shaped(created, object_name, None), "new": True}
        updated = self.store.update(object_name, existing["id"], properties)
        return {**shaped(updated, object_name, None), "new": False}


def _limit(value: Any, default: int, maximum: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise HubSpotError(400, f"Invalid limit: {value}", "VALIDATION_ERROR") from None
    if not 1 <= number <= maximum:
        raise HubSpotError(400, f"limit must be 1 to {maximum}", "VALIDATION_ERROR")
    return number


def _wanted(value: str | None) -> list[str] | None:
    return [name for name in value.split(",") if name] if value else None


def shaped(
    record: dict[str, Any], object_name: str, wanted: Iterable[str] | None
) -> dict[str, Any]:
    """The record as HubSpot answers it: the asked-for properties (and the few always sent)."""
    names = list(wanted) if wanted is not None else list(DEFAULTS[object_name])
    always = ("createdate", modified_property(object_name), "hs_object_id")
    shown = {
        name: record["properties"].get(name)
        for name in dict.fromkeys([*names, *always])
        if name in record["properties"] or name in PROPERTIES[object_name]
    }
    shaped = {
        "id": record["id"],
        "properties": shown,
        "createdAt": record["createdAt"],
        "updatedAt": record["updatedAt"],
        "archived": record["archived"],
    }
    if record.get("archivedAt"):
        shaped["archivedAt"] = record["archivedAt"]
    return shaped


def _sort_key(value: Any) -> tuple[int, Any]:
    text = "" if value is None else str(value)
    return (0, int(text)) if text.isdigit() else (1, text)


def _matches(record: dict[str, Any], groups: list[Any]) -> bool:
    if not groups:
        return True
    return any(
        all(_passes(record, f) for f in group.get("filters", []))
        for group in groups
        if isinstance(group, dict)
    )


def _passes(record: dict[str, Any], condition: Any) -> bool:
    if not isinstance(condition, dict):
        raise HubSpotError(400, "Invalid filter", "VALIDATION_ERROR")
    name, operator = condition.get("propertyName"), condition.get("operator")
    actual = record["properties"].get(name)
    if operator == "HAS_PROPERTY":
        return actual not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return actual in (None, "")
    if actual in (None, ""):
        return False
    expected = str(condition.get("value"))
    if operator == "EQ":
        return str(actual).lower() == expected.lower()
    if operator == "NEQ":
        return str(actual).lower() != expected.lower()
    left, right = _sort_key(actual), _sort_key(expected)
    comparisons = {
        "GT": left > right,
        "GTE": left >= right,
        "LT": left < right,
        "LTE": left <= right,
    }
    if operator not in comparisons:
        raise HubSpotError(400, f"Unsupported operator {operator}", "VALIDATION_ERROR")
    return comparisons[operator]


# --- running it ---------------------------------------------------------------------------


@dataclass
class RunningHubSpot:
    url: str
    store: HubSpotStore
    simulator: HubSpotSimulator

    def subscribe(self, url: str, secret: str) -> None:
        """The app's target URL, for every subscription type; `secret` is its client secret."""
        self.store.subscriptions.append(Subscription(url, secret))


@contextlib.asynccontextmanager
async def running_hubspot(
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    seed_count: int = 12,
    store: HubSpotStore | None = None,
    **options: Any,
) -> AsyncIterator[RunningHubSpot]:
    """A seeded account on a free loopback port, posting its webhooks, for the block's length."""
    store = store or HubSpotStore()
    seed(store, seed_count)
    store.outbox = asyncio.Queue()
    simulator = HubSpotSimulator(
        store,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        **options,
    )
    async with (
        httpx.AsyncClient(timeout=5.0, trust_env=False) as http,
        serving(simulator.app()) as url,
    ):
        sender = asyncio.create_task(_deliver(store, http), name="hubspot webhooks")
        try:
            yield RunningHubSpot(url, store, simulator)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


async def _deliver(store: HubSpotStore, http: httpx.AsyncClient) -> None:
    """Posts each event (as a one-event array) to every subscription, in order."""
    assert store.outbox is not None
    while True:
        event = await store.outbox.get()
        body = orjson.dumps([event])
        for subscription in list(store.subscriptions):
            for attempt in range(3):
                stamp = str(int(time.time() * 1000))
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
                    TIMESTAMP_HEADER: stamp,
                    SIGNATURE_HEADER: sign(
                        subscription.secret, "POST", subscription.url, body, stamp
                    ),
                }
                with contextlib.suppress(httpx.HTTPError):
                    answer = await http.post(subscription.url, content=body, headers=headers)
                    if answer.is_success:
                        break
                await asyncio.sleep(0.05 * (attempt + 1))
