"""Reading ahead: the next vendor page is fetched while the current one is written."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


async def prefetched(source: AsyncIterator[T], depth: int = 2) -> AsyncIterator[T]:
    """`source`'s items in order, with up to `depth` of them fetched ahead in a task.

    An error of the source is raised here, after the items before it; leaving early
    cancels the fetching task, so no request outlives its consumer.
    """
    queue: asyncio.Queue[tuple[object, BaseException | None]] = asyncio.Queue(depth)

    async def produce() -> None:
        try:
            async for item in source:
                await queue.put((item, None))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, raised in its task
            await queue.put((_END, exc))
        else:
            await queue.put((_END, None))

    producer = asyncio.create_task(produce())
    try:
        while True:
            item, error = await queue.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
