"""The per-object part of an instance's `status`: polling state, mark, lag, last error."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.storage.models import EventStream, Instance
from interlink.storage.types import utcnow


async def object_status(session: AsyncSession, instance: Instance) -> dict[str, Any]:
    streams = {
        stream.object_name: stream
        for stream in await session.scalars(
            select(EventStream).where(EventStream.instance_id == instance.id)
        )
    }
    now = utcnow()
    status: dict[str, Any] = {}
    for name in instance.events.get("objects", []):
        stream = streams.get(name)
        if stream is None:
            status[name] = {
                "state": "baselining",
                "last_poll_at": None,
                "last_poll_outcome": None,
                "high_water_mark": None,
                "lag_seconds": None,
                "last_error": None,
                "next_poll_at": None,
            }
            continue
        status[name] = {
            "state": stream.state,
            "last_poll_at": _iso(stream.last_poll_at),
            "last_poll_outcome": stream.last_poll_outcome,
            "high_water_mark": stream.high_water_mark,
            # How stale Interlink's view of the vendor is: time since the last good poll.
            "lag_seconds": round((now - stream.last_poll_at).total_seconds(), 3)
            if stream.last_poll_at and stream.last_poll_outcome == "ok"
            else None,
            "last_error": stream.last_error,
            "next_poll_at": _iso(stream.next_poll_at),
        }
    return status


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
