"""A Shopify Admin REST API simulator (version 2024-10): customers, orders and products.

It behaves as Shopify documents it, for what the `shopify` element uses
(https://shopify.dev/docs/api/admin-rest, usage/pagination, usage/rate-limits,
apps/build/webhooks/delivery-structure):

- `X-Shopify-Access-Token` authenticates every call; a wrong or missing token answers 401
  `{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}`.
- Lists answer `{"customers": [...]}` in id order. Paging is by cursor: the `Link` header
  holds the `rel="next"` and `rel="previous"` URLs, with `page_info` (opaque: it carries the
  first page's filters) and `limit` only. Next to `page_info` only `limit` and `fields` may
  be sent; any other parameter answers 400. `limit` is 50 by default and 250 at most.
- Filters: `updated_at_min`/`_max`, `created_at_min`/`_max` (inclusive), `ids`, `since_id`,
  `fields`; orders `status` (`open` by default: closed and cancelled orders are hidden
  unless `status=any`) and `financial_status`; products `vendor`, `product_type`, `status`,
  `title`, `handle`.
- Get, create (`POST {"customer": {...}}` → 201), update (`PUT`), delete (`DELETE` → 200
  `{}`); an unknown id answers 404 `{"errors": "Not Found"}`, a body without its wrapper 400
  `{"errors": {"customer": "Required parameter missing or invalid"}}`, an invalid record
  422 `{"errors": {"email": ["is invalid"]}}`.
- The leaky bucket: 40 calls, leaking 2 a second, per access token; every answer carries
  `X-Shopify-Shop-Api-Call-Limit: n/40`, and a call into a full bucket answers 429 with
  `Retry-After: 2.0`. `throttle(times, retry_after)` makes the next calls answer 429 too.
- Webhooks: `subscribe(url, secret)` (what an app's subscriptions do) posts every change as
  the topic's payload (the resource; `{"id": …}` for deletes), signed with
  `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body, keyed with the app's client
  secret), with `X-Shopify-Topic`, `X-Shopify-Webhook-Id`, `X-Shopify-Event-Id`,
  `X-Shopify-Triggered-At`, `X-Shopify-Shop-Domain` and `X-Shopify-API-Version`; in order,
  retried a few times (same webhook id) when the receiver does not answer 2xx.

- OAuth (https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/
  authorization-code-grant), for apps registered with `register_app`:
  `GET /admin/oauth/authorize` takes `client_id`, `scope` (comma-separated), `redirect_uri`
  (one of the app's allowed redirection URLs, else an error page), `state` and
  `grant_options[]` (`per-user`: an online token; none: offline). The merchant answers as
  `consent` says: installed, back to the redirect URI with `code`, `hmac`, `host`, `shop`,
  `state` and `timestamp` (`hmac`: hex HMAC-SHA256 of the other parameters, sorted and
  form-encoded, keyed with the client secret); or cancelled, which leaves the merchant on
  Shopify's page (no redirect). `POST /admin/oauth/access_token` (JSON or form:
  `client_id`, `client_secret`, `code`) answers an offline token `{"access_token",
  "scope"}` (no expiry, no refresh token); a code works once. An OAuth token is held to
  its scopes: a call outside them answers 403 ("requires merchant approval for … scope";
  `write_x` implies `read_x`).

Simplified: records hold a subset of Shopify's fields; an order's line items are kept as
sent; timestamps are whole seconds in the shop's zone (-04:00), on a clock the tests can
move forward (`clock.advance`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import itertools
import math
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving

API_VERSION = "2024-10"
SHOP_DOMAIN = "interlink-test.myshopify.com"
SHOP_ZONE = timezone(timedelta(hours=-4))
BUCKET_SIZE = 40
LEAK_PER_SECOND = 2.0
DEFAULT_LIMIT = 50
MAX_LIMIT = 250
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
AUTH_FAILURE = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume "
    "uninterrupted service."
)
# The object → its singular (the wrapper of one record, and the GraphQL id's type).
SINGULAR = {"customers": "customer", "orders": "order", "products": "product"}
GID_TYPES = {"customers": "Customer", "orders": "Order", "products": "Product"}
# Topics: orders/updated, but customers/update and products/update.
UPDATE_TOPICS = {"customers": "update", "orders": "updated", "products": "update"}
PAGING_PARAMS = frozenset({"page_info", "limit", "fields"})
COMMON_FILTERS = frozenset(
    {"ids", "since_id", "created_at_min", "created_at_max", "updated_at_min", "updated_at_max"}
)
OBJECT_FILTERS: dict[str, frozenset[str]] = {
    "customers": COMMON_FILTERS,
    "orders": COMMON_FILTERS | {"status", "financial_status", "fulfillment_status"},
    "products": COMMON_FILTERS | {"vendor", "product_type", "status", "title", "handle"},
}
WEBHOOK_ATTEMPTS = 3
WEBHOOK_RETRY_SECONDS = 0.05


def sign(secret: str, body: bytes) -> str:
    """`X-Shopify-Hmac-Sha256`: the base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(secret, body), header.strip())


