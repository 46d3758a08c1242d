"""The Sandbox CRM's harness: a seeded sandbox on loopback, changed through its store."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any, ClassVar

from interlink.sandbox import (
    SIGNATURE_HEADER,
    RunningSandbox,
    SandboxConfig,
    SandboxStore,
    running_sandbox,
    sign,
    verify,
)
from interlink.vendor import parse_time
from tests.conformance.harness import Harness, Rejection

# 57 contacts and 5 companies: a few pages of each even at modest page sizes, and
# repeated first names (the seed cycles through 31), so equality filters match several.
SEED_CONTACTS = 57


class SandboxHarness(Harness):
    element_key: ClassVar[str] = "sandbox"
    auth_failure_message: ClassVar[str] = (
        "a valid 'Authorization: Bearer <api key>' header is required"
    )

    def __init__(self) -> None:
        # Random and long: a leak of it into an error message cannot be a coincidence.
        self._api_key = f"sandbox-conformance-{secrets.token_hex(12)}"
        self._run = secrets.token_hex(4)
        self._serial = itertools.count(1)
        self._stack = AsyncExitStack()
        self._running: RunningSandbox | None = None

    async def start(self) -> None:
        config = SandboxConfig(
            api_key=self._api_key, seed=SEED_CONTACTS, webhook_retry_base_seconds=0.05
        )
        self._running = await self._stack.enter_async_context(running_sandbox(config))

    async def stop(self) -> None:
        self._running = None
        await self._stack.aclose()

    @property
    def _sandbox(self) -> RunningSandbox:
        if self._running is None:
            raise RuntimeError("the sandbox harness is not started")
        return self._running

    @property
    def _store(self) -> SandboxStore:
        return self._sandbox.store

    @property
    def config(self) -> dict[str, Any]:
        return {"base_url": self._sandbox.url, "api_key": self._api_key}

    def wrong_credentials(self) -> dict[str, Any]:
        return {**self.config, "api_key": f"sandbox-wrong-{secrets.token_hex(12)}"}

    # --- records to write ---------------------------------------------------------------

    def new_record(self, object_name: str) -> dict[str, Any]:
        number = next(self._serial)
        factories: dict[str, Callable[[], dict[str, Any]]] = {
            # Values with spaces, +, &, quotes and non-ASCII: filters must carry them intact.
            "contacts": lambda: {
                "email": f"conformance+{self._run}.{number}@example.com",
                "first_name": "Zoë",
                "last_name": f"O'Record {number}",
                "phone": f"+1 555 {number:07d}",
                "title": "R&D Lead / QA",
                "lifecycle_stage": "lead",
            },
            "companies": lambda: {
                "name": f"Conformance & Söhne {self._run} {number}",
                "domain": f"conformance-{self._run}-{number}.example.com",
                "industry": "Testing + QA",
                "employees": number,
            },
        }
        return factories[self._known(object_name)]()

    def record_update(self, object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        number = next(self._serial)
        field = {"contacts": "title", "companies": "industry"}[self._known(object_name)]
        return {field: f"Updated {self._run} {number}"}

    def invalid_record(self, object_name: str) -> Rejection:
        rejections = {
            "contacts": Rejection(
                {"email": "no-at-sign", "first_name": "Invalid"},
                "a contact needs an 'email' containing '@'",
            ),
            "companies": Rejection({"domain": "nameless.example.com"}, "a company needs a 'name'"),
        }
        return rejections[self._known(object_name)]

    def upsert_identifier(self, object_name: str) -> str | None:
        # Contacts are unique by email; companies have no unique property but their id.
        return {"contacts": "email", "companies": "id"}[self._known(object_name)]

    # --- the vendor, bypassing the client: the store, in this event loop ----------------

    async def vendor_records(self, object_name: str) -> list[dict[str, Any]]:
        return [dict(record) for record in self._store.collection(object_name).snapshot()]

    async def vendor_create(self, object_name: str) -> dict[str, Any]:
        return dict(self._store.collection(object_name).create(self.new_record(object_name)))

    async def vendor_update(self, object_name: str, record_id: str) -> dict[str, Any]:
        collection = self._store.collection(object_name)
        changes = self.record_update(object_name, collection.get(record_id))
        return dict(collection.update(record_id, changes))

    async def vendor_delete(self, object_name: str, record_id: str) -> None:
        self._store.collection(object_name).delete(record_id)

    async def vendor_now(self) -> datetime:
        return parse_time(self._store.clock.timestamp(), "rfc3339")

    # --- webhooks -----------------------------------------------------------------------

    def sign_webhook(self, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
        return {SIGNATURE_HEADER: sign(secret, body, timestamp)}

    def verify_webhook(
        self, secret: str, body: bytes, headers: Mapping[str, str], *, tolerance_seconds: float
    ) -> bool:
        return verify(
            secret, body, headers.get(SIGNATURE_HEADER), tolerance_seconds=tolerance_seconds
        )

    def _known(self, object_name: str) -> str:
        if object_name not in ("contacts", "companies"):
            raise KeyError(f"the sandbox harness knows no object {object_name!r}")
        return object_name
