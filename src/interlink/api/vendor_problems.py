"""How a vendor's answer shows through the API: one mapping from vendor errors to problems."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from interlink.api.problems import problem_response
from interlink.vendor import (
    RecordNotFound,
    RecordRejected,
    RetryableVendorError,
    VendorAuthError,
    VendorError,
)


def vendor_problem(exc: VendorError) -> JSONResponse:
    message = exc.vendor_message or str(exc)
    if isinstance(exc, RecordNotFound):
        return problem_response(404, "Record not found", message, vendor_status=exc.status)
    if isinstance(exc, RecordRejected):
        status = 409 if exc.status == 409 else 422
        return problem_response(
            status,
            "Rejected by the vendor",
            message,
            vendor_status=exc.status,
            vendor_error=exc.body if isinstance(exc.body, dict) else None,
        )
    if isinstance(exc, VendorAuthError):
        return problem_response(
            502,
            "Vendor authentication failed",
            f"{message} (see the instance's status.auth)",
            vendor_status=exc.status,
        )
    if isinstance(exc, RetryableVendorError):
        headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else None
        return problem_response(
            503, "Vendor unavailable", message, headers=headers, vendor_status=exc.status
        )
    return problem_response(502, "Vendor error", message, vendor_status=exc.status)


def install_vendor_problems(app: FastAPI) -> None:
    @app.exception_handler(VendorError)
    async def _vendor(_: Request, exc: VendorError) -> JSONResponse:
        return vendor_problem(exc)
