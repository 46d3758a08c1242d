"""Settings from the environment (`INTERLINK_*`), as the SPEC names them."""

from __future__ import annotations

import logging
import os
import re
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from interlink.errors import ConfigurationError

log = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 32
# `INTERLINK_OAUTH_<ELEMENT>_CLIENT_ID` / `_CLIENT_SECRET`: the hub's own OAuth app at a vendor.
_OAUTH_APP_VARIABLE = re.compile(
    r"^INTERLINK_OAUTH_(?P<element>[A-Z0-9_]+)_CLIENT_(?P<part>ID|SECRET)$"
)


class OAuthApp(BaseModel):
    """The hub's OAuth client registered at one vendor, used by built-in elements."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr


def oauth_app_name(element_key: str) -> str:
    """`HUBSPOT` for `hubspot`, `MY_CRM` for `my-crm`: how the variables name an element."""
    return element_key.upper().replace("-", "_")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTERLINK_", extra="ignore")

    data_dir: Path = Path(".interlink")
    database_url: str | None = None
    file_store: str | None = None
    secret_key: str | None = None
    public_url: str | None = None
    allow_private_networks: bool = False
    retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    min_poll_interval: int = Field(default=1, ge=1)
    vendor_timeout_seconds: float = 30.0
    delivery_timeout_seconds: float = Field(default=15.0, gt=0)
    # Delivery of an instance is disabled after this long of nothing but failures.
    delivery_disable_after_seconds: float = Field(default=5 * 24 * 3600, gt=0)
    events_retention_days: float = Field(default=30, gt=0)
    bulk_files_retention_days: float = Field(default=3, gt=0)
    # The largest file a bulk upload takes; bigger ones are answered 413.
    max_upload_bytes: int = Field(default=1 << 30, ge=1)
    # Jobs one process runs at the same time (`interlink worker --concurrency` overrides).
    worker_concurrency: int = Field(default=4, ge=1)
    # Deliveries' own slots in each process, besides those: a burst of deliveries never
    # holds up polls and exports, nor they deliveries. 0: deliveries share the slots above.
    delivery_concurrency: int = Field(default=4, ge=0)
    # Spread of poll times around the interval, so many instances do not poll in step.
    poll_jitter: float = Field(default=0.1, ge=0, le=0.5)

    # Built-in elements' OAuth apps by `oauth_app_name`, read from the environment
    # (INTERLINK_OAUTH_<ELEMENT>_CLIENT_ID and INTERLINK_OAUTH_<ELEMENT>_CLIENT_SECRET).
    oauth_apps: dict[str, OAuthApp] = Field(default_factory=dict)
    # How long an authorization started at /v1/oauth/{element}/authorize stays usable.
    oauth_state_ttl_seconds: float = Field(default=600, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _oauth_apps_from_environment(cls, values: object) -> object:
        if not isinstance(values, dict) or values.get("oauth_apps"):
            return values
        parts: dict[str, dict[str, str]] = {}
        for variable, value in os.environ.items():
            match = _OAUTH_APP_VARIABLE.match(variable)
            if match:
                parts.setdefault(match["element"], {})[f"client_{match['part'].lower()}"] = value
        apps = {name: app for name, app in parts.items() if len(app) == 2}
        return {**values, "oauth_apps": apps} if apps else values

    def oauth_app(self, element_key: str) -> OAuthApp | None:
        return self.oauth_apps.get(oauth_app_name(element_key))

    @field_validator("retry_schedule")
    @classmethod
    def _schedule_is_numbers(cls, value: str) -> str:
        try:
            [float(part) for part in value.split(",") if part.strip()]
        except ValueError as exc:
            raise ValueError("INTERLINK_RETRY_SCHEDULE must be comma-separated seconds") from exc
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'interlink.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def retry_delays(self) -> list[float]:
        return [float(part) for part in self.retry_schedule.split(",") if part.strip()]

    @cached_property
    def secret_keys(self) -> list[str]:
        """The credential keys, first one encrypting; generated once on the embedded default."""
        if self.secret_key:
            keys = [key.strip() for key in self.secret_key.split(",") if key.strip()]
            short = [key for key in keys if len(key) < MIN_SECRET_LENGTH]
            if not keys or short:
                raise ConfigurationError(
                    f"INTERLINK_SECRET_KEY: every key needs {MIN_SECRET_LENGTH}+ characters"
                )
            return keys
        if not self.is_sqlite:
            raise ConfigurationError("INTERLINK_SECRET_KEY is required with PostgreSQL")
        return [self._generated_secret()]

    def _generated_secret(self) -> str:
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # Create with 0600 before writing, so the key is never world-readable.
        path.touch(mode=0o600)
        path.write_text(key)
        log.warning(
            "INTERLINK_SECRET_KEY is not set: generated one into %s. "
            "Back it up; credentials cannot be decrypted without it.",
            path,
        )
        return key


def load_settings() -> Settings:
    return Settings()
