"""`POST /v1/instances/{id}/poll`: poll an instance's event objects now."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from interlink.api.auth import Caller, get_caller, get_hub
from interlink.eventing.polling.requests import request_poll, wait_for_polls
from interlink.eventing.status import object_status
from interlink.hub import Hub
from interlink.services.instances import get_instance
from interlink.storage.types import utcnow

router = APIRouter(prefix="/v1/instances", tags=["events"])

# `?wait=true` answers within this bound; past it, 202 says the polls are still running.
WAIT_SECONDS = 60.0


@router.post("/{instance_id}/poll", status_code=202)
async def poll_now(
    instance_id: str,
    wait: bool = False,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
) -> JSONResponse:
    """Queue a poll of each polled object (202 `{"queued": [...]}`). With `wait=true`,
    answer 200 with the objects' status once a poll begun after this request has ended."""
    requested = utcnow()
    async with hub.database.transaction() as session:
        instance = await get_instance(session, caller.organization_id, instance_id)
        queued = await request_poll(session, hub, instance)
    if not wait:
        return JSONResponse({"queued": queued}, status_code=202)
    done = False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WAIT_SECONDS):
            await wait_for_polls(hub, instance_id, queued, requested)
            done = True
    async with hub.database.transaction() as session:
        instance = await get_instance(session, caller.organization_id, instance_id)
        objects = await object_status(session, instance)
    return JSONResponse(
        {"queued": queued, "done": done, "objects": objects}, status_code=200 if done else 202
    )
