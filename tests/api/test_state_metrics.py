"""`/metrics` reports the deployment's state, read from the database at scrape time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from interlink.server import RunningHub
from interlink.settings import Settings
from interlink.storage.models import EventStream
from interlink.storage.types import utcnow
from tests.eventing.polling.support import make_instance
from tests.hub_fixtures import Org


@pytest.fixture
def hub_settings(tmp_path: Path, database_url: str) -> Settings:
    """On both databases: PostgreSQL counts procrastinate's queue, SQLite the jobs table."""
    return Settings(
        data_dir=tmp_path / "hub",
        database_url=database_url,
        allow_private_networks=True,
        secret_key="metrics-tests-secret-key-0123456789-abcdefgh",
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_streams_deliveries_and_the_job_queue_are_counted(
    hub: RunningHub, org: Org, anonymous: httpx.AsyncClient
) -> None:
    await make_instance(hub.hub, org.id, "http://127.0.0.1:9", objects=("contacts", "companies"))
    await hub.hub.runtime.defer("eventing.poll", {"instance_id": "x", "object_name": "y"})
    async with hub.hub.database.transaction() as session:
        late = utcnow() - timedelta(minutes=5)
        await session.execute(
            update(EventStream)
            .where(EventStream.object_name == "companies")
            .values(next_poll_at=late)
        )

    await anonymous.get("/healthz")
    answer = await anonymous.get("/metrics")

    assert answer.status_code == 200
    found = samples(answer.text)
    streams = (("last_poll_outcome", "none"), ("state", "baselining"))
    assert found[("interlink_event_streams", streams)] == 2
    assert found[("interlink_event_streams_overdue", ())] == 1
    assert found[("interlink_deliveries_oldest_unfinished_seconds", ())] == 0
    assert found[("interlink_jobs", (("status", "todo"), ("task", "eventing.poll")))] == 1
    assert any(name == "interlink_http_requests_total" for name, _ in found)  # both kinds
