"""Stripe's harness: the Stripe simulator on loopback, changed through its store."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any, ClassVar

from tests.conformance.harness import Harness, Rejection
from tests.simulators.stripe import (
    AUTH_FAILURE,
    SIGNATURE_HEADER,
    RunningStripe,
    StripeStore,
    running_stripe,
    sign,
    verify,
)

OBJECTS = ("customers", "invoices", "products")
SEED_COUNT = 12  # of each object: several pages at a quarter of it, few calls in all


class StripeHarness(Harness):
    element_key: ClassVar[str] = "stripe"
    auth_failure_message: ClassVar[str] = AUTH_FAILURE

    def __init__(self) -> None:
        # Shaped like a test-mode secret key, random: a leak cannot be a coincidence.
        self._key = f"sk_test_{secrets.token_hex(16)}"
        self._run = secrets.token_hex(4)
        self._webhook_secret = f"whsec_{secrets.token_hex(16)}"
        self._serial = itertools.count(1)
        self._stack = AsyncExitStack()
        self._running: RunningStripe | None = None

    async def start(self) -> None:
        self._running = await self._stack.enter_async_context(
            running_stripe(self._key, seed_count=SEED_COUNT)
        )

    async def stop(self) -> None:
        self._running = None
        await self._stack.aclose()

    @property
    def _stripe(self) -> RunningStripe:
        if self._running is None:
            raise RuntimeError("the Stripe harness is not started")
        return self._running

    @property
    def _store(self) -> StripeStore:
        return self._stripe.store

    @property
    def config(self) -> dict[str, Any]:
        return {"base_url": self._stripe.url, "secret_key": self._key}

    def wrong_credentials(self) -> dict[str, Any]:
        return {**self.config, "secret_key": f"sk_test_{secrets.token_hex(16)}"}

    def webhook_secret(self) -> str:
        return self._webhook_secret

    # --- records to write ---------------------------------------------------------------

    def new_record(self, object_name: str) -> dict[str, Any]:
        number = next(self._serial)
        # Values with spaces, +, &, quotes and non-ASCII; nested metadata and lists: the
        # form encoding must carry them intact.
        metadata = {"run": self._run, "note": f"R&D + Zoë #{number}"}
        factories: dict[str, Callable[[], dict[str, Any]]] = {
            "customers": lambda: {
                "email": f"conformance+{self._run}.{number}@example.com",
                "name": f"Zoë O'Customer {number}",
                "description": "Conformance & more",
                "preferred_locales": ["fr-CH", "en"],
                "metadata": metadata,
            },
            "invoices": lambda: {
                "customer": self._a_customer(),
                "description": f"Conformance & invoice {number}",
                "collection_method": "send_invoice",
                "days_until_due": 14,
                "metadata": metadata,
            },
            "products": lambda: {
                "name": f"Conformance Söhne {self._run} {number}",
                "description": "Testing / QA + more",
                "active": False,
                "shippable": True,
                "metadata": metadata,
            },
        }
        return factories[self._known(object_name)]()

    def record_update(self, object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        self._known(object_name)
        return {"description": f"Updated {self._run} {next(self._serial)} & more"}

    def invalid_record(self, object_name: str) -> Rejection:
        rejections = {
            "customers": Rejection(
                {"email": "no-at-sign", "name": "Invalid"}, "Invalid email address: no-at-sign"
            ),
            "invoices": Rejection(
                {"description": "Nobody's invoice"}, "Missing required param: customer."
            ),
            "products": Rejection({"description": "Nameless"}, "Missing required param: name."),
        }
        return rejections[self._known(object_name)]

    def _a_customer(self) -> str:
        return next(iter(self._store.records["customers"]))

    # --- the vendor, bypassing the client: the store, in this event loop ----------------

    async def vendor_records(self, object_name: str) -> list[dict[str, Any]]:
        return self._store.snapshot(self._known(object_name))

    async def vendor_create(self, object_name: str) -> dict[str, Any]:
        return self._store.create(object_name, self.new_record(object_name))

    async def vendor_update(self, object_name: str, record_id: str) -> dict[str, Any]:
        record = self._store.get(object_name, record_id)
        return self._store.update(object_name, record_id, self.record_update(object_name, record))

    async def vendor_delete(self, object_name: str, record_id: str) -> None:
        self._store.delete(self._known(object_name), record_id)

    async def vendor_now(self) -> datetime:
        return datetime.fromtimestamp(self._store.clock.now(), UTC)

    async def tick(self) -> None:
        # Stripe's times are whole unix seconds: the simulated clock steps one forward
        # rather than the suite waiting for the real one.
        self._store.clock.advance(1)

    # --- webhooks: an endpoint added in the Dashboard, signed with its whsec_ secret ----

    async def subscribe_webhook(self, url: str, secret: str) -> None:
        self._stripe.subscribe(url, secret)

    def sign_webhook(self, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
        return {SIGNATURE_HEADER: sign(secret, body, timestamp)}

    def verify_webhook(
        self, secret: str, body: bytes, headers: Mapping[str, str], *, tolerance_seconds: float
    ) -> bool:
        return verify(secret, body, headers.get(SIGNATURE_HEADER), tolerance=tolerance_seconds)

    def _known(self, object_name: str) -> str:
        if object_name not in OBJECTS:
            raise KeyError(f"the Stripe harness knows no object {object_name!r}")
        return object_name
