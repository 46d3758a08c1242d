"""Fixtures for the job runtime tests: a registry, and embedded runtimes stopped at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from runtime_helpers import FAST, RuntimeFactory

from interlink.runtime import EmbeddedRuntime, TaskRegistry
from interlink.storage.database import Database


@pytest.fixture
def registry() -> TaskRegistry:
    return TaskRegistry()


@pytest.fixture
async def make_runtime(database: Database, registry: TaskRegistry) -> AsyncIterator[RuntimeFactory]:
    """Builds embedded runtimes; `own_engine=True` gives one its own engine, like a process."""
    runtimes: list[EmbeddedRuntime] = []
    engines: list[Database] = []

    async def make(*, own_engine: bool = False, **options: Any) -> EmbeddedRuntime:
        db = database
        if own_engine:
            db = Database(database.url)
            engines.append(db)
        runtime = EmbeddedRuntime(db, registry, **{**FAST, **options})
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        await runtime.stop(timeout=1)
    for engine in engines:
        await engine.dispose()
