"""Sandbox CRM at scale: seed a million contacts, then time pages through HTTP and in-process.

Run: python bench/sandbox_seed.py [--contacts N] [--requests N]
Prints the seeding time, then for each query kind the median and p95 of 200 page requests
over loopback with httpx, beside the same query on the store alone (the HTTP/store ratio
shows what the server stack costs on top of the data structures).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import resource
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from interlink.sandbox import SandboxConfig, SandboxStore, running_sandbox
from interlink.sandbox.cursors import BY_ID, encode_cursor
from interlink.sandbox.seed import seed_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    store = SandboxStore()
    started = time.perf_counter()
    seed_store(store, args.contacts)
    seconds = time.perf_counter() - started
    gc.freeze()  # as serve_sandbox does: the seeded heap stays out of the collector's way
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"seeded {store.counts()} in {seconds:.2f} s (peak RSS {rss_mb:.0f} MB)")
    asyncio.run(_time_pages(store, args.requests))


async def _time_pages(store: SandboxStore, count: int) -> None:
    draw = random.Random(42)
    contacts = store.contacts.snapshot()
    picks = [draw.choice(contacts) for _ in range(count)]
    queries: dict[str, list[dict[str, Any]]] = {
        # A cursor anywhere in the million, as deep in a full walk as it gets.
        "id order, limit 100": [
            {"limit": 100, "cursor": encode_cursor(BY_ID, (pick["id"],))} for pick in picks
        ],
        "updated_since order, limit 100": [
            {"limit": 100, "updated_since": pick["updated_at"]} for pick in picks
        ],
        "email filter": [{"email": pick["email"]} for pick in picks],
    }
    config = SandboxConfig()
    async with (
        running_sandbox(config, store=store) as sandbox,
        httpx.AsyncClient(
            base_url=sandbox.url,
            headers={"Authorization": f"Bearer {config.api_key}"},
            trust_env=False,
        ) as client,
    ):
        await client.get("/api/contacts", params={"limit": 1})  # open the connection
        print(f"{'query':34} {'HTTP median':>12} {'HTTP p95':>9} {'store median':>13} {'ratio':>6}")
        for name, params_list in queries.items():
            http_ms = [await _http_ms(client, params) for params in params_list]
            store_ms = [_call_ms(partial(_store_page, store, params)) for params in params_list]
            http_median, store_median = statistics.median(http_ms), statistics.median(store_ms)
            print(
                f"{name:34} {http_median:10.2f}ms {_p95(http_ms):7.2f}ms "
                f"{store_median:11.3f}ms {http_median / store_median:5.0f}x"
            )


async def _http_ms(client: httpx.AsyncClient, params: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = await client.get("/api/contacts", params=params)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    assert response.json()["results"], params  # every query finds something
    return elapsed


def _store_page(store: SandboxStore, params: dict[str, Any]) -> None:
    options = dict(params)
    email = options.pop("email", None)
    filters = {"email": email} if email else None
    store.contacts.page(filters=filters, **options)


def _call_ms(call: Callable[[], None]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


if __name__ == "__main__":
    main()
