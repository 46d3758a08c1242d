"""Errors of the Sandbox CRM, each carrying the HTTP status and code it answers with."""

from __future__ import annotations

from typing import Any

from interlink.errors import InterlinkError


class SandboxError(InterlinkError):
    """An error the sandbox answers as `{"error": code, "message": text}`."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON error body, as a vendor API would send it."""
        return {"error": self.code, "message": self.message}


class BadRequest(SandboxError):
    """Malformed parameters or request body (400)."""

    status = 400
    code = "bad_request"


class Unauthorized(SandboxError):
    """Missing or wrong API key (401)."""

    status = 401
    code = "unauthorized"


class NotFoundError(SandboxError):
    """Unknown object, record, export or webhook (404)."""

    status = 404
    code = "not_found"


class ValidationFailed(SandboxError):
    """A record write the CRM refuses (422); `field` names the culprit."""

    status = 422
    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def body(self) -> dict[str, Any]:
        body = super().body()
        if self.field is not None:
            body["field"] = self.field
        return body


class DuplicateRecord(SandboxError):
    """A unique value (a contact's email) already held by another record (409)."""

    status = 409
    code = "conflict"

    def __init__(self, message: str, *, existing_id: str) -> None:
        super().__init__(message)
        self.existing_id = existing_id

    def body(self) -> dict[str, Any]:
        return {**super().body(), "existing_id": self.existing_id}


class NotReady(SandboxError):
    """An export file asked for before the export is complete (409)."""

    status = 409
    code = "export_not_ready"
