"""The package's exception tree: one root, classified where errors enter."""

from __future__ import annotations


class InterlinkError(Exception):
    """Root of every error Interlink raises on purpose."""


class ConfigurationError(InterlinkError):
    """Settings or a definition that cannot work."""


class NotFound(InterlinkError):
    """A resource that does not exist, or belongs to another organization."""


class InvalidInput(InterlinkError):
    """Input a caller sent that cannot be accepted; `field` says where."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class PayloadTooLarge(InterlinkError):
    """A request body over its size limit; `limit` is that limit in bytes."""

    def __init__(self, detail: str, *, limit: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.limit = limit


class Conflict(InterlinkError):
    """A request that clashes with the current state."""


class UnsafeURL(InvalidInput):
    """An outbound URL that names or resolves to an address inside the network."""
