"""Shopify's harness: the Shopify simulator on loopback, changed through its store."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any, ClassVar

from tests.conformance.harness import Harness, Rejection
from tests.simulators.shopify import (
    AUTH_FAILURE,
    HMAC_HEADER,
    RunningShopify,
    ShopifyStore,
    running_shopify,
    sign,
    verify,
)

OBJECTS = ("customers", "orders", "products")
SEED_COUNT = 12  # of each object: several pages at a quarter of it, few calls in all


class ShopifyHarness(Harness):
    element_key: ClassVar[str] = "shopify"
    auth_failure_message: ClassVar[str] = AUTH_FAILURE

    def __init__(self) -> None:
        # Shaped like an Admin API token, random: a leak cannot be a coincidence.
        self._token = f"shpat_{secrets.token_hex(16)}"
        self._run = secrets.token_hex(4)
        self._serial = itertools.count(1)
        self._stack = AsyncExitStack()
        self._running: RunningShopify | None = None

    async def start(self) -> None:
        self._running = await self._stack.enter_async_context(
            running_shopify(self._token, seed_count=SEED_COUNT)
        )

    async def stop(self) -> None:
        self._running = None
        await self._stack.aclose()

    @property
    def _shop(self) -> RunningShopify:
        if self._running is None:
            raise RuntimeError("the Shopify harness is not started")
        return self._running

    @property
    def _store(self) -> ShopifyStore:
        return self._shop.store

    @property
    def config(self) -> dict[str, Any]:
        return {"shop_url": self._shop.url, "access_token": self._token}

    def wrong_credentials(self) -> dict[str, Any]:
        return {**self.config, "access_token": f"shpat_{secrets.token_hex(16)}"}

    # --- records to write ---------------------------------------------------------------

    def new_record(self, object_name: str) -> dict[str, Any]:
        number = next(self._serial)
        factories: dict[str, Callable[[], dict[str, Any]]] = {
            # Values with spaces, +, &, quotes and non-ASCII: filters must carry them intact.
            "customers": lambda: {
                "email": f"conformance+{self._run}.{number}@example.com",
                "first_name": "Zoë",
                "last_name": f"O'Customer {number}",
                "tags": "conformance, R&D",
            },
            "orders": lambda: {
                "email": f"order+{self._run}.{number}@example.com",
                "financial_status": "partially_paid",
                "note": f"Conformance & order {number}",
                "line_items": [{"title": f"Thing {number}", "price": "12.50", "quantity": 2}],
            },
            "products": lambda: {
                "title": f"Conformance Söhne {self._run} {number}",
                "vendor": f"Vendor & Co + {self._run}",
                "product_type": "Testing / QA",
                "status": "draft",
            },
        }
        return factories[self._known(object_name)]()

    def record_update(self, object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        number = next(self._serial)
        field = {"customers": "note", "orders": "note", "products": "body_html"}[
            self._known(object_name)
        ]
        return {field: f"Updated {self._run} {number}"}

    def invalid_record(self, object_name: str) -> Rejection:
        rejections = {
            "customers": Rejection(
                {"email": "no-at-sign", "first_name": "Invalid"}, "email is invalid"
            ),
            "orders": Rejection(
                {"email": "no-items@example.com", "line_items": []},
                "line_items must have at least one line item",
            ),
            "products": Rejection({"vendor": "Nameless"}, "title can't be blank"),
        }
        return rejections[self._known(object_name)]

    # --- the vendor, bypassing the client: the store, in this event loop ----------------

    async def vendor_records(self, object_name: str) -> list[dict[str, Any]]:
        return self._store.snapshot(self._known(object_name))

    async def vendor_create(self, object_name: str) -> dict[str, Any]:
        return self._store.create(object_name, self.new_record(object_name))

    async def vendor_update(self, object_name: str, record_id: str) -> dict[str, Any]:
        record = self._store.get(object_name, int(record_id))
        return self._store.update(
            object_name, int(record_id), self.record_update(object_name, record)
        )

    async def vendor_delete(self, object_name: str, record_id: str) -> None:
        self._store.delete(object_name, int(record_id))

    async def vendor_now(self) -> datetime:
        return self._store.clock.now()

    async def tick(self) -> None:
        # Shopify's times have whole seconds: the simulated clock steps one forward rather
        # than the suite waiting for the real one.
        self._store.clock.advance(1)

    # --- webhooks: subscribed as the app does, signed with its client secret -----------

    async def subscribe_webhook(self, url: str, secret: str) -> None:
        self._shop.subscribe(url, secret)

    def sign_webhook(self, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
        # Shopify signs no time: `timestamp` has no part in the signature.
        return {HMAC_HEADER: sign(secret, body)}

    def verify_webhook(
        self, secret: str, body: bytes, headers: Mapping[str, str], *, tolerance_seconds: float
    ) -> bool:
        return verify(secret, body, headers.get(HMAC_HEADER))

    def _known(self, object_name: str) -> str:
        if object_name not in OBJECTS:
            raise KeyError(f"the Shopify harness knows no object {object_name!r}")
        return object_name