class Invalid(Exception):
    """A record Shopify refuses: 422 `{"errors": {field: [messages]}}`."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class ShopClock:
    """The shop's clock: whole seconds in the shop's zone, which tests may move forward."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return (datetime.now(SHOP_ZONE) + self._offset).replace(microsecond=0)

    def timestamp(self) -> str:
        return self.now().isoformat()

    def advance(self, seconds: float = 1.0) -> None:
        self._offset += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Subscription:
    url: str
    secret: str


@dataclass
class Delivery:
    topic: str
    body: bytes
    triggered_at: str
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class ShopifyStore:
    """The shop's records and what happens when they change (webhooks queue here)."""

    def __init__(self, clock: ShopClock | None = None) -> None:
        self.clock = clock or ShopClock()
        self.records: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in SINGULAR}
        self._ids = itertools.count(7_264_000_000_001, 7)
        self._order_numbers = itertools.count(1001)
        self.subscriptions: list[Subscription] = []
        self.outbox: asyncio.Queue[Delivery] | None = None

    # --- reading ------------------------------------------------------------------------

    def snapshot(self, object_name: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(record) for record in self._collection(object_name).values()]

    def get(self, object_name: str, record_id: int) -> dict[str, Any]:
        record = self._collection(object_name).get(record_id)
        if record is None:
            raise KeyError(record_id)
        return copy.deepcopy(record)

    # --- writing ------------------------------------------------------------------------

    def create(self, object_name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        collection = self._collection(object_name)
        record_id = next(self._ids)
        now = self.clock.timestamp()
        record = _NEW[object_name](self, dict(fields))
        record.update(
            id=record_id,
            created_at=now,
            updated_at=now,
            admin_graphql_api_id=f"gid://shopify/{GID_TYPES[object_name]}/{record_id}",
        )
        _VALIDATE[object_name](self, record, record_id)
        collection[record_id] = record
        self._publish(object_name, "create", record)
        return copy.deepcopy(record)

    def update(self, object_name: str, record_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        collection = self._collection(object_name)
        if record_id not in collection:
            raise KeyError(record_id)
        changes = {k: v for k, v in fields.items() if k not in _READ_ONLY}
        record = {**collection[record_id], **changes, "updated_at": self.clock.timestamp()}
        _VALIDATE[object_name](self, record, record_id)
        collection[record_id] = record
        self._publish(object_name, UPDATE_TOPICS[object_name], record)
        return copy.deepcopy(record)

    def delete(self, object_name: str, record_id: int) -> None:
        collection = self._collection(object_name)
        if record_id not in collection:
            raise KeyError(record_id)
        del collection[record_id]
        self._publish(object_name, "delete", {"id": record_id})

    def _collection(self, object_name: str) -> dict[int, dict[str, Any]]:
        if object_name not in self.records:
            raise KeyError(object_name)
        return self.records[object_name]

    def _publish(self, object_name: str, action: str, payload: dict[str, Any]) -> None:
        if self.outbox is not None and self.subscriptions:
            delivery = Delivery(
                f"{object_name}/{action}", orjson.dumps(payload), self.clock.timestamp()
            )
            self.outbox.put_nowait(delivery)


# --- records: defaults and validation, per object ----------------------------------------

_READ_ONLY = frozenset({"id", "created_at", "updated_at", "admin_graphql_api_id"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _new_customer(store: ShopifyStore, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "email": None,
        "first_name": None,
        "last_name": None,
        "phone": None,
        "note": None,
        "tags": "",
        "state": "disabled",
        "verified_email": False,
        "orders_count": 0,
        "total_spent": "0.00",
        "currency": "USD",
        **fields,
    }


def _new_order(store: ShopifyStore, fields: dict[str, Any]) -> dict[str, Any]:
    number = next(store._order_numbers)
    items = fields.get("line_items")
    total = 0.0
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                total += float(item.get("price", 0) or 0) * int(item.get("quantity", 1) or 1)
    return {
        "email": None,
        "name": f"#{number}",
        "order_number": number,
        "note": None,
        "tags": "",
        "financial_status": "pending",
        "fulfillment_status": None,
        "currency": "USD",
        "total_price": f"{total:.2f}",
        "closed_at": None,
        "cancelled_at": None,
        "line_items": [],
        **fields,
    }


def _new_product(store: ShopifyStore, fields: dict[str, Any]) -> dict[str, Any]:
    title = fields.get("title")
    handle = re.sub(r"[^a-z0-9]+", "-", str(title or "").lower()).strip("-") or "product"
    taken = {record["handle"] for record in store.records["products"].values()}
    unique, suffix = handle, 1
    while unique in taken:
        unique, suffix = f"{handle}-{suffix}", suffix + 1
    return {
        "title": None,
        "body_html": None,
        "vendor": None,
        "product_type": "",
        "handle": unique,
        "status": "active",
        "tags": "",
        **fields,
    }


def _validate_customer(store: ShopifyStore, record: dict[str, Any], record_id: int) -> None:
    errors: dict[str, list[str]] = {}
    email = record.get("email")
    if email is not None:
        if not isinstance(email, str) or not _EMAIL.match(email):
            errors["email"] = ["is invalid"]
        elif any(
            other.get("email") == email and other_id != record_id
            for other_id, other in store.records["customers"].items()
        ):
            errors["email"] = ["has already been taken"]
    if not any(record.get(name) for name in ("email", "phone", "first_name", "last_name")):
        errors["base"] = ["Customer must have a name, phone number or email address"]
    if errors:
        raise Invalid(errors)


def _validate_order(store: ShopifyStore, record: dict[str, Any], record_id: int) -> None:
    items = record.get("line_items")
    if not isinstance(items, list) or not items:
        raise Invalid({"line_items": ["must have at least one line item"]})


def _validate_product(store: ShopifyStore, record: dict[str, Any], record_id: int) -> None:
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        raise Invalid({"title": ["can't be blank"]})
    if record.get("status") not in ("active", "archived", "draft"):
        raise Invalid({"status": ["is not included in the list"]})


_NEW: dict[str, Callable[[ShopifyStore, dict[str, Any]], dict[str, Any]]] = {
    "customers": _new_customer,
    "orders": _new_order,
    "products": _new_product,
}
_VALIDATE: dict[str, Callable[[ShopifyStore, dict[str, Any], int], None]] = {
    "customers": _validate_customer,
    "orders": _validate_order,
    "products": _validate_product,
}


def seed(store: ShopifyStore, count: int) -> None:
    """`count` records of each object, with values shared by several (for filters)."""
    vendors = ["Acme & Co", "Zoë Goods", "Plain"]
    types = ["Shirts", "Hats + Caps"]
    statuses = ["active", "draft", "archived"]
    for number in range(1, count + 1):
        store.create(
            "customers",
            {
                "email": f"seed.{number}@example.com",
                "first_name": f"Seed {number % 5}",
                "last_name": f"Customer {number}",
                "tags": "seed",
            },
        )
        order = store.create(
            "orders",
            {
                "email": f"seed.{number}@example.com",
                "financial_status": ("paid", "pending", "refunded")[number % 3],
                "line_items": [{"title": f"Item {number}", "price": "10.00", "quantity": 1}],
            },
        )
        if number % 4 == 0:  # closed orders: hidden from lists unless status=any
            store.records["orders"][order["id"]]["closed_at"] = store.clock.timestamp()
        store.create(
            "products",
            {
                "title": f"Seed product {number}",
                "vendor": vendors[number % len(vendors)],
                "product_type": types[number % len(types)],
                "status": statuses[number % len(statuses)],
            },
        )
    if store.outbox is not None:  # the seed is no news to anyone
        while not store.outbox.empty():
            store.outbox.get_nowait()


# --- the HTTP API ----------------------------------------------------------------------------


def callback_hmac(secret: str, params: Mapping[str, str]) -> str:
    """The `hmac` of an OAuth redirect: hex HMAC-SHA256 of the other parameters, sorted."""
    message = urlencode(sorted((k, v) for k, v in params.items() if k != "hmac"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass
class ShopifyApp:
    client_id: str
    client_secret: str
    redirect_urls: list[str]


@dataclass
class _Grant:
    client_id: str
    scope: str
    online: bool
    used: bool = False


class ShopifySimulator:
    """The shop's HTTP API over a store; `app()` is what `running_shopify` serves."""

    def __init__(self, store: ShopifyStore, access_token: str) -> None:
        self.store = store
        self.access_token = access_token
        # OAuth: the apps, the merchant's answer, the codes and tokens handed out.
        self.apps: dict[str, ShopifyApp] = {}
        self.consent: Literal["install", "cancel"] = "install"
        self.codes: dict[str, _Grant] = {}
        self.oauth_tokens: dict[str, str] = {}  # token → granted scopes
        self.token_requests: list[dict[str, Any]] = []
        self.requests: list[httpx.URL] = []  # every API call's URL, in order
        self._bucket = 0.0
        self._leaked_at = time.monotonic()
        self._throttled = 0
        self._throttle_retry_after = 2.0

    def throttle(self, times: int = 1, retry_after: float = 2.0) -> None:
        """The next `times` calls answer 429 with `Retry-After: retry_after`."""
        self._throttled, self._throttle_retry_after = times, retry_after

    def register_app(self, client_id: str, client_secret: str, redirect_url: str) -> ShopifyApp:
        app = ShopifyApp(client_id, client_secret, [redirect_url])
        self.apps[client_id] = app
        return app

    def app(self) -> Starlette:
        base = f"/admin/api/{API_VERSION}"
        return Starlette(
            routes=[
                Route("/admin/oauth/authorize", self._oauth_authorize, methods=["GET"]),
                Route("/admin/oauth/access_token", self._oauth_access_token, methods=["POST"]),
                Route(f"{base}/{{object}}.json", self._collection, methods=["GET", "POST"]),
                Route(
                    f"{base}/{{object}}/{{record_id}}.json",
                    self._record,
                    methods=["GET", "PUT", "DELETE"],
                ),
            ]
        )

    # --- the bucket and auth ------------------------------------------------------------

    def _fill(self) -> float:
        """How many calls the bucket holds now (it leaks between calls)."""
        now = time.monotonic()
        self._bucket = max(0.0, self._bucket - (now - self._leaked_at) * LEAK_PER_SECOND)
        self._leaked_at = now
        return self._bucket

    def _answer(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
        used = min(math.ceil(self._fill()), BUCKET_SIZE)
        limit = {CALL_LIMIT_HEADER: f"{used}/{BUCKET_SIZE}"}
        return Response(
            orjson.dumps(body),
            status_code=status,
            media_type="application/json; charset=utf-8",
            headers={**limit, **(headers or {})},
        )

    def _refusal(self, request: Request) -> Response | None:
        """401 for a wrong token, 403 outside an OAuth token's scopes, 429 when the bucket is
        full or throttled; else `None`."""
        given = request.headers.get("x-shopify-access-token", "").encode()
        granted = next(
            (
                scope
                for token, scope in self.oauth_tokens.items()
                if hmac.compare_digest(given, token.encode())
            ),
            None,
        )
        if granted is None and not hmac.compare_digest(given, self.access_token.encode()):
            return Response(
                orjson.dumps({"errors": AUTH_FAILURE}),
                status_code=401,
                media_type="application/json; charset=utf-8",
            )
        if granted is not None:
            needed = _needed_scope(request)
            held = set(granted.split(","))
            if (
                needed is not None
                and needed not in held
                and needed.replace("read_", "write_") not in held
            ):
                message = f"[API] This action requires merchant approval for {needed} scope."
                return self._answer(403, {"errors": message})
        self.requests.append(httpx.URL(str(request.url)))
        if self._throttled > 0:
            self._throttled -= 1
            retry_after = f"{self._throttle_retry_after:.1f}"
            return self._answer(429, {"errors": THROTTLED}, {"Retry-After": retry_after})
        if self._fill() + 1 > BUCKET_SIZE:
            return self._answer(429, {"errors": THROTTLED}, {"Retry-After": "2.0"})
        self._bucket += 1
        return None

    # --- OAuth ----------------------------------------------------------------------------

    async def _oauth_authorize(self, request: Request) -> Response:
        query = request.query_params
        app = self.apps.get(query.get("client_id", ""))
        if app is None:
            return Response(
                "Oauth error invalid_request: The client_id is invalid",
                status_code=400,
                media_type="text/html",
            )
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in app.redirect_urls:
            return Response(
                "Oauth error invalid_request: The redirect_uri is not whitelisted",
                status_code=400,
                media_type="text/html",
            )
        if self.consent == "cancel":
            # The merchant leaves the install page: Shopify sends nobody back.
            return Response("App not installed", status_code=200, media_type="text/html")
        code = secrets.token_hex(16)
        online = "per-user" in query.getlist("grant_options[]")
        self.codes[code] = _Grant(app.client_id, query.get("scope", ""), online)
        params = {
            "code": code,
            "host": base64.b64encode(b"admin.shopify.com/store/interlink-test").decode(),
            "shop": SHOP_DOMAIN,
            "timestamp": str(int(time.time())),
        }
        if "state" in query:
            params["state"] = query["state"]
        params["hmac"] = callback_hmac(app.client_secret, params)
        return Response(
            status_code=302, headers={"Location": f"{redirect_uri}?{urlencode(params)}"}
        )

    async def _oauth_access_token(self, request: Request) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            loaded = orjson.loads(await request.body())
            body = loaded if isinstance(loaded, dict) else {}
        else:
            body = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self.token_requests.append(body)
        app = self.apps.get(str(body.get("client_id", "")))
        if app is None or not hmac.compare_digest(
            str(body.get("client_secret", "")).encode(), app.client_secret.encode()
        ):
            return self._oauth_error("invalid_client", "Client credentials are invalid")
        grant = self.codes.get(str(body.get("code", "")))
        if grant is None or grant.used or grant.client_id != app.client_id:
            return self._oauth_error(
                "invalid_request", "The authorization code was not found or was already used"
            )
        grant.used = True
        token = f"shpua_{secrets.token_hex(16)}"
        self.oauth_tokens[token] = grant.scope
        answer: dict[str, Any] = {"access_token": token, "scope": grant.scope}
        if grant.online:
            answer.update(expires_in=86399, associated_user_scope=grant.scope)
        return Response(orjson.dumps(answer), media_type="application/json; charset=utf-8")

    def _oauth_error(self, error: str, description: str) -> Response:
        return Response(
            orjson.dumps({"error": error, "error_description": description}),
            status_code=400,
            media_type="application/json; charset=utf-8",
        )

    # --- routes -------------------------------------------------------------------------

    async def _collection(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        object_name = request.path_params["object"]
        if object_name not in SINGULAR:
            return self._answer(404, {"errors": "Not Found"})
        if request.method == "POST":
            fields = await self._wrapped(request, object_name)
            if isinstance(fields, Response):
                return fields
            try:
                record = self.store.create(object_name, fields)
            except Invalid as exc:
                return self._answer(422, {"errors": exc.errors})
            return self._answer(201, {SINGULAR[object_name]: record})
        return self._list(request, object_name)

    async def _record(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        object_name = request.path_params["object"]
        raw_id = request.path_params["record_id"]
        if object_name not in SINGULAR or not raw_id.isdigit():
            return self._answer(404, {"errors": "Not Found"})
        record_id = int(raw_id)
        try:
            if request.method == "GET":
                record = self.store.get(object_name, record_id)
                fields = _fields(request.query_params.get("fields"))
                return self._answer(200, {SINGULAR[object_name]: _only(record, fields)})
            if request.method == "DELETE":
                self.store.delete(object_name, record_id)
                return self._answer(200, {})
            changes = await self._wrapped(request, object_name)
            if isinstance(changes, Response):
                return changes
            try:
                record = self.store.update(object_name, record_id, changes)
            except Invalid as exc:
                return self._answer(422, {"errors": exc.errors})
            return self._answer(200, {SINGULAR[object_name]: record})
        except KeyError:
            return self._answer(404, {"errors": "Not Found"})

    async def _wrapped(self, request: Request, object_name: str) -> dict[str, Any] | Response:
        singular = SINGULAR[object_name]
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        fields = body.get(singular) if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            missing = {"errors": {singular: "Required parameter missing or invalid"}}
            return self._answer(400, missing)
        return fields

    def _list(self, request: Request, object_name: str) -> Response:
        params = request.query_params
        limit_text = params.get("limit", str(DEFAULT_LIMIT))
        if not limit_text.isdigit() or int(limit_text) < 1:
            return self._answer(400, {"errors": {"limit": "Invalid value"}})
        limit = min(int(limit_text), MAX_LIMIT)
        page_info = params.get("page_info")
        if page_info is not None:
            extra = sorted(set(params.keys()) - PAGING_PARAMS)
            if extra:
                # Shopify: with page_info, only limit and fields may be sent.
                return self._answer(
                    400,
                    {"errors": {"page_info": f"cannot be combined with {', '.join(extra)}"}},
                )
            cursor = _read_cursor(page_info)
            if cursor is None:
                return self._answer(400, {"errors": {"page_info": "Invalid value"}})
            filters, after, before = cursor["filters"], cursor.get("after"), cursor.get("before")
        else:
            unknown = sorted(set(params.keys()) - PAGING_PARAMS - OBJECT_FILTERS[object_name])
            if unknown:
                return self._answer(400, {"errors": {unknown[0]: "is not a supported filter"}})
            filters = {k: v for k, v in params.items() if k not in PAGING_PARAMS}
            after, before = None, None
        try:
            matching = [r for r in self.store.records[object_name].values() if _matches(r, filters)]
        except ValueError as exc:
            return self._answer(400, {"errors": str(exc)})
        matching.sort(key=lambda record: record["id"])
        if after is not None:
            window = [r for r in matching if r["id"] > after][:limit]
        elif before is not None:
            window = [r for r in matching if r["id"] < before][-limit:]
        else:
            window = matching[:limit]
        links: list[str] = []
        if window:
            first_id, last_id = window[0]["id"], window[-1]["id"]
            if any(r["id"] < first_id for r in matching):
                token = _write_cursor({"filters": filters, "before": first_id})
                links.append(f'<{_page_url(request, limit, token)}>; rel="previous"')
            if any(r["id"] > last_id for r in matching):
                token = _write_cursor({"filters": filters, "after": last_id})
                links.append(f'<{_page_url(request, limit, token)}>; rel="next"')
        fields = _fields(params.get("fields"))
        body = {object_name: [_only(copy.deepcopy(record), fields) for record in window]}
        return self._answer(200, body, {"Link": ", ".join(links)} if links else None)


def _page_url(request: Request, limit: int, token: str) -> str:
    return str(request.url.replace(query=urlencode({"limit": limit, "page_info": token})))


def _write_cursor(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(cursor)).decode().rstrip("=")


def _read_cursor(token: str) -> dict[str, Any] | None:
    try:
        cursor = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(cursor, dict) or not isinstance(cursor.get("filters"), dict):
        return None
    return cursor


def _fields(text: str | None) -> set[str] | None:
    return {name.strip() for name in text.split(",") if name.strip()} if text else None


def _only(record: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
    return record if fields is None else {k: v for k, v in record.items() if k in fields}


def _time(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=SHOP_ZONE)


def _matches(record: dict[str, Any], filters: Mapping[str, str]) -> bool:
    for name, value in filters.items():
        if name in ("updated_at_min", "created_at_min", "updated_at_max", "created_at_max"):
            field_name = name.rsplit("_", 1)[0]
            at, bound = _time(record[field_name], field_name), _time(value, name)
            if (name.endswith("_min") and at < bound) or (name.endswith("_max") and at > bound):
                return False
        elif name == "ids":
            wanted = {part.strip() for part in value.split(",")}
            if str(record["id"]) not in wanted:
                return False
        elif name == "since_id":
            if not value.isdigit() or record["id"] <= int(value):
                return False
        elif name == "status" and "closed_at" in record:  # an order's status
            state = (
                "cancelled"
                if record.get("cancelled_at")
                else "closed"
                if record.get("closed_at")
                else "open"
            )
            if value != "any" and state != value:
                return False
        elif name in ("financial_status", "fulfillment_status") and value == "any":
            continue
        elif str(record.get(name)) != value:
            return False
    if "closed_at" in record and "status" not in filters:  # orders: open ones by default
        return not record.get("closed_at") and not record.get("cancelled_at")
    return True


def _needed_scope(request: Request) -> str | None:
    object_name = request.path_params.get("object")
    if object_name not in SINGULAR:
        return None
    return f"{'read' if request.method == 'GET' else 'write'}_{object_name}"


# --- running it --------------------------------------------------------------------------------


@dataclass
class RunningShopify:
    url: str
    store: ShopifyStore
    simulator: ShopifySimulator

    def subscribe(self, url: str, secret: str) -> None:
        """Every topic of every object to `url`, signed with `secret` (the app's)."""
        self.store.subscriptions.append(Subscription(url, secret))


@contextlib.asynccontextmanager
async def running_shopify(
    access_token: str, *, seed_count: int = 12, store: ShopifyStore | None = None
) -> AsyncIterator[RunningShopify]:
    """A seeded shop on a free loopback port, delivering its webhooks, for the block's length."""
    store = store or ShopifyStore()
    store.outbox = asyncio.Queue()
    seed(store, seed_count)
    simulator = ShopifySimulator(store, access_token)
    async with (
        httpx.AsyncClient(timeout=5.0, trust_env=False) as http,
        serving(simulator.app()) as url,
    ):
        sender = asyncio.create_task(_deliver(store, http), name="shopify webhooks")
        try:
            yield RunningShopify(url, store, simulator)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


async def _deliver(store: ShopifyStore, http: httpx.AsyncClient) -> None:
    """Posts each change to every subscription, one at a time, in order."""
    assert store.outbox is not None
    while True:
        delivery = await store.outbox.get()
        for subscription in list(store.subscriptions):
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": delivery.topic,
                HMAC_HEADER: sign(subscription.secret, delivery.body),
                "X-Shopify-Shop-Domain": SHOP_DOMAIN,
                "X-Shopify-API-Version": API_VERSION,
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                "X-Shopify-Event-Id": delivery.event_id,
                "X-Shopify-Triggered-At": delivery.triggered_at,
            }
            for attempt in range(WEBHOOK_ATTEMPTS):
                with contextlib.suppress(httpx.HTTPError):
                    answer = await http.post(
                        subscription.url, content=delivery.body, headers=headers
                    )
                    if answer.is_success:
                        break
                await asyncio.sleep(WEBHOOK_RETRY_SECONDS * (attempt + 1))
