"""Fills a store with plausible contacts and companies, a million in seconds."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from interlink.sandbox.store import SandboxStore
from interlink.sandbox.timestamps import format_millis

SEED_SPAN_SECONDS = 3600  # seeded records were created over the last hour

# Lists of coprime lengths, indexed by the record number, give varied combinations cheaply;
# a random draw per field would cost more than building the record itself.
_FIRST_NAMES = (
    "Ada", "Alan", "Barbara", "Claude", "Dennis", "Donald", "Edsger", "Frances", "Grace",
    "Guido", "Hedy", "Ivan", "Jean", "John", "Ken", "Linus", "Margaret", "Niklaus", "Radia",
    "Robin", "Sophie", "Tim", "Tony", "Vint", "Whitfield", "Yukihiro", "Zuse", "Anita",
    "Bjarne", "Carol", "Dorothy",
)  # fmt: skip
_LAST_NAMES = (
    "Lovelace", "Turing", "Liskov", "Shannon", "Ritchie", "Knuth", "Dijkstra", "Allen",
    "Hopper", "Rossum", "Lamarr", "Sutherland", "Sammet", "McCarthy", "Thompson", "Torvalds",
    "Hamilton", "Wirth", "Perlman", "Milner", "Wilson", "Lee", "Hoare", "Cerf", "Diffie",
    "Matsumoto", "Borg", "Stroustrup", "Shaw",
)  # fmt: skip
_TITLES = (
    "Engineer", "Senior Engineer", "Engineering Manager", "CTO", "CEO", "Product Manager",
    "Designer", "Sales Director", "Account Executive", "Marketing Lead", "Data Analyst",
    "Operations Manager", "Support Specialist",
)  # fmt: skip
_STAGES = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
    "customer", "evangelist",
)  # fmt: skip
_COMPANY_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne",
    "Soylent", "Hooli", "Vandelay", "Wonka", "Aperture", "Massive", "Oscorp", "Pied Piper",
    "Prestige", "Sterling", "Vehement",
)  # fmt: skip
_COMPANY_SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "Group", "Labs", "Systems", "Partners", "Co")
_INDUSTRIES = (
    "Software", "Manufacturing", "Retail", "Healthcare", "Finance", "Education", "Logistics",
    "Media", "Energy", "Hospitality", "Telecommunications",
)  # fmt: skip


def seed_store(store: SandboxStore, contacts: int, companies: int | None = None) -> None:
    """Adds `contacts` contacts and `companies` (default max(1, contacts // 10)) companies.

    Records share a few thousand timestamps over the last hour, rising with the id, so
    equal `updated_at` values are common (as in real CRMs after an import) and both sorted
    indexes receive runs that are already in order.
    """
    if companies is None:
        companies = max(1, contacts // 10) if contacts else 0
    with _collector_paused():
        _seed(store, contacts, companies)


def _seed(store: SandboxStore, contacts: int, companies: int) -> None:
    end = store.clock.millis()
    start = end - SEED_SPAN_SECONDS * 1000
    company_ids = store.companies.new_ids(companies)
    domains = [_domain(number) for number in range(companies)]
    store.companies.load(_companies(company_ids, domains, _stamps(companies, start, end)))
    contact_ids = store.contacts.new_ids(contacts)
    records = _contacts(contact_ids, company_ids, domains, _stamps(contacts, start, end))
    store.contacts.load(records)
    store.clock.advance_to(end)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector, which would rescan the growing heap again and
    again while a million new dicts are made (none of them can be part of a cycle)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _stamps(count: int, start: int, end: int) -> list[str]:
    """`count` non-decreasing timestamps from `start` to before `end`, about one a second."""
    buckets = max(1, min(count, (end - start) // 1000))
    formatted = [
        format_millis(start + (end - start) * bucket // buckets) for bucket in range(buckets)
    ]
    return [formatted[number * buckets // count] for number in range(count)]


def _domain(number: int) -> str:
    word = _COMPANY_WORDS[number % len(_COMPANY_WORDS)].replace(" ", "").lower()
    return f"{word}{number}.example.com"


def _companies(ids: list[str], domains: list[str], stamps: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "id": record_id,
            "name": (
                f"{_COMPANY_WORDS[number % len(_COMPANY_WORDS)]} "
                f"{_COMPANY_SUFFIXES[number % len(_COMPANY_SUFFIXES)]} {number}"
            ),
            "domain": domains[number],
            "industry": _INDUSTRIES[number % len(_INDUSTRIES)],
            "employees": 5 + (number * 7919) % 20_000,
            "created_at": stamps[number],
            "updated_at": stamps[number],
        }
        for number, record_id in enumerate(ids)
    ]


def _contacts(
    ids: list[str], company_ids: list[str], domains: list[str], stamps: list[str]
) -> list[dict[str, Any]]:
    firsts = _FIRST_NAMES
    lasts = _LAST_NAMES
    lower_firsts = [name.lower() for name in firsts]
    lower_lasts = [name.lower() for name in lasts]
    titles = _TITLES
    stages = _STAGES
    company_count = len(company_ids)
    records = []
    for number, record_id in enumerate(ids):
        first = number % len(firsts)
        last = number % len(lasts)
        # A multiplicative hash spreads contacts over companies without a random draw.
        company = (number * 2_654_435_761) % company_count
        stamp = stamps[number]
        records.append(
            {
                "id": record_id,
                # The number makes every email unique, as the unique index requires.
                "email": f"{lower_firsts[first]}.{lower_lasts[last]}{number}@{domains[company]}",
                "first_name": firsts[first],
                "last_name": lasts[last],
                "phone": f"+1-555-{number % 10_000_000:07d}",
                "title": titles[number % len(titles)],
                "company_id": company_ids[company],
                "lifecycle_stage": stages[number % len(stages)],
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
    return records
