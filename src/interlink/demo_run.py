"""What a demo walk keeps: its console, its calls for the summary, its counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console


@dataclass
class Step:
    """One call of the walk, kept for the summary."""

    title: str
    method: str
    path: str
    status: int


@dataclass
class DemoRun:
    console: Console
    steps: list[Step] = field(default_factory=list)
    short_names: dict[str, str] = field(default_factory=dict)
    records_read: int = 0
    records_written: int = 0
    events_received: int = 0
    bulk_jobs: int = 0

    async def call(
        self,
        client: httpx.AsyncClient,
        title: str,
        method: str,
        path: str,
        *,
        expect: int,
        **kwargs: Any,
    ) -> Any:
        response = await client.request(method, path, **kwargs)
        shown = path
        for long, short in self.short_names.items():
            shown = shown.replace(long, short)
        self.steps.append(Step(title, method, shown, response.status_code))
        mark = "[green]✓[/green]" if response.status_code == expect else "[red]✗[/red]"
        status = response.status_code
        self.console.print(f"{mark} {title}: [bold]{method} {shown}[/bold] → {status}")
        if response.status_code != expect:
            raise DemoFailed(
                f"{title}: expected {expect}, got {response.status_code}: {response.text}"
            )
        return response.json() if response.content else None


class DemoFailed(Exception):
    """A step answered something the walk did not expect."""
