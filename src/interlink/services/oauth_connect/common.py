"""What both halves of the connect flow share: the callback path, the flow's outcome
types, and small helpers."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from interlink.errors import InterlinkError

CALLBACK_PATH = "/v1/oauth/callback"
# Pending authorizations are kept this long past their expiry (to answer "expired"), then purged.
KEEP_EXPIRED = timedelta(days=1)
MAX_VENDOR_TEXT = 300
ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class AuthorizationFailed(InterlinkError):
    """The callback cannot create the instance; nothing was created.

    `code` is an OAuth-style error code for the browser (`access_denied`, …) and
    `redirect_after` where to send it, when the authorization said so."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str,
        redirect_after: str | None = None,
        authorization_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.redirect_after = redirect_after
        self.authorization_id = authorization_id


@dataclass(frozen=True)
class CompletedAuthorization:
    authorization_id: str
    instance: dict[str, Any]
    redirect_after: str | None


# --- starting ---------------------------------------------------------------------------


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def vendor_text(text: str | None) -> str:
    """A vendor's words, made safe to repeat: one line, bounded."""
    flat = " ".join((text or "").split())
    return flat[:MAX_VENDOR_TEXT]


def iso_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
