"""What an element brings to the conformance suite: its vendor, running, and ways to act on it.

Every element of the catalog has one `Harness` subclass, listed in
`tests.conformance.harnesses.HARNESSES`. Entering the harness starts the vendor (a simulator
on loopback, seeded with records); the harness then answers everything the suite cannot
learn from the definition: the instance config, records worth writing, how to change things
at the vendor without going through `VendorClient`, and how the vendor signs its webhooks.

What the suite checks is decided by the definition alone (capabilities it declares), so a
harness never skips a check: it only supplies the vendor-specific parts.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx

from interlink.elements.catalog import builtin_elements
from interlink.elements.definition import ElementDefinition
from interlink.elements.templates import render
from interlink.security.outbound import guarded_transport
from interlink.vendor import build_auth
from interlink.vendor.redaction import Redactor

WAIT_SECONDS = 10.0  # the bound of anything the suite waits for


@dataclass(frozen=True)
class Rejection:
    """A record the vendor refuses, and words its refusal must contain."""

    record: dict[str, Any]
    message: str


class Harness(ABC):
    """One element's vendor for the suite; `async with Harness() as vendor:` starts it.

    Subclasses set `element_key` and implement the abstract methods. The webhook methods
    matter only for elements that declare `webhooks`; the defaults refuse loudly.
    """

    element_key: ClassVar[str]
    # Words of the vendor's refusal of wrong credentials (VendorAuthError.vendor_message).
    auth_failure_message: ClassVar[str]
    # How often the vendor's clock is read while waiting for it to move (see `tick`).
    clock_resolution_seconds: ClassVar[float] = 0.001

    @property
    def element(self) -> ElementDefinition:
        """The catalog's definition: the suite tests what ships, not a copy."""
        return builtin_elements()[self.element_key]

    # --- lifecycle ------------------------------------------------------------------------

    @abstractmethod
    async def start(self) -> None:
        """Starts the vendor on loopback, seeded with enough records of every object for
        several pages; returns once it answers."""

    @abstractmethod
    async def stop(self) -> None:
        """Stops the vendor and releases everything `start` took."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- the instance -------------------------------------------------------------------

    @property
    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The instance config (`base_url`, credentials…) as `VendorClient` takes it."""

    @abstractmethod
    def wrong_credentials(self) -> dict[str, Any]:
        """`config` with credentials the vendor refuses (and nothing else changed)."""

    def vendor_http(self) -> httpx.AsyncClient:
        """A plain HTTP client on the vendor, authenticated as the element says: for
        downloads the vendor client does not decode (NDJSON files)."""
        config = self.config
        return httpx.AsyncClient(
            base_url=render(self.element.base_url, config),
            auth=build_auth(self.element, config, redactor=Redactor()),
            transport=guarded_transport(allow_private=True),
            follow_redirects=False,
            trust_env=False,
            timeout=WAIT_SECONDS,
        )

    # --- records to write ---------------------------------------------------------------

    @abstractmethod
    def new_record(self, object_name: str) -> dict[str, Any]:
        """A valid record to create, different from every other one this harness made."""

    @abstractmethod
    def record_update(self, object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Fields that really change `record` (a fresh value each call)."""

    @abstractmethod
    def invalid_record(self, object_name: str) -> Rejection:
        """A record the vendor refuses to create, with the words of its refusal."""

    def upsert_identifier(self, object_name: str) -> str | None:
        """The property a native batch upsert matches records by (`email`), if any."""
        return None

    # --- the vendor, bypassing the client -----------------------------------------------

    @abstractmethod
    async def vendor_records(self, object_name: str) -> list[dict[str, Any]]:
        """Every live record of the object, exactly as the vendor holds it."""

    @abstractmethod
    async def vendor_create(self, object_name: str) -> dict[str, Any]:
        """Creates a record at the vendor directly; answers it as the vendor holds it."""

    @abstractmethod
    async def vendor_update(self, object_name: str, record_id: str) -> dict[str, Any]:
        """Changes a record at the vendor directly (its updated time moves)."""

    @abstractmethod
    async def vendor_delete(self, object_name: str, record_id: str) -> None:
        """Deletes a record at the vendor directly."""

    @abstractmethod
    async def vendor_now(self) -> datetime:
        """The vendor's own clock (aware), the one its updated times are written with."""

    async def tick(self) -> None:
        """Waits until the vendor's clock has moved past its reading now, so that what
        happens next is strictly later than anything before."""
        start = await self.vendor_now()
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(self.clock_resolution_seconds)
            if await self.vendor_now() > start:
                return
        raise AssertionError("the vendor's clock did not move")

    # --- webhooks (elements that declare them) ------------------------------------------

    def webhook_secret(self) -> str:
        """The secret the suite subscribes with."""
        return "conformance-webhook-secret-0123456789"

    async def subscribe_webhook(self, url: str, secret: str) -> None:
        """For elements whose definition declares no registration: subscribes `url` at
        the vendor directly (as a user would in the vendor's settings)."""
        raise NotImplementedError(f"{type(self).__name__} cannot subscribe webhooks")

    def sign_webhook(self, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
        """The headers the vendor would sign `body` with at `timestamp` (unix seconds)."""
        raise NotImplementedError(f"{type(self).__name__} cannot sign webhooks")

    def verify_webhook(
        self, secret: str, body: bytes, headers: Mapping[str, str], *, tolerance_seconds: float
    ) -> bool:
        """Whether `headers` sign `body` with `secret` by the vendor's scheme, recently.
        `headers` is case-insensitive (httpx.Headers)."""
        raise NotImplementedError(f"{type(self).__name__} cannot verify webhooks")
