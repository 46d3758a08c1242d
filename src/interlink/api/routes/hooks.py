"""`POST /v1/hooks/{instance_id}/{token}`: where vendors post their webhooks. Public: the
token in the URL and the vendor's signature authenticate the post, not a bearer key."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from interlink.api.auth import get_hub
from interlink.api.problems import Problem
from interlink.eventing.webhooks.normalize import MalformedPayload
from interlink.eventing.webhooks.receiver import (
    MAX_BODY_BYTES,
    HookNotFound,
    NotWebhookMode,
    RecordUnavailable,
    find_hook,
    receive_post,
    verify_post,
)
from interlink.eventing.webhooks.signatures import SignatureError, SignedRequest
from interlink.hub import Hub

router = APIRouter(prefix="/v1/hooks", tags=["webhooks"])
log = logging.getLogger("interlink.eventing.webhooks")

NOT_FOUND_DETAIL = "no webhook endpoint at this URL"


@router.post("/{instance_id}/{token}")
async def receive_webhook(
    instance_id: str, token: str, request: Request, hub: Hub = Depends(get_hub)
) -> JSONResponse:
    """Verify, store durably, then answer: 200 `{"received", "duplicates", "ignored"}`,
    202 while the instance's events are paused (nothing stored)."""
    try:
        hook = await find_hook(hub, instance_id, token)
    except HookNotFound:
        # The same answer whether the instance is unknown, deleted, or the token wrong.
        raise Problem(404, "Not found", NOT_FOUND_DETAIL) from None
    except NotWebhookMode as exc:
        raise Problem(409, "Not in webhook mode", str(exc)) from None
    body = await _read_body(request)
    signed = SignedRequest.of(
        body, request.headers.items(), method=request.method, url=_public_url(hub, request)
    )
    try:
        verify_post(hub, hook, signed)
    except SignatureError as exc:
        log.warning("webhook post for instance %s refused: %s", instance_id, exc.detail)
        raise Problem(401, "Invalid signature", exc.detail, reason=exc.reason) from None
    try:
        receipt = await receive_post(hub, hook, body, signed.headers)
    except MalformedPayload as exc:
        raise Problem(400, "Malformed webhook payload", exc.detail, field=exc.field) from None
    except HookNotFound:
        raise Problem(404, "Not found", NOT_FOUND_DETAIL) from None
    except RecordUnavailable as exc:
        headers = _retry_after(exc.retry_after)
        raise Problem(503, "Vendor unavailable", str(exc), headers=headers) from None
    if receipt.paused:
        return JSONResponse({"received": 0, "duplicates": 0, "paused": True}, status_code=202)
    answer: dict[str, Any] = {
        "received": receipt.received,
        "duplicates": receipt.duplicates,
        "ignored": receipt.ignored,
    }
    return JSONResponse(answer, status_code=200)


async def _read_body(request: Request) -> bytes:
    """The raw body (signatures cover its exact bytes), refused past MAX_BODY_BYTES before
    more than that is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> Problem:
    return Problem(413, "Payload too large", f"webhook posts are limited to {MAX_BODY_BYTES} bytes")


def _public_url(hub: Hub, request: Request) -> str:
    """The URL the vendor was given (some schemes sign it): the hub's public URL, never the
    request's Host header."""
    instance_id, token = request.path_params["instance_id"], request.path_params["token"]
    url = f"{hub.public_url}/v1/hooks/{instance_id}/{token}"
    return f"{url}?{request.url.query}" if request.url.query else url


def _retry_after(seconds: float | None) -> dict[str, str] | None:
    return {"Retry-After": str(math.ceil(seconds))} if seconds is not None else None
