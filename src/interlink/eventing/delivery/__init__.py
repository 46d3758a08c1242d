"""Delivery out: signed CloudEvents batches to an instance's callback URL, one delivery at a
time in sequence order, each try stored as an attempt, retried on the configured schedule.

- `signing`: Standard Webhooks v1 headers, the signing secrets in force, rotation.
- `schedule`: when to try again (the schedule, its jitter, `Retry-After`).
- `sender`: one HTTP attempt through the outbound guard, classified into an `AttemptResult`.
- `outcome`: what an attempt does to its delivery and to the instance's delivery state.
- `queue`: the database side: the head of an instance's queue, with the bodies to send.
- `task`: the deliver job that drains an instance's queue and records the attempts.
- `operations`, `listing`: what the API does (retry, replay) and reads (the events feed,
  the delivery log, their public shapes).
"""

from interlink.eventing.delivery.task import (
    DELIVER_TIMER_TASK,
    register_delivery,
    wake_due_deliveries,
)

__all__ = ["DELIVER_TIMER_TASK", "register_delivery", "wake_due_deliveries"]
