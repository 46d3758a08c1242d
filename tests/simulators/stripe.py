"""A Stripe API simulator (v1): customers, invoices, products, and the events of their changes.

It behaves as Stripe documents it, for what the `stripe` element uses
(https://docs.stripe.com/api: pagination, authentication, errors, customers, invoices,
products, events; https://docs.stripe.com/webhooks; https://docs.stripe.com/rate-limits):

- The secret key authenticates every call, as `Authorization: Bearer <key>` or as the user
  of basic auth; a wrong key answers 401 `{"error": {"type": "invalid_request_error",
  "message": "Invalid API Key provided: sk_test_****1234"}}` (the key masked), none at all
  401 "You did not provide an API key…".
- Lists answer `{"object": "list", "url", "has_more", "data"}`, newest first (by `created`,
  then by creation order). `limit` is 10 by default, 1 to 100; `starting_after` /
  `ending_before` take the id of a record of the list (a deleted one still marks its
  place). Filters: `created` (`created=<t>` or `created[gt|gte|lt|lte]=<t>`), customers
  `email` (exact, case-sensitive), invoices `customer`, `status`, `collection_method`,
  products `active`, `shippable`. Any other parameter answers 400 "Received unknown
  parameter: …".
- Writes are form-encoded (`metadata[key]=v`, `preferred_locales[0]=fr`); a JSON body is
  refused with 400. Create is a POST to the collection, update a POST to the record;
  DELETE answers `{"id", "object", "deleted": true}`. Invoices are deleted as drafts only
  (400 otherwise) and finalized with `POST /v1/invoices/{id}/finalize`. A deleted customer
  still answers its retrieve with `{"id", "object": "customer", "deleted": true}`; its
  update answers 404. An unknown id answers 404 `resource_missing`; a missing required
  parameter 400 `parameter_missing`; an invalid email 400 `email_invalid`.
- Events: every change makes an event `{id, object: "event", type: "<object>.<change>",
  created, data: {object}}` (the record after the change; the last state for deletes),
  listed by `GET /v1/events` (`type`, with `*` wildcards, `types[]`, `created`, paging as
  above) and posted to every subscribed endpoint, signed `Stripe-Signature: t=<unix>,
  v1=<hex HMAC-SHA256 of "<t>.<body>">` with the endpoint's `whsec_…` secret, in order,
  retried a few times when the endpoint does not answer 2xx.
- Rate limit: `limit_per_second` calls a second per key (100, live mode's), beyond which
  429 `rate_limit` without `Retry-After`, as Stripe mostly answers; `throttle(times,
  retry_after)` makes the next calls answer 429 (with `Retry-After` when given).

Simplified: records hold a subset of Stripe's fields; times are whole unix seconds, on a
clock the tests may move forward (`clock.advance`); no prices, payments or expansions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import fnmatch
import hashlib
import hmac
import itertools
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving

API_VERSION = "2024-06-20"
SIGNATURE_HEADER = "Stripe-Signature"
AUTH_FAILURE = "Invalid API Key provided"
NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
)
RATE_LIMITED = (
    "Too many requests hit the API too quickly. We recommend an exponential backoff of "
    "your requests."
)
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
# The object name → Stripe's `object` value and id prefix.
KINDS = {"customers": "customer", "invoices": "invoice", "products": "product"}
PREFIXES = {"customers": "cus", "invoices": "in", "products": "prod", "events": "evt"}
PAGING = frozenset({"limit", "starting_after", "ending_before", "expand"})
CREATED = ("created", "created[gt]", "created[gte]", "created[lt]", "created[lte]")
FILTERS: dict[str, frozenset[str]] = {
    "customers": frozenset({"email", *CREATED}),
    "invoices": frozenset({"customer", "status", "collection_method", *CREATED}),
    "products": frozenset({"active", "shippable", *CREATED}),
    "events": frozenset({"type", "types", *CREATED}),
}
BOOLEANS = frozenset({"active", "shippable", "auto_advance"})
INTEGERS = frozenset({"days_until_due", "balance"})
WRITABLE: dict[str, frozenset[str]] = {
    "customers": frozenset(
        {"email", "name", "description", "phone", "metadata", "preferred_locales", "balance"}
    ),
    "invoices": frozenset(
        {
            "customer",
            "description",
            "metadata",
            "collection_method",
            "days_until_due",
            "auto_advance",
            "footer",
        }
    ),
    "products": frozenset(
        {"name", "description", "active", "shippable", "metadata", "url", "unit_label"}
    ),
}
# What a finalized invoice still lets change.
FINALIZED_WRITABLE = frozenset({"description", "metadata", "footer", "auto_advance"})
WEBHOOK_ATTEMPTS = 3
WEBHOOK_RETRY_SECONDS = 0.05
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Stripe-Signature` header of `body` at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def verify(
    secret: str, body: bytes, header: str | None, *, tolerance: float, now: float | None = None
) -> bool:
    """Whether `header` signs `body` with `secret` (any v1), within `tolerance` seconds."""
    if not header:
        return False
    pairs = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in pairs if key.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return any(
        hmac.compare_digest(expected, value.strip()) for key, value in pairs if key.strip() == "v1"
    )


class StripeError(Exception):
    """An error answer: `{"error": {type, code, message, param}}` with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code is not None:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            self.body["param"] = param


