"""Paginators: one small state machine per pagination type, checkpointable as a dict.

Used as: `params = p.first_request_params(params)`, send, `p.update(response, records)`,
then while `p.has_next`: send `p.next_request(first)`, update, and so on. `state()` after
an update is everything needed to continue elsewhere: `make_paginator(..., state=...)`.
A caller that has decoded the answer already passes it as `update(..., body=decoded)`.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Self, TypeVar

import httpx

from interlink.elements.definition import (
    CursorPagination,
    LastIdPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
)
from interlink.errors import InvalidInput
from interlink.vendor.errors import PaginationError, json_body
from interlink.vendor.paths import lookup

# `update`'s body when the caller did not pass the decoded answer: decoded here, then.
UNREAD: Any = object()

# How many past cursors/URLs are remembered to notice a loop; it stays bounded because the
# state is checkpointed with every page of a bulk job.
LOOP_WINDOW = 16

PaginationConfig = (
    CursorPagination
    | LinkHeaderPagination
    | PageNumberPagination
    | OffsetPagination
    | NextUrlPagination
    | LastIdPagination
    | NoPagination
)
ConfigT = TypeVar("ConfigT", bound=PaginationConfig)


@dataclass(frozen=True)
class PageRequest:
    """Where one page is asked for: a path (or same-origin absolute URL) and its query."""

    url: str
    params: dict[str, str] = field(default_factory=dict)


class Paginator(ABC, Generic[ConfigT]):
    type: ClassVar[str]

    def __init__(
        self,
        config: ConfigT,
        *,
        base_url: httpx.URL | str,
        page_size: int | None = None,
        private_params: Collection[str] = (),
    ) -> None:
        self.config = config
        self.base_url = httpx.URL(base_url)
        # Never more than the element's page size: past the vendor's maximum, every page
        # would look short, and `stop_on_short_page` would stop early.
        configured: int = getattr(config, "page_size", 100)
        self.page_size = min(page_size, configured) if page_size else configured
        self.has_next = False
        self._private_params = frozenset(private_params)

    def first_request_params(self, params: Mapping[str, str]) -> dict[str, str]:
        """The query of the first page: `params` plus the page size and starting position."""
        first = dict(params)
        limit_param = getattr(self.config, "limit_param", None)
        if limit_param:
            first[limit_param] = str(self.page_size)
        return first

    @abstractmethod
    def update(self, response: httpx.Response, records: list[Any], body: Any = UNREAD) -> None:
        """Learn the next position from the page just read; raise on a loop. `body` is the
        answer's decoded JSON where the caller has it (an export's page is tens of KB:
        decoding it a second time here was a tenth of the hub's CPU per page)."""

    @abstractmethod
    def next_request(self, first: PageRequest) -> PageRequest:
        """The next page's request, given the first page's (for its path and filters)."""

    def state(self) -> dict[str, Any]:
        """A JSON-ready checkpoint of the position after the last `update`."""
        return {"type": self.type}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from `state()`; a state that cannot be ours is refused."""
        if state.get("type") != self.type:
            raise InvalidInput("the page state belongs to another pagination", field="page_state")

    @classmethod
    def from_state(cls, config: ConfigT, state: Mapping[str, Any], **options: Any) -> Self:
        paginator = cls(config, **options)
        paginator.restore(state)
        return paginator


class NoPaginator(Paginator[NoPagination]):
    type = "none"

    def update(self, response: httpx.Response, records: list[Any], body: Any = UNREAD) -> None:
        self.has_next = False

    def next_request(self, first: PageRequest) -> PageRequest:
        raise PaginationError("this list has a single page")


class _LoopGuard(Paginator[ConfigT]):
    """Positions handed out by the vendor (cursors, URLs): a repeat means a loop."""

    def __init__(self, config: ConfigT, **options: Any) -> None:
        super().__init__(config, **options)
        self.position: str | None = None
        self._seen: list[str] = []

    _noun: ClassVar[str] = "position"

    def _advance(self, position: Any) -> None:
        if position is None or position == "":
            self.position, self.has_next = None, False
            return
        position = str(position)
        if position in self._seen or position == self.position:
            raise PaginationError(
                f"the vendor handed back the same {self._noun} twice; stopping a loop"
            )
        if self.position is not None:
            self._seen = [*self._seen, self.position][-LOOP_WINDOW:]
        self.position, self.has_next = position, True

    def state(self) -> dict[str, Any]:
        return {**super().state(), "position": self.position, "seen": list(self._seen)}

    def restore(self, state: Mapping[str, Any]) -> None:
        super().restore(state)
        position, seen = state.get("position"), state.get("seen", [])
        if position is not None and not isinstance(position, str):
            raise InvalidInput("the page state has an invalid position", field="page_state")
        if not isinstance(seen, list) or not all(isinstance(item, str) for item in seen):
            raise InvalidInput("the page state has an invalid history", field="page_state")
        self.position, self._seen = position, seen[-LOOP_WINDOW:]
        self.has_next = position is not None


class CursorPaginator(_LoopGuard[CursorPagination]):
    """The body names the next cursor (at a dotted path); it goes back as a parameter."""

    type = "cursor"
    _noun = "cursor"

    def update(self, response: httpx.Response, records: list[Any], body: Any = UNREAD) -> None:
        self._advance(lookup(_decoded(response, body), self.config.cursor_path))

    def next_request(self, first: PageRequest) -> PageRequest:
        if self.position is None:
            raise PaginationError("no next page")
        return PageRequest(first.url, {**first.params, self.config.cursor_param: self.position})


class LastIdPaginator(_LoopGuard[LastIdPagination]):
    """The next page starts after the last record of this one (Stripe's `starting_after`),
    while the body's `has_more_path` is true; the id goes back as `cursor_param`."""

    type = "last_id"
    _noun = "last id"

    def update(self, response: httpx.Response, records: list[Any], body: Any = UNREAD) -> None:
        more = _flag_at(_decoded(response, body), self.config.has_more_path)
        if not more:
            self._advance(None)
            return
        if not records:
            # Nothing to start the next page after: asking again would repeat this one.
            raise PaginationError("the vendor says more records follow but sent an empty page")
        last = lookup(records[-1], self.config.id_path)
        if isinstance(last, bool) or not isinstance(last, str | int) or last == "":
            raise PaginationError(f"the page's last record has no id at {self.config.id_path!r}")
        self._advance(last)

    def next_request(self, first: PageRequest) -> PageRequest:
        if self.position is None:
            raise PaginationError("no next page")
        return PageRequest(first.url, {**first.params, self.config.cursor_param: self.position})


class _NextUrlGuard(_LoopGuard[ConfigT]):
    """Full next-page URLs from the vendor: only ever followed on the base URL's origin."""

    _noun = "next URL"

    def _follow(self, response: httpx.Response, link: Any) -> None:
        if link is None or link == "":
            self._advance(None)
            return
        if not isinstance(link, str):
            raise PaginationError("the vendor's next page is not a URL")
        self._advance(self._checked(response.url.join(link)))

    def _checked(self, url: httpx.URL) -> str:
        if _origin(url) != _origin(self.base_url):
            # The credentials go with every request: never to a host the element did not name.
            raise PaginationError(
                f"refusing a next page on another origin ({url.scheme}://{url.host})"
            )
        if self._private_params & set(url.params.keys()):
            # Credentials the vendor echoed into the URL must not be checkpointed; auth
            # puts them back on the request.
            kept: list[tuple[str, Any]] = [
                (k, v) for k, v in url.params.multi_items() if k not in self._private_params
            ]
            url = url.copy_with(params=httpx.QueryParams(kept))
        return str(url)

    def next_request(self, first: PageRequest) -> PageRequest:
        if self.position is None:
            raise PaginationError("no next page")
        return PageRequest(self.position, {})

    def restore(self, state: Mapping[str, Any]) -> None:
        super().restore(state)
        if self.position is not None:
            # A state may come back from outside (an API cursor): check it like a live one.
            try:
                self._checked(httpx.URL(self.position))
            except httpx.InvalidURL as exc:
                raise InvalidInput("the page state has an invalid URL", field="page_state") from exc


class LinkHeaderPaginator(_NextUrlGuard[LinkHeaderPagination]):
    """RFC 8288 `Link: <url>; rel="next"`."""

    type = "link_header"

    def update(self, response: httpx.Response, records: list[Any], body: Any = UNREAD) -> None:
        self._follow(response, response.links.get(self.config.rel, {}).get("url"))


class NextUrlPaginator(_NextUrlGuard[NextUrlPagination]):
    """The body carries the next page's URL at a dotted path."""

    type = "next_url"

    def update(self, response: httpx.Response, records: list[Any], body: Any = UNREAD) -> None:
        self._follow(response, lookup(_decoded(response, body), self.config.next_url_path))


CountingConfigT = TypeVar("CountingConfigT", bound=PageNumberPagination | OffsetPagination)


class _Counting(Paginator[CountingConfigT]):
    """Positions we compute (page, offset): nothing in them says where the listing ends.

    The element's `has_more_path` or `total_path` decides where it names one; otherwise a
    short page ends the listing only with `stop_on_short_page`, and by default only an
    empty page does: a vendor that caps its page size below ours sends short pages long
    before the end, and stopping there would silently lose every record after them.
    """

    def __init__(self, config: CountingConfigT, **options: Any) -> None:
        super().__init__(config, **options)
        self._last_page: str | None = None

    @property
    @abstractmethod
    def records_read(self) -> int:
        """How many records the listing has read, this page included."""

    def _more_after(self, response: httpx.Response, records: list[Any], body: Any) -> bool:
        """Whether another page follows the one just read (after `records_read` counts it)."""
        config = self.config
        if config.has_more_path is not None:
            more = self._flag(_decoded(response, body), config.has_more_path)
        elif config.total_path is not None:
            more = self.records_read < self._total(_decoded(response, body), config.total_path)
        elif config.stop_on_short_page:
            more = len(records) >= self.page_size
        else:
            more = bool(records)
        if not records:
            if more:
                # Asking again would only repeat this page (an offset cannot advance on
                # nothing); stopping would drop what the vendor says is still there.
                raise PaginationError("the vendor says more records follow but sent an empty page")
            return False
        if more:
            self._check_not_repeated(records)
        return more

    def _check_not_repeated(self, records: list[Any]) -> None:
        # A vendor that ignores the page parameter sends the same page forever.
        fingerprint = hashlib.sha256(
            json.dumps(records, sort_keys=True, default=str).encode()
        ).hexdigest()[:32]
        if fingerprint == self._last_page:
            raise PaginationError("the vendor returned the same page twice; stopping a loop")
        self._last_page = fingerprint

    @staticmethod
    def _flag(body: Any, path: str) -> bool:
        value = lookup(body, path)
        if not isinstance(value, bool):
            # A misspelt path would read as "no more" on the first page: fail loudly.
            raise PaginationError(f"the answer has no true/false at {path!r}")
        return value

    @staticmethod
    def _total(body: Any, path: str) -> int:
        value = lookup(body, path)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PaginationError(f"the answer has no record count at {path!r}")
        return value

    def state(self) -> dict[str, Any]:
        # The page size is part of the position: page 3 of 50 is not page 3 of 100.
        return {**super().state(), "page_size": self.page_size, "last_page": self._last_page}

    def restore(self, state: Mapping[str, Any]) -> None:
        super().restore(state)
        size = state.get("page_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise InvalidInput("the page state has no valid page_size", field="page_state")
        self.page_size = size
        last_page = state.get("last_page")
        self._last_page = last_page if isinstance(last_page, str) else None


class PageNumberPaginator(_Counting[PageNumberPagination]):
    type = "page_number"

    def __init__(self, config: PageNumberPagination, **options: Any) -> None:
        super().__init__(config, **options)
        self.page = config.first_page
        self.read = 0

    @property
    def records_read(self) -> int:
        return self.read

    def first_request_params(self, params: Mapping[str, str]) -> dict[str, str]:
        return {**super().first_request_params(params), self.config.page_param: str(self.page)}

    def update(self, response: httpx.Response, records: list[Any], body: Any = UNREAD) -> None:
        self.read += len(records)
        self.has_next = self._more_after(response, records, body)
        if self.has_next:
            self.page += 1

    def next_request(self, first: PageRequest) -> PageRequest:
        return PageRequest(first.url, {**first.params, self.config.page_param: str(self.page)})

    def state(self) -> dict[str, Any]:
        return {**super().state(), "page": self.page if self.has_next else None, "read": self.read}

    def restore(self, state: Mapping[str, Any]) -> None:
        super().restore(state)
        page = state.get("page")
        if page is not None and (not isinstance(page, int) or isinstance(page, bool)):
            raise InvalidInput("the page state has an invalid page", field="page_state")
        read = state.get("read", 0)  # absent from states written before total_path existed
        if not isinstance(read, int) or isinstance(read, bool) or read < 0:
            raise InvalidInput("the page state has an invalid record count", field="page_state")
        self.has_next = page is not None
        self.page = page if page is not None else self.config.first_page
        self.read = read


class OffsetPaginator(_Counting[OffsetPagination]):
    type = "offset"

    def __init__(self, config: OffsetPagination, **options: Any) -> None:
        super().__init__(config, **options)
        self.offset = 0

    @property
    def records_read(self) -> int:
        return self.offset

    def first_request_params(self, params: Mapping[str, str]) -> dict[str, str]:
        return {**super().first_request_params(params), self.config.offset_param: "0"}

    def update(self, response: httpx.Response, records: list[Any], body: Any = UNREAD) -> None:
        self.offset += len(records)
        self.has_next = self._more_after(response, records, body)

    def next_request(self, first: PageRequest) -> PageRequest:
        return PageRequest(first.url, {**first.params, self.config.offset_param: str(self.offset)})

    def state(self) -> dict[str, Any]:
        return {**super().state(), "offset": self.offset if self.has_next else None}

    def restore(self, state: Mapping[str, Any]) -> None:
        super().restore(state)
        offset = state.get("offset")
        if offset is not None and (
            not isinstance(offset, int) or isinstance(offset, bool) or offset < 0
        ):
            raise InvalidInput("the page state has an invalid offset", field="page_state")
        self.has_next = offset is not None
        self.offset = offset or 0


PAGINATORS: dict[str, type[Paginator[Any]]] = {
    paginator.type: paginator
    for paginator in (
        NoPaginator,
        CursorPaginator,
        LinkHeaderPaginator,
        PageNumberPaginator,
        OffsetPaginator,
        NextUrlPaginator,
        LastIdPaginator,
    )
}


def make_paginator(
    config: PaginationConfig,
    *,
    base_url: httpx.URL | str,
    page_size: int | None = None,
    private_params: Collection[str] = (),
    state: Mapping[str, Any] | None = None,
) -> Paginator[Any]:
    """The paginator for `config`, at its start or continuing from a `state()`."""
    paginator_class = PAGINATORS[config.type]
    options: dict[str, Any] = {
        "base_url": base_url,
        "page_size": page_size,
        "private_params": private_params,
    }
    if state is None:
        return paginator_class(config, **options)
    return paginator_class.from_state(config, state, **options)


def _flag_at(body: Any, path: str) -> bool:
    value = lookup(body, path)
    if not isinstance(value, bool):
        # A misspelt path would read as "no more" on the first page: fail loudly.
        raise PaginationError(f"the answer has no true/false at {path!r}")
    return value


def _decoded(response: httpx.Response, body: Any) -> Any:
    return json_body(response) if body is UNREAD else body


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default_ports = {"http": 80, "https": 443}
    return url.scheme, url.host, url.port or default_ports.get(url.scheme)
