"""The Sandbox CRM's data: one collection per object, a clock, and change listeners."""

from __future__ import annotations

import time
from collections.abc import Callable

from interlink.sandbox.collection import Change, Collection
from interlink.sandbox.errors import NotFoundError
from interlink.sandbox.schema import SCHEMAS
from interlink.sandbox.timestamps import Clock

ChangeListener = Callable[[Change], None]


class SandboxStore:
    """In-memory, synchronous, single-threaded: call it from the server's event loop only."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.clock = Clock(now)
        self._listeners: list[ChangeListener] = []
        self._collections = {
            name: Collection(schema, self.clock, self._emit) for name, schema in SCHEMAS.items()
        }

    def collection(self, object_name: str) -> Collection:
        """The collection of `contacts` or `companies`; 404 for any other name."""
        collection = self._collections.get(object_name)
        if collection is None:
            raise NotFoundError(f"unknown object '{object_name}'")
        return collection

    @property
    def contacts(self) -> Collection:
        """The `contacts` collection."""
        return self._collections["contacts"]

    @property
    def companies(self) -> Collection:
        """The `companies` collection."""
        return self._collections["companies"]

    def counts(self) -> dict[str, int]:
        """Live records per object, for logs: `{"contacts": 1000, "companies": 100}`."""
        return {name: len(collection) for name, collection in self._collections.items()}

    def add_listener(self, listener: ChangeListener) -> None:
        """Calls `listener` synchronously after every create, update and delete."""
        self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        """Stops calling `listener`."""
        self._listeners.remove(listener)

    def _emit(self, change: Change) -> None:
        for listener in self._listeners:
            listener(change)
