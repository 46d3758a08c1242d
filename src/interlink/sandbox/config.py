"""Settings of one Sandbox CRM server: key, seed size and the faults it simulates."""

from __future__ import annotations

from dataclasses import dataclass

from interlink.errors import ConfigurationError

DEFAULT_API_KEY = "sandbox-key"


@dataclass(frozen=True)
class SandboxConfig:
    """What `interlink sandbox` takes on its command line, plus knobs for tests."""

    api_key: str = DEFAULT_API_KEY
    seed: int = 0
    rate_limit: float | None = None  # requests per second; None means unlimited
    fail_rate: float = 0.0  # share of requests answered 500, from 0 to 1
    latency_ms: float = 0.0  # added before every answer
    webhook_retry_base_seconds: float = 1.0  # retries wait base x 1, 2, 4, 8, 16
    random_seed: int | None = None  # seeds the fail-rate draw, for repeatable tests

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ConfigurationError("the sandbox API key must not be empty")
        if self.seed < 0:
            raise ConfigurationError("--seed must be 0 or more")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ConfigurationError("--rate-limit must be more than 0")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ConfigurationError("--fail-rate must be between 0 and 1")
        if self.latency_ms < 0:
            raise ConfigurationError("--latency-ms must be 0 or more")
        if self.webhook_retry_base_seconds < 0:
            raise ConfigurationError("webhook_retry_base_seconds must be 0 or more")