def missing(kind: str, record_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{record_id}'", code="resource_missing", param=param)


def parameter_missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


class StripeClock:
    """Unix seconds, which tests may move forward."""

    def __init__(self) -> None:
        self._offset = 0

    def now(self) -> int:
        return int(time.time()) + self._offset

    def advance(self, seconds: int = 1) -> None:
        self._offset += seconds


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str


@dataclass
class StripeStore:
    """The account's records and events (posted to subscribed endpoints through `outbox`)."""

    clock: StripeClock = field(default_factory=StripeClock)
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in KINDS}
    )
    events: list[dict[str, Any]] = field(default_factory=list)
    # Every id ever made → its place in lists (created, serial): deleted ones keep theirs.
    places: dict[str, tuple[int, int]] = field(default_factory=dict)
    deleted_customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    outbox: asyncio.Queue[dict[str, Any]] | None = None
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _run: str = field(default_factory=lambda: secrets.token_hex(3))

    def new_id(self, object_name: str) -> str:
        serial = next(self._serial)
        return f"{PREFIXES[object_name]}_{self._run}{serial:08d}"

    # --- reading ------------------------------------------------------------------------

    def snapshot(self, object_name: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(record) for record in self._collection(object_name).values()]

    def get(self, object_name: str, record_id: str) -> dict[str, Any]:
        record = self._collection(object_name).get(record_id)
        if record is None:
            raise missing(KINDS[object_name], record_id)
        return copy.deepcopy(record)

    # --- writing ------------------------------------------------------------------------

    def create(self, object_name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        collection = self._collection(object_name)
        _check_writable(object_name, fields)
        record_id = self.new_id(object_name)
        now = self.clock.now()
        record = _NEW[object_name](self, record_id, now, dict(fields))
        collection[record_id] = record
        self.places[record_id] = (now, next(self._serial))
        self._publish(object_name, "created", record)
        return copy.deepcopy(record)

    def update(self, object_name: str, record_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        collection = self._collection(object_name)
        if record_id not in collection:
            raise missing(KINDS[object_name], record_id)
        _check_writable(object_name, fields)
        record = copy.deepcopy(collection[record_id])
        if object_name == "invoices" and record["status"] != "draft":
            locked = sorted(set(fields) - FINALIZED_WRITABLE)
            if locked:
                raise StripeError(
                    400,
                    f"You cannot update '{locked[0]}' on an invoice that is no longer a draft.",
                    param=locked[0],
                )
        for name, value in fields.items():
            if name == "metadata":
                record["metadata"] = _merged_metadata(record["metadata"], value)
            else:
                record[name] = value
        _VALIDATE[object_name](self, record)
        if "updated" in record:
            record["updated"] = self.clock.now()
        collection[record_id] = record
        self._publish(object_name, "updated", record)
        return copy.deepcopy(record)

    def delete(self, object_name: str, record_id: str) -> dict[str, Any]:
        collection = self._collection(object_name)
        record = collection.get(record_id)
        if record is None:
            raise missing(KINDS[object_name], record_id)
        if object_name == "invoices" and record["status"] != "draft":
            raise StripeError(
                400,
                "You can only delete draft invoices. Use void to cancel finalized invoices.",
                code="invoice_not_editable",
            )
        del collection[record_id]
        gone = {"id": record_id, "object": KINDS[object_name], "deleted": True}
        if object_name == "customers":
            self.deleted_customers[record_id] = gone
        self._publish(object_name, "deleted", record)
        return dict(gone)

    def finalize(self, record_id: str) -> dict[str, Any]:
        invoices = self._collection("invoices")
        record = invoices.get(record_id)
        if record is None:
            raise missing("invoice", record_id)
        if record["status"] != "draft":
            raise StripeError(
                400, "This invoice is already finalized.", code="invoice_not_editable"
            )
        now = self.clock.now()
        record = copy.deepcopy(record)
        record.update(status="open", number=f"{self._run.upper()}-{next(self._serial):04d}")
        record["status_transitions"]["finalized_at"] = now
        invoices[record_id] = record
        self._publish("invoices", "finalized", record)
        self._publish("invoices", "updated", record)
        return copy.deepcopy(record)

    def _collection(self, object_name: str) -> dict[str, dict[str, Any]]:
        if object_name not in self.records:
            raise KeyError(object_name)
        return self.records[object_name]

    def _publish(self, object_name: str, change: str, record: dict[str, Any]) -> None:
        event_id = self.new_id("events")
        now = self.clock.now()
        event = {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": now,
            "data": {"object": copy.deepcopy(record)},
            "livemode": False,
            "pending_webhooks": len(self.endpoints),
            "request": {"id": None, "idempotency_key": None},
            "type": f"{KINDS[object_name]}.{change}",
        }
        self.events.append(event)
        self.places[event_id] = (now, next(self._serial))
        if self.outbox is not None and self.endpoints:
            self.outbox.put_nowait(event)


# --- records: defaults and validation, per object ----------------------------------------


def _check_writable(object_name: str, fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - WRITABLE[object_name])
    if unknown:
        raise StripeError(400, f"Received unknown parameter: {unknown[0]}", param=unknown[0])


def _merged_metadata(current: dict[str, str], changes: Any) -> dict[str, str]:
    """Stripe merges metadata keys; an empty value removes a key, an empty `metadata` all."""
    if changes in ("", None):
        return {}
    if not isinstance(changes, dict):
        raise StripeError(400, "Invalid object", param="metadata")
    merged = dict(current)
    for key, value in changes.items():
        if value in ("", None):
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def _new_customer(
    store: StripeStore, record_id: str, now: int, fields: dict[str, Any]
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": record_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": None,
        "invoice_prefix": record_id[-8:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    record.update({k: v for k, v in fields.items() if k != "metadata"})
    record["metadata"] = _merged_metadata({}, fields.get("metadata") or {})
    _validate_customer(store, record)
    return record


def _new_invoice(
    store: StripeStore, record_id: str, now: int, fields: dict[str, Any]
) -> dict[str, Any]:
    customer_id = fields.get("customer")
    if not customer_id:
        raise parameter_missing("customer")
    customer = store.records["customers"].get(str(customer_id))
    if customer is None:
        raise StripeError(
            400, f"No such customer: '{customer_id}'", code="resource_missing", param="customer"
        )
    record: dict[str, Any] = {
        "id": record_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": False,
        "collection_method": "charge_automatically",
        "created": now,
        "currency": "usd",
        "customer": customer["id"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "days_until_due": None,
        "description": None,
        "due_date": None,
        "footer": None,
        "hosted_invoice_url": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoices/{record_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "number": None,
        "paid": False,
        "period_end": now,
        "period_start": now,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "total": 0,
    }
    record.update({k: v for k, v in fields.items() if k != "metadata"})
    record["metadata"] = _merged_metadata({}, fields.get("metadata") or {})
    _validate_invoice(store, record)
    return record


def _new_product(
    store: StripeStore, record_id: str, now: int, fields: dict[str, Any]
) -> dict[str, Any]:
    if not fields.get("name"):
        raise parameter_missing("name")
    record: dict[str, Any] = {
        "id": record_id,
        "object": "product",
        "active": True,
        "created": now,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": None,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    record.update({k: v for k, v in fields.items() if k != "metadata"})
    record["metadata"] = _merged_metadata({}, fields.get("metadata") or {})
    _validate_product(store, record)
    return record


def _validate_customer(store: StripeStore, record: dict[str, Any]) -> None:
    email = record.get("email")
    if email not in (None, "") and (not isinstance(email, str) or not _EMAIL.match(email)):
        raise StripeError(
            400, f"Invalid email address: {email}", code="email_invalid", param="email"
        )


def _validate_invoice(store: StripeStore, record: dict[str, Any]) -> None:
    method = record.get("collection_method")
    if method not in ("charge_automatically", "send_invoice"):
        raise StripeError(
            400,
            "Invalid collection_method: must be one of charge_automatically or send_invoice",
            param="collection_method",
        )
    if method == "send_invoice" and record.get("days_until_due") is None:
        raise parameter_missing("days_until_due")


def _validate_product(store: StripeStore, record: dict[str, Any]) -> None:
    if not record.get("name"):
        raise StripeError(
            400, "You must provide a non-empty name.", code="parameter_invalid_empty", param="name"
        )


_NEW: dict[str, Callable[[StripeStore, str, int, dict[str, Any]], dict[str, Any]]] = {
    "customers": _new_customer,
    "invoices": _new_invoice,
    "products": _new_product,
}
_VALIDATE: dict[str, Callable[[StripeStore, dict[str, Any]], None]] = {
    "customers": _validate_customer,
    "invoices": _validate_invoice,
    "products": _validate_product,
}


def seed(store: StripeStore, count: int) -> None:
    """`count` records of each object (invoices as drafts), values shared by several."""
    customers = []
    for number in range(1, count + 1):
        customers.append(
            store.create(
                "customers",
                {
                    "email": f"seed.{number % 5}@example.com",
                    "name": f"Seed Customer {number}",
                    "metadata": {"seed": str(number)},
                },
            )
        )
        store.create(
            "products",
            {
                "name": f"Seed product {number}",
                "active": number % 3 != 0,
                "shippable": number % 2 == 0,
            },
        )
    for number in range(1, count + 1):
        fields: dict[str, Any] = {
            "customer": customers[number % min(4, count)]["id"],
            "description": f"Seed invoice {number}",
        }
        if number % 2:
            fields.update(collection_method="send_invoice", days_until_due=30)
        store.create("invoices", fields)
    store.events.clear()  # the seed is no news to anyone
    if store.outbox is not None:
        while not store.outbox.empty():
            store.outbox.get_nowait()


# --- form bodies ---------------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(body: bytes) -> dict[str, Any]:
    """A form body as Stripe reads it: `a[b]=1` nests, `a[0]=x` / `a[]=x` make lists."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(key)
        if match is None:
            raise StripeError(400, f"Invalid parameter name: {key}", param=key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: Any = result
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            child: Any = value if last else ([] if following == "" or following.isdigit() else {})
            if isinstance(node, list):
                position = len(node) if part == "" else int(part) if part.isdigit() else -1
                if position < 0:
                    raise StripeError(400, f"Invalid array: {key}", param=parts[0])
                while len(node) <= position:
                    node.append(None)
                if node[position] is None or last:
                    node[position] = child
                node = node[position]
            else:
                if last or part not in node:
                    node[part] = child
                node = node[part]
    return {name: _typed(name, value) for name, value in result.items()}


def _typed(name: str, value: Any) -> Any:
    if value == "" and name not in ("metadata",):
        return None
    if name in BOOLEANS:
        if value not in ("true", "false"):
            raise StripeError(400, f"Invalid boolean: {value}", param=name)
        return value == "true"
    if name in INTEGERS:
        if not re.fullmatch(r"-?\d+", str(value)):
            raise StripeError(400, f"Invalid integer: {value}", param=name)
        return int(value)
    return value


# --- the HTTP API --------------------------------------------------------------------------


class StripeSimulator:
    """The account's HTTP API over a store; `app()` is what `running_stripe` serves."""

    def __init__(self, store: StripeStore, secret_key: str, *, limit_per_second: int = 100):
        self.store = store
        self.secret_key = secret_key
        self.limit_per_second = limit_per_second
        self.requests: list[httpx.Request] = []  # every authenticated call, body read
        self._window: list[float] = []
        self._throttled = 0
        self._throttle_retry_after: float | None = None

    def throttle(self, times: int = 1, retry_after: float | None = None) -> None:
        """The next `times` calls answer 429 (`Retry-After` only when given)."""
        self._throttled, self._throttle_retry_after = times, retry_after

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/events", self._events, methods=["GET"]),
                Route("/v1/events/{record_id}", self._event, methods=["GET"]),
                Route("/v1/invoices/{record_id}/finalize", self._finalize, methods=["POST"]),
                Route("/v1/{object}", self._collection, methods=["GET", "POST"]),
                Route("/v1/{object}/{record_id}", self._record, methods=["GET", "POST", "DELETE"]),
            ]
        )

    # --- answers, auth, the rate limit --------------------------------------------------

    @staticmethod
    def _answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
        return Response(
            orjson.dumps(body),
            status_code=status,
            media_type="application/json",
            headers={"Request-Id": f"req_{secrets.token_hex(7)}", **(headers or {})},
        )

    def _error(self, error: StripeError, headers: Mapping[str, str] | None = None) -> Response:
        return self._answer(error.status, {"error": error.body}, headers)

    def _given_key(self, request: Request) -> str | None:
        authorization = request.headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return credentials.strip()
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                user, _, _ = base64.b64decode(credentials).decode().partition(":")
                return user
        return None

    async def _refusal(self, request: Request) -> Response | None:
        given = self._given_key(request)
        if not given:
            return self._error(StripeError(401, NO_KEY))
        if not hmac.compare_digest(given.encode(), self.secret_key.encode()):
            masked = f"{given[:8]}{'*' * max(len(given) - 12, 0)}{given[-4:]}"
            return self._error(StripeError(401, f"{AUTH_FAILURE}: {masked}"))
        body = await request.body()
        self.requests.append(
            httpx.Request(
                request.method, str(request.url), headers=request.headers.raw, content=body
            )
        )
        limited = StripeError(429, RATE_LIMITED, code="rate_limit")
        if self._throttled > 0:
            self._throttled -= 1
            wait = self._throttle_retry_after
            return self._error(limited, {"Retry-After": f"{wait:g}"} if wait is not None else None)
        now = time.monotonic()
        self._window = [at for at in self._window if now - at < 1.0]
        if len(self._window) >= self.limit_per_second:
            return self._error(limited)
        self._window.append(now)
        return None

    async def _form(self, request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        if body and content_type != "application/x-www-form-urlencoded":
            raise StripeError(
                400,
                "Invalid request: Stripe's API takes form-encoded bodies "
                "(application/x-www-form-urlencoded), not " + (content_type or "an unknown type"),
            )
        return parse_form(body)

    # --- routes -------------------------------------------------------------------------

    async def _collection(self, request: Request) -> Response:
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        object_name = request.path_params["object"]
        if object_name not in KINDS:
            return self._error(
                StripeError(404, f"Unrecognized request URL (GET: {request.url.path}).")
            )
        try:
            if request.method == "POST":
                record = self.store.create(object_name, await self._form(request))
                return self._answer(200, record)
            return self._list(request, object_name, list(self.store.records[object_name].values()))
        except StripeError as error:
            return self._error(error)

    async def _record(self, request: Request) -> Response:
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        object_name = request.path_params["object"]
        record_id = request.path_params["record_id"]
        if object_name not in KINDS:
            return self._error(
                StripeError(404, f"Unrecognized request URL (GET: {request.url.path}).")
            )
        try:
            if request.method == "GET":
                gone = self.store.deleted_customers.get(record_id)
                if object_name == "customers" and gone is not None:
                    return self._answer(200, gone)  # deleted customers can still be retrieved
                return self._answer(200, self.store.get(object_name, record_id))
            if request.method == "DELETE":
                return self._answer(200, self.store.delete(object_name, record_id))
            changes = await self._form(request)
            return self._answer(200, self.store.update(object_name, record_id, changes))
        except StripeError as error:
            return self._error(error)

    async def _finalize(self, request: Request) -> Response:
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        try:
            return self._answer(200, self.store.finalize(request.path_params["record_id"]))
        except StripeError as error:
            return self._error(error)

    async def _events(self, request: Request) -> Response:
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        try:
            return self._list(request, "events", self.store.events)
        except StripeError as error:
            return self._error(error)

    async def _event(self, request: Request) -> Response:
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        record_id = request.path_params["record_id"]
        for event in self.store.events:
            if event["id"] == record_id:
                return self._answer(200, event)
        return self._error(missing("event", record_id))

    def _list(self, request: Request, object_name: str, records: list[dict[str, Any]]) -> Response:
        params = request.query_params
        unknown = sorted(
            {key for key in params if key not in PAGING and not key.startswith("expand[")}
            - FILTERS[object_name]
            - {"types[]"}
            - {key for key in params if re.fullmatch(r"types\[\d+\]", key)}
        )
        if unknown:
            raise StripeError(400, f"Received unknown parameter: {unknown[0]}", param=unknown[0])
        limit_text = params.get("limit", str(DEFAULT_LIMIT))
        if not limit_text.isdigit():
            raise StripeError(400, f"Invalid integer: {limit_text}", param="limit")
        limit = int(limit_text)
        if not 1 <= limit <= MAX_LIMIT:
            raise StripeError(
                400,
                f"This value must be between 1 and {MAX_LIMIT} (it currently is {limit}).",
                param="limit",
            )
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise StripeError(
                400, "You may only specify one of these parameters: ending_before, starting_after."
            )
        matching = [r for r in records if _matches(r, params, object_name)]
        matching.sort(key=lambda record: self.store.places[record["id"]], reverse=True)
        if after or before:
            cursor = after or before
            place = self.store.places.get(str(cursor))
            if place is None:
                kind = "event" if object_name == "events" else KINDS[object_name]
                raise missing(kind, str(cursor), "starting_after" if after else "ending_before")
            if after:
                rest = [r for r in matching if self.store.places[r["id"]] < place]
                window, has_more = rest[:limit], len(rest) > limit
            else:
                rest = [r for r in matching if self.store.places[r["id"]] > place]
                window, has_more = rest[-limit:], len(rest) > limit
        else:
            window, has_more = matching[:limit], len(matching) > limit
        return self._answer(
            200,
            {
                "object": "list",
                "url": request.url.path,
                "has_more": has_more,
                "data": [copy.deepcopy(record) for record in window],
            },
        )


def _matches(record: dict[str, Any], params: Mapping[str, str], object_name: str) -> bool:
    for name, value in params.items():
        if name in PAGING or name.startswith("expand["):
            continue
        if name in CREATED:
            if not re.fullmatch(r"\d+", value):
                raise StripeError(400, f"Invalid integer: {value}", param=name)
            bound, at = int(value), record["created"]
            operator = name[len("created[") : -1] if "[" in name else "eq"
            ok = {
                "eq": at == bound,
                "gt": at > bound,
                "gte": at >= bound,
                "lt": at < bound,
                "lte": at <= bound,
            }[operator]
            if not ok:
                return False
        elif name == "type":
            if not fnmatch.fnmatchcase(record["type"], value):
                return False
        elif name.startswith("types["):
            wanted = [v for k, v in params.multi_items() if k.startswith("types[")]
            if record["type"] not in wanted:
                return False
        elif name in BOOLEANS:
            if value not in ("true", "false"):
                raise StripeError(400, f"Invalid boolean: {value}", param=name)
            if record.get(name) is not (value == "true"):
                return False
        elif str(record.get(name)) != value:
            return False
    return True


# --- running it ------------------------------------------------------------------------------


@dataclass
class RunningStripe:
    url: str
    store: StripeStore
    simulator: StripeSimulator

    def subscribe(self, url: str, secret: str) -> None:
        """An endpoint for every event type, signed with `secret` (its `whsec_…`)."""
        self.store.endpoints.append(Endpoint(url, secret))


@contextlib.asynccontextmanager
async def running_stripe(
    secret_key: str,
    *,
    seed_count: int = 12,
    store: StripeStore | None = None,
    limit_per_second: int = 100,
) -> AsyncIterator[RunningStripe]:
    """A seeded account on a free loopback port, posting its events, for the block's length."""
    store = store or StripeStore()
    store.outbox = asyncio.Queue()
    seed(store, seed_count)
    simulator = StripeSimulator(store, secret_key, limit_per_second=limit_per_second)
    async with (
        httpx.AsyncClient(timeout=5.0, trust_env=False) as http,
        serving(simulator.app()) as url,
    ):
        sender = asyncio.create_task(_deliver(store, http), name="stripe webhooks")
        try:
            yield RunningStripe(url, store, simulator)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


async def _deliver(store: StripeStore, http: httpx.AsyncClient) -> None:
    """Posts each event to every endpoint, one at a time, in order."""
    assert store.outbox is not None
    while True:
        event = await store.outbox.get()
        body = orjson.dumps(event)
        for endpoint in list(store.endpoints):
            for attempt in range(WEBHOOK_ATTEMPTS):
                headers = {
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    SIGNATURE_HEADER: sign(endpoint.secret, body, int(time.time())),
                }
                with contextlib.suppress(httpx.HTTPError):
                    answer = await http.post(endpoint.url, content=body, headers=headers)
                    if answer.is_success:
                        break
                await asyncio.sleep(WEBHOOK_RETRY_SECONDS * (attempt + 1))
