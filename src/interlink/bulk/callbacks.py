"""The completion callback: the job's status as one signed CloudEvent to its callback URL.

Signed like deliveries (Standard Webhooks, the instance's signing secrets in force), so a
receiver verifies it with the code it already has. The event id is stable per job and
outcome, so a receiver drops a callback it has already handled.
"""

from __future__ import annotations

import logging

import httpx
import orjson

from interlink.bulk.jobs import describe
from interlink.errors import UnsafeURL
from interlink.eventing.delivery.sender import USER_AGENT
from interlink.eventing.delivery.signing import Signer, secrets_in_force
from interlink.hub import Hub
from interlink.security.outbound import guarded_transport
from interlink.storage.models import BulkJob, Instance
from interlink.storage.types import utcnow

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/cloudevents+json"


class CallbackFailed(Exception):
    """The receiver did not take the callback; the runtime tries again later."""


def callback_event(job: BulkJob) -> dict[str, object]:
    outcome = "completed" if job.status == "completed" else job.status
    return {
        "specversion": "1.0",
        "id": f"{job.id}.{outcome}",
        "source": f"/v1/bulk/{job.id}",
        "type": f"bulk.{outcome}",
        "subject": job.id,
        "time": (job.finished_at or utcnow()).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": describe(job),
    }


async def send_callback(hub: Hub, job_id: str) -> None:
    async with hub.database.transaction() as session:
        job = await session.get(BulkJob, job_id)
        if job is None or not job.callback_url:
            return
        instance = await session.get(Instance, job.instance_id)
        if instance is None:
            return
        event = callback_event(job)
        signer = Signer.of(secrets_in_force(hub.secrets, instance, utcnow()))
        url = job.callback_url
    body = orjson.dumps(event)
    headers = {
        **signer.headers(str(event["id"]), body, utcnow()),
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
    }
    timeout = hub.settings.delivery_timeout_seconds
    transport = guarded_transport(
        allow_private=hub.settings.allow_private_networks, verify=hub.tls_context
    )
    async with httpx.AsyncClient(
        transport=transport, follow_redirects=False, timeout=timeout
    ) as client:
        try:
            answer = await client.post(url, content=body, headers=headers)
        except UnsafeURL as exc:
            # Refused at connect time (it resolves inside the network): trying again
            # would be refused again.
            logger.warning("bulk job %s: callback not sent: %s", job_id, exc)
            return
        except httpx.HTTPError as exc:
            raise CallbackFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
    if not 200 <= answer.status_code < 300:
        raise CallbackFailed(f"{url} answered {answer.status_code}")
