"""The hub's shared state: settings, database, secrets, job runtime, vendor budgets.

API and worker roles are switched on by configuration and share this one object
(as in Svix's server); nothing else holds process-wide state.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from functools import cached_property

import httpx

from interlink.files import FileStore, file_store_from_settings
from interlink.runtime import JobRuntime
from interlink.security.outbound import guarded_transport
from interlink.security.secrets_box import SecretBox
from interlink.settings import Settings
from interlink.storage.database import Database
from interlink.vendor.pools import LentTransport, PoolsByOrigin
from interlink.vendor.ratelimit import RateLimiterRegistry

# Per vendor origin: no cap on connections at once (as each client had its own pool
# before), and idle ones kept a little longer than httpx's 5 s, for polls seconds apart.
VENDOR_LIMITS = httpx.Limits(
    max_connections=None, max_keepalive_connections=20, keepalive_expiry=15
)


@dataclass
class Hub:
    settings: Settings
    database: Database
    secrets: SecretBox
    limiters: RateLimiterRegistry = field(default_factory=RateLimiterRegistry)
    listen_url: str = "http://127.0.0.1:8000"
    # One OAuth renewal at a time per instance in this process (see services.token_keeper).
    _renewal_locks: dict[str, asyncio.Lock] = field(default_factory=dict, repr=False)
    # Set once the task registry (which needs the hub) exists; see server.build_hub.
    runtime_: JobRuntime | None = None

    def renewal_lock(self, instance_id: str) -> asyncio.Lock:
        return self._renewal_locks.setdefault(instance_id, asyncio.Lock())

    @property
    def runtime(self) -> JobRuntime:
        if self.runtime_ is None:
            raise RuntimeError("the hub has no job runtime yet")
        return self.runtime_

    @property
    def public_url(self) -> str:
        """Where vendors reach the hub: the setting, else where `serve` listens."""
        return (self.settings.public_url or self.listen_url).rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        return cls(
            settings=settings,
            database=Database(settings.resolved_database_url),
            secrets=SecretBox(settings.secret_keys),
        )

    @cached_property
    def files(self) -> FileStore:
        """Where bulk files live (`INTERLINK_FILE_STORE`, default the data folder)."""
        return file_store_from_settings(self.settings)

    @cached_property
    def tls_context(self) -> ssl.SSLContext:
        """One TLS context for every outbound client: building one loads the CA bundle,
        about 20 ms of CPU, which per poll was the hub's largest cost (docs/benchmarks.md)."""
        return httpx.create_ssl_context()

    @cached_property
    def _vendor_pools(self) -> PoolsByOrigin:
        return PoolsByOrigin(
            lambda: guarded_transport(
                allow_private=self.settings.allow_private_networks,
                verify=self.tls_context,
                limits=VENDOR_LIMITS,
            )
        )

    def vendor_transport(self) -> httpx.AsyncBaseTransport:
        """Every outbound call to a tenant-controlled URL goes through the guard, on the
        process's pools of vendor connections (vendor/pools.py): a poll reuses the
        connection the last poll of that vendor left open. Closing what this returns
        leaves the pools open; the hub closes them."""
        return LentTransport(self._vendor_pools)

    async def close(self) -> None:
        if "files" in self.__dict__:  # only a store that was opened has anything to close
            await self.files.aclose()
        if "_vendor_pools" in self.__dict__:
            await self._vendor_pools.aclose()
        await self.database.dispose()
