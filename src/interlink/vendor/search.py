"""Changed-since through a search call (`changed_since.search`): its body, its paging, and
the window that moves past the vendor's cap on one query's results.

HubSpot's CRM search answers at most 10,000 records per query (asking for a page past
that is refused with a 400). Its results are sorted ascending by the modified time, so the
listing continues with a new query from the last record's time: the records at exactly
that time which were read already are remembered and skipped, the others come again.
The page state holds the window (`since`), the vendor's cursor within it (`after`), how
many records the query has answered (`read`), and the ids at the window's edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlink.elements.definition import ChangedSinceSearch, ObjectDefinition
from interlink.errors import InvalidInput
from interlink.vendor.errors import FatalVendorError, PaginationError
from interlink.vendor.paths import lookup
from interlink.vendor.times import format_time, parse_time, rfc3339

STATE_TYPE = "search"
SINCE = "{since}"
LIMIT = "{limit}"


def fill_body(template: Any, *, since: str, limit: int) -> Any:
    """`template` with every string `{since}` replaced by `since` and `{limit}` by `limit`."""
    if isinstance(template, Mapping):
        return {key: fill_body(value, since=since, limit=limit) for key, value in template.items()}
    if isinstance(template, list):
        return [fill_body(item, since=since, limit=limit) for item in template]
    if template == SINCE:
        return since
    if template == LIMIT:
        return limit
    return template


@dataclass
class SearchWindow:
    """Where a search listing stands; `state()` is its checkpoint."""

    since: str  # the window's start, as the vendor's filter takes it
    after: str | None = None  # the vendor's cursor inside the window
    read: int = 0  # records this query has answered
    edge_time: str | None = None  # the latest updated time read (RFC 3339)
    edge_ids: tuple[str, ...] = ()  # ids read at edge_time
    skip_time: str | None = None  # the window started at this time…
    skip_ids: frozenset[str] = frozenset()  # …where these were read already

    def state(self) -> dict[str, Any]:
        return {
            "type": STATE_TYPE,
            "since": self.since,
            "after": self.after,
            "read": self.read,
            "edge_time": self.edge_time,
            "edge_ids": list(self.edge_ids),
            "skip_time": self.skip_time,
            "skip_ids": sorted(self.skip_ids),
        }

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> SearchWindow:
        try:
            if state.get("type") != STATE_TYPE:
                raise TypeError("another pagination")
            since, after, read = state["since"], state.get("after"), state.get("read", 0)
            edge_time, skip_time = state.get("edge_time"), state.get("skip_time")
            edge_ids, skip_ids = state.get("edge_ids", []), state.get("skip_ids", [])
            texts = [since, *edge_ids, *skip_ids]
            optional = [after, edge_time, skip_time]
            if (
                not all(isinstance(text, str) for text in texts)
                or not all(item is None or isinstance(item, str) for item in optional)
                or not isinstance(read, int)
                or isinstance(read, bool)
                or read < 0
            ):
                raise TypeError("a malformed value")
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                "the page state is not a search position", field="page_state"
            ) from exc
        return cls(since, after, read, edge_time, tuple(edge_ids), skip_time, frozenset(skip_ids))


def first_window(since: datetime, time_format: Any) -> SearchWindow:
    return SearchWindow(since=format_time(since, time_format))


def request_body(search: ChangedSinceSearch, window: SearchWindow, limit: int) -> Any:
    body = fill_body(search.body, since=window.since, limit=limit)
    if window.after is not None:
        if not isinstance(body, dict):
            raise InvalidInput("a search body must be a JSON object", field="changed_since")
        body[search.cursor_key] = window.after
    return body


def advance(
    window: SearchWindow,
    raw: list[dict[str, Any]],
    answer: Any,
    *,
    search: ChangedSinceSearch,
    obj: ObjectDefinition,
    time_format: Any,
    page_size: int,
    where: str,
) -> tuple[list[dict[str, Any]], SearchWindow | None]:
    """The page's records to keep (those of the window's edge read already are dropped),
    and the window to read next (`None`: the listing is done)."""
    updated = obj.updated_field
    if updated is None:  # the format requires it with changed_since
        raise FatalVendorError(f"{where}: changed-since needs the object's updated_field")
    kept: list[dict[str, Any]] = []
    edge_time, edge_ids = window.edge_time, list(window.edge_ids)
    for record in raw:
        record_id = lookup(record, obj.id_field)
        identifier = "" if record_id is None else str(record_id)
        moment = _time_of(record, updated.name, updated.format, where)
        if window.skip_time == moment and identifier in window.skip_ids:
            continue  # read at the end of the previous window
        kept.append(record)
        if edge_time is None or _later(moment, edge_time):
            edge_time, edge_ids = moment, [identifier]
        elif moment == edge_time:
            edge_ids.append(identifier)
    read = window.read + len(raw)
    cursor = lookup(answer, search.cursor_path)
    if cursor is None or cursor == "" or not raw:
        return kept, None
    cursor = str(cursor)
    if search.max_results is None or read + page_size <= search.max_results:
        if cursor == window.after:
            raise PaginationError("the vendor handed back the same cursor twice; stopping a loop")
        return kept, SearchWindow(
            window.since,
            cursor,
            read,
            edge_time,
            tuple(edge_ids),
            window.skip_time,
            window.skip_ids,
        )
    # The query's cap is near: a new query from the latest time read.
    if edge_time is None:
        raise PaginationError(f"{where}: the search cannot move past {search.max_results} results")
    if edge_time == window.skip_time:
        raise PaginationError(
            f"{where}: more than {search.max_results} records share the updated time "
            f"{edge_time}: the search cannot move past them"
        )
    since = format_time(parse_time(edge_time, "rfc3339"), time_format)
    return kept, SearchWindow(
        since, None, 0, edge_time, tuple(edge_ids), edge_time, frozenset(edge_ids)
    )


def _time_of(record: dict[str, Any], name: str, time_format: Any, where: str) -> str:
    value = lookup(record, name)
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"not a time: {value!r}")
        return rfc3339(parse_time(value, time_format))
    except (ValueError, OverflowError, OSError) as exc:
        raise FatalVendorError(f"{where}: a searched record has no usable {name!r}") from exc


def _later(moment: str, than: str) -> bool:
    return parse_time(moment, "rfc3339") > parse_time(than, "rfc3339")
