"""Salesforce's harness: the Salesforce simulator on loopback, changed through its store."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any, ClassVar

from tests.conformance.harness import Harness, Rejection
from tests.simulators.salesforce import (
    INVALID_GRANT,
    RunningSalesforce,
    SalesforceStore,
    running_salesforce,
)

OBJECTS = ("Account", "Contact", "Opportunity")
SEED_COUNT = 12  # of each object: several pages at a quarter of it


class SalesforceHarness(Harness):
    element_key: ClassVar[str] = "salesforce"
    auth_failure_message: ClassVar[str] = INVALID_GRANT

    def __init__(self) -> None:
        self._client_id = f"3MVG9{secrets.token_hex(12)}"
        self._client_secret = secrets.token_hex(16)
        self._refresh_token = f"5Aep861{secrets.token_hex(20)}"
        self._run = secrets.token_hex(4)
        self._serial = itertools.count(1)
        self._stack = AsyncExitStack()
        self._running: RunningSalesforce | None = None

    async def start(self) -> None:
        self._running = await self._stack.enter_async_context(
            running_salesforce(
                client_id=self._client_id,
                client_secret=self._client_secret,
                refresh_token=self._refresh_token,
                seed_count=SEED_COUNT,
                # Salesforce pages at 200 at least; the suite pages a dozen records.
                min_batch_size=1,
                results_page_size=5,
            )
        )

    async def stop(self) -> None:
        self._running = None
        await self._stack.aclose()

    @property
    def _salesforce(self) -> RunningSalesforce:
        if self._running is None:
            raise RuntimeError("the Salesforce harness is not started")
        return self._running

    @property
    def _store(self) -> SalesforceStore:
        return self._salesforce.store

    @property
    def config(self) -> dict[str, Any]:
        url = self._salesforce.url
        return {
            "instance_url": url,
            "login_url": url,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }

    def wrong_credentials(self) -> dict[str, Any]:
        return {**self.config, "refresh_token": f"5Aep861{secrets.token_hex(20)}"}

    # --- records to write ---------------------------------------------------------------

    def new_record(self, object_name: str) -> dict[str, Any]:
        number = next(self._serial)
        factories: dict[str, Callable[[], dict[str, Any]]] = {
            # Values with spaces, +, &, quotes, commas and non-ASCII: SOQL literals and
            # CSV cells must carry them intact.
            "Account": lambda: {
                "Name": f"Conformance & Söhne, {self._run} {number}",
                "Industry": "Testing + QA",
                "Website": f"https://conformance-{self._run}-{number}.example.com",
                "NumberOfEmployees": number,
                "AnnualRevenue": 1234.5,
            },
            "Contact": lambda: {
                "FirstName": "Zoë",
                "LastName": f"O'Record {number}",
                "Email": f"conformance+{self._run}.{number}@example.com",
                "Title": 'R&D Lead / "QA"',
                "Phone": f"+1 555 {number:07d}",
            },
            "Opportunity": lambda: {
                "Name": f"Conformance deal {self._run} {number}",
                "StageName": "Needs Analysis",
                "CloseDate": "2025-12-31",
                "Amount": 2500.0,
            },
        }
        return factories[self._known(object_name)]()

    def record_update(self, object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        number = next(self._serial)
        field = {"Account": "Industry", "Contact": "Title", "Opportunity": "StageName"}
        return {field[self._known(object_name)]: f"Updated {self._run} {number}"}

    def invalid_record(self, object_name: str) -> Rejection:
        rejections = {
            "Account": Rejection({"Industry": "Nameless"}, "Required fields are missing: [Name]"),
            "Contact": Rejection(
                {"LastName": "Invalid", "Email": "no-at-sign"},
                "Email: invalid email address: no-at-sign",
            ),
            "Opportunity": Rejection(
                {"Name": "Stageless", "CloseDate": "2025-01-01"},
                "Required fields are missing: [StageName]",
            ),
        }
        return rejections[self._known(object_name)]

    def upsert_identifier(self, object_name: str) -> str | None:
        self._known(object_name)
        return "Id"  # the external ID field every object has

    # --- the vendor, bypassing the client: the store, in this event loop ----------------

    async def vendor_records(self, object_name: str) -> list[dict[str, Any]]:
        return self._store.snapshot(self._known(object_name))

    async def vendor_create(self, object_name: str) -> dict[str, Any]:
        return self._store.create(self._known(object_name), self.new_record(object_name))

    async def vendor_update(self, object_name: str, record_id: str) -> dict[str, Any]:
        record = self._store.get(object_name, record_id)
        return self._store.update(object_name, record_id, self.record_update(object_name, record))

    async def vendor_delete(self, object_name: str, record_id: str) -> None:
        self._store.delete(self._known(object_name), record_id)

    async def vendor_now(self) -> datetime:
        return datetime.fromtimestamp(self._store.clock.now(), UTC)

    async def tick(self) -> None:
        # SOQL compares whole seconds and getDeleted whole minutes: the simulated clock
        # steps past the minute rather than the suite waiting for the real one.
        self._store.clock.advance(61)

    def _known(self, object_name: str) -> str:
        if object_name not in OBJECTS:
            raise KeyError(f"the Salesforce harness knows no object {object_name!r}")
        return object_name
