"""`Idempotency-Key` on creating POSTs: the same key within 24 hours replays the first answer.

The stored answer is written in the same transaction as what the request created, so
either both exist or neither does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.api.problems import Problem
from interlink.storage.models import IdempotentRequest
from interlink.storage.types import utcnow

IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 255

Create = Callable[[], Awaitable[tuple[int, Any]]]


async def idempotent(
    request: Request, session: AsyncSession, organization_id: str, create: Create
) -> Response:
    """Replay the first answer for a known key, or create and remember the answer."""
    replay = await replay_answer(request, session, organization_id)
    if replay is not None:
        return replay
    status, body = await create()
    return await remember_answer(request, session, organization_id, status, body)


def _key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and (not key or len(key) > MAX_KEY_LENGTH):
        raise Problem(
            400,
            "Invalid Idempotency-Key",
            f"1 to {MAX_KEY_LENGTH} characters",
            field="Idempotency-Key",
        )
    return key


async def replay_answer(
    request: Request, session: AsyncSession, organization_id: str, *, fingerprint: str | None = None
) -> Response | None:
    """The stored answer for this request's key, if it was seen within the window.

    `fingerprint` stands in for the body where it cannot be read twice (an upload
    streamed to the file store): the request is then known by method and path."""
    key = _key(request)
    if key is None:
        return None
    previous = await session.get(IdempotentRequest, (organization_id, key))
    if previous is None:
        return None
    if previous.created_at <= utcnow() - IDEMPOTENCY_WINDOW:
        await session.delete(previous)
        await session.flush()
        return None
    if previous.fingerprint != await _fingerprint(request, fingerprint):
        raise Problem(
            422,
            "Idempotency-Key reused",
            "this key was used for a different request in the last 24 hours",
            field="Idempotency-Key",
        )
    return Response(
        previous.body,
        status_code=previous.status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


async def remember_answer(
    request: Request,
    session: AsyncSession,
    organization_id: str,
    status: int,
    body: Any,
    *,
    fingerprint: str | None = None,
) -> Response:
    encoded = orjson.dumps(body).decode()
    key = _key(request)
    if key is not None:
        try:
            async with session.begin_nested():
                session.add(
                    IdempotentRequest(
                        organization_id=organization_id,
                        key=key,
                        method=request.method,
                        path=request.url.path,
                        fingerprint=await _fingerprint(request, fingerprint),
                        status_code=status,
                        body=encoded,
                    )
                )
        except IntegrityError as exc:
            raise Problem(
                409, "Concurrent request", "a request with this Idempotency-Key is in progress"
            ) from exc
    return Response(encoded, status_code=status, media_type="application/json")


async def _fingerprint(request: Request, instead_of_body: str | None = None) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}\n".encode())
    if instead_of_body is None:
        digest.update(await request.body())
    else:
        digest.update(f"[{instead_of_body}]".encode())
    return digest.hexdigest()


async def purge_expired(session: AsyncSession) -> int:
    """Forget answers past the window; run by the retention job."""
    result = await session.execute(
        delete(IdempotentRequest).where(
            IdempotentRequest.created_at < utcnow() - IDEMPOTENCY_WINDOW
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
