"""HubSpot's harness: the HubSpot simulator on loopback, changed through its store."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any, ClassVar

from interlink.elements.hooks.hubspot import normalize_record
from tests.conformance.harness import Harness, Rejection
from tests.simulators.hubspot import (
    AUTH_FAILURE,
    HubSpotStore,
    RunningHubSpot,
    running_hubspot,
    shaped,
    sign,
    verify,
)
from tests.simulators.hubspot import SIGNATURE_HEADER as SIGNATURE_HEADER
from tests.simulators.hubspot import TIMESTAMP_HEADER as TIMESTAMP_HEADER

OBJECTS = ("contacts", "companies", "deals")
SEED_COUNT = 12
# Where the suite's own signatures say HubSpot posted, until a subscription names a URL.
DEFAULT_HOOK_URL = "https://hub.example/v1/hooks/instance/token"


class HubSpotHarness(Harness):
    element_key: ClassVar[str] = "hubspot"
    auth_failure_message: ClassVar[str] = AUTH_FAILURE

    def __init__(self) -> None:
        self._client_id = secrets.token_hex(8)
        self._client_secret = secrets.token_hex(16)
        self._refresh_token = f"na1-{secrets.token_hex(16)}"
        self._run = secrets.token_hex(4)
        self._serial = itertools.count(1)
        self._stack = AsyncExitStack()
        self._running: RunningHubSpot | None = None
        self._hook_url = DEFAULT_HOOK_URL

    async def start(self) -> None:
        self._running = await self._stack.enter_async_context(
            running_hubspot(
                client_id=self._client_id,
                client_secret=self._client_secret,
                refresh_token=self._refresh_token,
                seed_count=SEED_COUNT,
            )
        )

    async def stop(self) -> None:
        self._running = None
        await self._stack.aclose()

    @property
    def _hubspot(self) -> RunningHubSpot:
        if self._running is None:
            raise RuntimeError("the HubSpot harness is not started")
        return self._running

    @property
    def _store(self) -> HubSpotStore:
        return self._hubspot.store

    @property
    def config(self) -> dict[str, Any]:
        return {
            "base_url": self._hubspot.url,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }

    def wrong_credentials(self) -> dict[str, Any]:
        return {**self.config, "refresh_token": f"na1-{secrets.token_hex(16)}"}

    def webhook_secret(self) -> str:
        return self._client_secret  # HubSpot signs with the app's client secret

    # --- records to write ---------------------------------------------------------------

    def new_record(self, object_name: str) -> dict[str, Any]:
        number = next(self._serial)
        factories: dict[str, Callable[[], dict[str, Any]]] = {
            "contacts": lambda: {
                "email": f"conformance+{self._run}.{number}@example.com",
                "firstname": f"Zoë {number}",
                "lastname": "O'Contact & Co",
            },
            "companies": lambda: {
                "name": f"Conformance Söhne {self._run} {number}",
                "domain": f"c{number}-{self._run}.example.com",
            },
            "deals": lambda: {"dealname": f"Deal & more {self._run} {number}", "amount": "1500"},
        }
        return factories[self._known(object_name)]()

    def record_update(self, object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        field = {"contacts": "jobtitle", "companies": "industry", "deals": "dealstage"}
        return {field[self._known(object_name)]: f"Updated {self._run} {next(self._serial)}"}

    def invalid_record(self, object_name: str) -> Rejection:
        rejections = {
            "contacts": Rejection({"email": "no-at-sign"}, "Email address no-at-sign is invalid"),
            "companies": Rejection({"colour": "red"}, 'Property \\"colour\\" does not exist'),
            "deals": Rejection({"colour": "red"}, 'Property \\"colour\\" does not exist'),
        }
        return rejections[self._known(object_name)]

    def upsert_identifier(self, object_name: str) -> str | None:
        return "email" if object_name == "contacts" else None

    # --- the vendor, bypassing the client -----------------------------------------------
    # Records as the element reads them: the properties it asks for, flattened by its hooks
    # (the suite compares the client's records with these).

    def _as_read(self, object_name: str, record: dict[str, Any]) -> dict[str, Any]:
        listing = self.element.objects[object_name].list
        wanted = listing.params["properties"].split(",") if listing is not None else None
        return normalize_record(object_name, shaped(record, object_name, wanted))

    async def vendor_records(self, object_name: str) -> list[dict[str, Any]]:
        return [
            self._as_read(object_name, record)
            for record in self._store.snapshot(self._known(object_name))
        ]

    async def vendor_create(self, object_name: str) -> dict[str, Any]:
        created = self._store.create(object_name, self.new_record(object_name))
        return self._as_read(object_name, created)

    async def vendor_update(self, object_name: str, record_id: str) -> dict[str, Any]:
        record = self._store.get(object_name, record_id)
        updated = self._store.update(
            object_name, record_id, self.record_update(object_name, record)
        )
        return self._as_read(object_name, updated)

    async def vendor_delete(self, object_name: str, record_id: str) -> None:
        self._store.delete(self._known(object_name), record_id)

    async def vendor_now(self) -> datetime:
        return datetime.fromtimestamp(self._store.clock.now() / 1000, UTC)

    # --- webhooks: the app's target URL, signed with its client secret ------------------

    async def subscribe_webhook(self, url: str, secret: str) -> None:
        self._hook_url = url
        self._hubspot.subscribe(url, secret)

    def sign_webhook(self, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
        stamp = str(timestamp * 1000)
        return {
            SIGNATURE_HEADER: sign(secret, "POST", self._hook_url, body, stamp),
            TIMESTAMP_HEADER: stamp,
        }

    def verify_webhook(
        self, secret: str, body: bytes, headers: Mapping[str, str], *, tolerance_seconds: float
    ) -> bool:
        return verify(secret, "POST", self._hook_url, body, headers, tolerance=tolerance_seconds)

    def _known(self, object_name: str) -> str:
        if object_name not in OBJECTS:
            raise KeyError(f"the HubSpot harness knows no object {object_name!r}")
        return object_name
