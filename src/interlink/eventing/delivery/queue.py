"""An instance's delivery queue in the database: its head, with the bodies to send.

The queue is the instance's unfinished deliveries in `first_sequence` order. They are sent
in that order, each only once the one before has succeeded (or died), so a later event
of a record cannot overtake an earlier one. Each delivery carries its body, encoded when it
was created: sending reads neither the events nor the ORM objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, case, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.storage.models import UNFINISHED_DELIVERY, Delivery, Instance


def accepts_deliveries(instance: Instance | None) -> bool:
    """Deleted instances, disabled delivery and a missing callback URL stop the queue."""
    return (
        instance is not None
        and instance.deleted_at is None
        and instance.delivery_state == "enabled"
        and bool(instance.events.get("callback_url"))
    )


class QueuedDelivery(NamedTuple):
    """What sending a delivery needs; `payload` is only read once it is due."""

    id: str
    attempts: int
    next_attempt_at: datetime | None
    payload: bytes | None
    due: bool


# Built once: building the statement (and its IN list) cost about a third of reading a
# window. Spelt as the partial index spells it, so the head is read from that index in order.
_DUE = or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= bindparam("now"))
_HEAD = (
    select(
        Delivery.id,
        Delivery.attempts,
        Delivery.next_attempt_at,
        case((_DUE, Delivery.payload)).label("payload"),
    )
    .where(Delivery.instance_id == bindparam("instance_id"), text(UNFINISHED_DELIVERY))
    .order_by(Delivery.first_sequence, Delivery.id)
    .limit(bindparam("limit"))
)
_HEAD_SKIPPING = _HEAD.where(Delivery.id.not_in(bindparam("skipping", expanding=True)))


async def head_of_queue(
    session: AsyncSession,
    instance_id: str,
    now: datetime,
    *,
    limit: int,
    skipping: Sequence[str] = (),
) -> list[QueuedDelivery]:
    """The first `limit` unfinished deliveries, lowest first sequence first (then oldest),
    with the bodies of those due at `now` (a head waiting for hours costs no body);
    `skipping`: deliveries being sent, not recorded yet."""
    parameters = {"instance_id": instance_id, "now": now, "limit": limit}
    if skipping:
        rows = await session.execute(_HEAD_SKIPPING, {**parameters, "skipping": list(skipping)})
    else:
        rows = await session.execute(_HEAD, parameters)
    return [
        QueuedDelivery(
            delivery_id,
            attempts,
            next_attempt_at,
            payload,
            due=next_attempt_at is None or next_attempt_at <= now,
        )
        for delivery_id, attempts, next_attempt_at, payload in rows
    ]
