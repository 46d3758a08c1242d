"""`serve` and `worker` do their start-up work before taking jobs: the element catalog
is loaded and the start-up heap frozen, so the first poll or export pays for neither."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from interlink.cli.serve import _settle_heap
from interlink.elements.catalog import builtin_elements


@pytest.fixture
def heap_unfrozen_after() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process goes on collecting as before


@pytest.mark.usefixtures("heap_unfrozen_after")
def test_settling_loads_the_catalog_and_freezes_the_heap() -> None:
    builtin_elements.cache_clear()
    _settle_heap()
    assert builtin_elements.cache_info().currsize == 1
    assert gc.get_freeze_count() > 0
