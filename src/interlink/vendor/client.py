"""The vendor HTTP client: an element's objects read and written at one instance's vendor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
)
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Self

import httpx

from interlink.elements.definition import (
    ApiKeyAuth,
    DeletedEndpoint,
    ElementDefinition,
    ObjectDefinition,
    Request,
    TimeFormat,
)
from interlink.elements.templates import render
from interlink.errors import InvalidInput, NotFound
from interlink.vendor.auth import auth_identity, build_auth, token_fields
from interlink.vendor.batch import BatchOutcome, batch_call, read_outcomes
from interlink.vendor.errors import FatalVendorError, VendorError
from interlink.vendor.exports import ExportState, NativeExport, bulk_export_of
from interlink.vendor.hooks import Hooks, default_normalize_record, load_hooks
from interlink.vendor.ingest import NativeIngest, bulk_ingest_of
from interlink.vendor.oauth import TokenKeeper
from interlink.vendor.paginators import PageRequest, PaginationConfig, make_paginator
from interlink.vendor.paths import lookup
from interlink.vendor.ratelimit import RateLimiterRegistry
from interlink.vendor.records import (
    deleted_record,
    extract_record,
    extract_records,
    normalize_record,
)
from interlink.vendor.redaction import Redactor, scrub_json
from interlink.vendor.retry import Retrier
from interlink.vendor.search import SearchWindow, advance, first_window, request_body
from interlink.vendor.sending import Sender
from interlink.vendor.specs import fill_params, fill_path, wrap_body
from interlink.vendor.times import format_time, parse_time

BatchAction = Literal["create", "update", "upsert", "delete"]
NO_FILTERS: Mapping[str, str] = MappingProxyType({})
# Config keys where stored OAuth tokens live, secret whether or not the element says so.
TOKEN_KEYS = ("access_token", "refresh_token")


@dataclass(frozen=True)
class Page:
    """One page of records; `next_state` continues the listing, `None` once it is done."""

    records: list[dict[str, Any]]
    next_state: dict[str, Any] | None
    # A change feed's (`changed_since.request`) change time of each record, as the
    # object's updated_field writes it; `None`: the records' own updated_field.
    times: list[str | None] | None = None


class VendorClient:
    """An element's API for one instance: rate-limited, retried, classified, normalized.

    `config` is the instance's configuration with its secrets decrypted. The client owns
    its httpx client and, as httpx does, closes the `transport` it was given on exit.
    """

    def __init__(
        self,
        element: ElementDefinition,
        config: Mapping[str, Any],
        *,
        transport: httpx.AsyncBaseTransport,
        limiters: RateLimiterRegistry,
        on_tokens: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        token_keeper: TokenKeeper | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        hooks: Hooks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.element = element
        self._config = config
        secret_keys = element.secret_fields | set(TOKEN_KEYS) | token_fields(element)
        self._redactor = Redactor(
            [str(config[name]) for name in sorted(secret_keys) if config.get(name) is not None]
        )
        self.base_url = render(element.base_url, config)
        # Parsed once: a paginator is made per page, and parsing a URL costs ~10 µs.
        self._base = httpx.URL(self.base_url)
        auth = build_auth(
            element,
            config,
            redactor=self._redactor,
            on_tokens=on_tokens,
            token_keeper=token_keeper,
            clock=clock,
        )
        self._private_params = (
            {element.auth.name}
            if isinstance(element.auth, ApiKeyAuth) and element.auth.location == "query"
            else set()
        )
        self._hooks = hooks or load_hooks(element.hooks)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            auth=auth,
            follow_redirects=False,  # credentials must never follow a redirect elsewhere
            trust_env=False,  # no proxy or netrc from the environment near tenant credentials
            timeout=httpx.Timeout(timeout),
            headers={
                "Accept": "application/json",
                "User-Agent": "interlink",
                **{name: render(value, config) for name, value in element.headers.items()},
            },
        )
        self._http._cookies = _Cookies()  # httpx's own jar; `cookies=` would wrap it again
        # Shared with every client presenting the same credentials to the same vendor.
        self.limiter = limiters.limiter(element, self.base_url, auth_identity(element, config))
        self._sender = Sender(
            element,
            config,
            http=self._http,
            limiter=self.limiter,
            retrier=Retrier(element.retry, sleep=sleep),
            hooks=self._hooks,
            redactor=self._redactor,
        )

    def __repr__(self) -> str:
        return f"<VendorClient {self.element.key}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- reading ------------------------------------------------------------------------

    async def list_page(
        self,
        object_name: str,
        *,
        filters: Mapping[str, str] = NO_FILTERS,
        changed_since: datetime | None = None,
        page_state: dict[str, Any] | None = None,
        page_size: int | None = None,
    ) -> Page:
        """One page of `object_name`, from the start or from a previous page's `next_state`."""
        obj = self._object(object_name)
        spec = obj.list_request()
        params = fill_params(spec, self._config)
        for name, value in filters.items():
            if obj.equality_filters != "*" and name not in obj.equality_filters:
                raise InvalidInput(
                    f"{object_name} cannot be filtered by {name!r} at the vendor",
                    field=f"filters.{name}",
                )
            params[name] = value
        if changed_since is not None:
            if obj.changed_since is None:
                raise InvalidInput(
                    f"{object_name} has no changed-since filter", field="changed_since"
                )
            if obj.changed_since.request is not None:
                return await self._feed_page(
                    object_name, obj, changed_since, filters, page_state, page_size
                )
            if obj.changed_since.search is not None:
                if filters:
                    raise InvalidInput(
                        f"{object_name} cannot be filtered at the vendor with changed_since",
                        field="filters",
                    )
                return await self._search_page(
                    object_name, obj, changed_since, page_state, page_size
                )
            if obj.changed_since.param is not None:
                params[obj.changed_since.param] = format_time(
                    changed_since, obj.changed_since.format
                )
            params.update(
                (name, render(value, self._config))
                for name, value in obj.changed_since.params.items()
            )
        with self._scrubbed():
            raw, next_state = await self._page(
                "list", object_name, spec, params, self._pagination(obj), page_state, page_size
            )
            records = self._normalized_page(object_name, obj, raw)
        return Page(records, next_state)

    async def iterate_pages(
        self,
        object_name: str,
        *,
        filters: Mapping[str, str] = NO_FILTERS,
        changed_since: datetime | None = None,
        page_state: dict[str, Any] | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Page]:
        """Every page to the end; each page's `next_state` is a checkpoint to resume from."""
        state = page_state
        while True:
            page = await self.list_page(
                object_name,
                filters=filters,
                changed_since=changed_since,
                page_state=state,
                page_size=page_size,
            )
            yield page
            if page.next_state is None:
                return
            state = page.next_state

    async def get(self, object_name: str, record_id: str) -> dict[str, Any]:
        obj = self._object(object_name)
        spec = obj.get_request()
        with self._scrubbed():
            body = await self._call("get", object_name, spec, {"id": record_id}, per_record=True)
            record = extract_record(body, spec.records_path, where=self._where("get", object_name))
            return self._normalize(object_name, obj, record, "get")

    async def deleted_since(
        self,
        object_name: str,
        since: datetime,
        page_state: dict[str, Any] | None = None,
        *,
        page_size: int | None = None,
    ) -> Page:
        """Records deleted since `since`, from the vendor's deleted-records endpoint, as
        `{"id", "deleted_at"}`: `deleted_at` in RFC 3339 UTC whatever the vendor's
        `deleted_at_format`, `None` where the vendor gives no time."""
        obj = self._object(object_name)
        deletes = obj.deletes
        if not isinstance(deletes, DeletedEndpoint):
            raise InvalidInput(f"{object_name} has no deleted-records endpoint", field="object")
        spec = Request(path=deletes.path, params=deletes.params, records_path=deletes.records_path)
        params = fill_params(spec, self._config)
        if deletes.since_param is not None:
            params[deletes.since_param] = format_time(since, deletes.since_format)
        pagination = deletes.pagination or self._pagination(obj)
        where = self._where("deleted", object_name)
        with self._scrubbed():
            raw, next_state = await self._page(
                "deleted", object_name, spec, params, pagination, page_state, page_size
            )
            records = [deleted_record(item, deletes, where=where) for item in raw]
        if deletes.since_param is None:
            # The vendor lists every deleted record it keeps: those before `since` are not
            # asked for (an entry without a time is kept: it cannot be placed).
            floor = format_time(since, "rfc3339")
            records = [
                record
                for record in records
                if record["deleted_at"] is None
                or parse_time(record["deleted_at"], "rfc3339") >= parse_time(floor, "rfc3339")
            ]
        return Page(records, next_state)

    async def check(self) -> None:
        """A cheap authenticated call (one record of the first object); raises its error."""
        await self.list_page(next(iter(self.element.objects)), page_size=1)

    # --- writing ------------------------------------------------------------------------

    async def create(self, object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        obj = self._writable(object_name)
        spec = obj.create_request()
        with self._scrubbed():
            body = await self._call(
                "create", object_name, spec, {}, json=wrap_body(spec, record), per_record=True
            )
            if body is None:
                raise FatalVendorError(
                    f"{self._where('create', object_name)}: answered without the record"
                )
            if spec.answer_id_path is not None:
                return await self.get(
                    object_name, self._answered_id(body, spec.answer_id_path, "create", object_name)
                )
            created = extract_record(
                body, spec.records_path, where=self._where("create", object_name)
            )
            return self._normalize(object_name, obj, created, "create")

    async def update(
        self, object_name: str, record_id: str, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        obj = self._writable(object_name)
        spec = obj.update_request()
        with self._scrubbed():
            body = await self._call(
                "update",
                object_name,
                spec,
                {"id": record_id},
                json=wrap_body(spec, fields),
                per_record=True,
            )
            if body is None or spec.answer_id_path is not None:
                # A 204, or an id only: the vendor did not say what the record became.
                return await self.get(object_name, record_id)
            updated = extract_record(
                body, spec.records_path, where=self._where("update", object_name)
            )
            return self._normalize(object_name, obj, updated, "update")

    async def delete(self, object_name: str, record_id: str) -> None:
        obj = self._writable(object_name)
        if not obj.deletable:
            raise InvalidInput(f"{object_name} cannot be deleted at the vendor", field="object")
        spec = obj.delete_request()
        with self._scrubbed():
            await self._call("delete", object_name, spec, {"id": record_id}, per_record=True)

    async def batch(
        self,
        object_name: str,
        action: BatchAction,
        inputs: list[dict[str, Any]],
        id_property: str | None = None,
    ) -> list[BatchOutcome]:
        """Inputs through the native batch endpoint, in chunks of its `max_size`: one
        outcome per input, in order. A rejected input is an outcome, not an exception."""
        obj = self._writable(object_name)
        endpoint = obj.batch
        if endpoint is None or action not in endpoint.actions:
            raise InvalidInput(f"{object_name} has no native batch {action}", field="action")
        where = self._where("batch", object_name)
        outcomes: list[BatchOutcome] = []
        with self._scrubbed():
            for start in range(0, len(inputs), endpoint.max_size):
                chunk = inputs[start : start + endpoint.max_size]
                sent = self._hooks.batch_inputs(object_name, action, chunk, id_property)
                call = batch_call(
                    endpoint, action, sent, id_property, id_field=obj.id_field, where=where
                )
                response = await self._sender.send(
                    "batch",
                    object_name,
                    call.method,
                    fill_path(call.path, self._config, call.path_values),
                    params=call.params,
                    json=call.json,
                )
                answer = self._sender.decode(response)
                outcomes += read_outcomes(
                    self._hooks.batch_answer(object_name, action, answer, sent),
                    endpoint,
                    count=len(chunk),
                    first_index=start,
                    message_paths=self.element.errors.message_paths,
                    where=where,
                )
        return [self._scrub_outcome(outcome) for outcome in outcomes]

    # --- native bulk export -------------------------------------------------------------

    def has_native_export(self, object_name: str) -> bool:
        """Whether the element declares a native bulk export for `object_name`."""
        return self._object(object_name).bulk_export is not None

    async def start_export(self, object_name: str, *, updated_since: datetime | None = None) -> str:
        """Asks the vendor for an export of `object_name`; answers the vendor's export id.
        `InvalidInput` (field "native") where the object has no native bulk export."""
        with self._scrubbed():
            return await self._native(object_name).start(updated_since)

    async def export_state(self, object_name: str, export_id: str) -> ExportState:
        """The export's state; `RecordNotFound` once the vendor no longer knows it."""
        with self._scrubbed():
            state = await self._native(object_name).state(export_id)
        # The vendor's reason for a failure is its own text: it may echo the credentials.
        return state if state.error is None else replace(state, error=self._redactor(state.error))

    def export_records(self, object_name: str, export_id: str) -> AsyncIterator[dict[str, Any]]:
        """The complete export's records, normalized as list pages are, read as they
        arrive. A failure mid-file is raised, never retried from the start: the caller
        knows how far it got. `RecordNotFound` when the export expired or is unknown."""
        native = self._native(object_name)  # a bad object raises at the call, not later
        return self._scrubbed_records(native.records(export_id))

    # --- native bulk ingest -------------------------------------------------------------

    def ingest(self, object_name: str) -> NativeIngest:
        """The calls of the object's native bulk ingest (`InvalidInput` where it has none).
        Vendor errors leave them redacted, as every call through the sender."""
        self._writable(object_name)
        own = self.element.object_name(object_name) or object_name
        return NativeIngest(
            self.element, self._config, self._sender, own, bulk_ingest_of(self.element, own)
        )

    # --- anything else the element describes (exports, webhook registration) ------------

    async def call(
        self,
        spec: Request,
        *,
        path_values: Mapping[str, str] = NO_FILTERS,
        json: Any = None,
        object_name: str | None = None,
    ) -> Any:
        """One `Request` of the definition; `path_values` fill `{name}` in its path.
        Answers the decoded JSON body (`None` when empty)."""
        with self._scrubbed():
            return await self._call("call", object_name, spec, path_values, json=json)

    # --- internals ----------------------------------------------------------------------

    async def _search_page(
        self,
        object_name: str,
        obj: ObjectDefinition,
        changed_since: datetime,
        page_state: dict[str, Any] | None,
        page_size: int | None,
    ) -> Page:
        """One page of changed-since through the object's search call (`search.py`)."""
        assert obj.changed_since is not None
        assert obj.changed_since.search is not None
        search, time_format = obj.changed_since.search, obj.changed_since.format
        window = (
            first_window(changed_since, time_format)
            if page_state is None
            else SearchWindow.restore(page_state)
        )
        configured = getattr(self._pagination(obj), "page_size", 100)
        size = min(page_size, configured) if page_size else configured
        where = self._where("list", object_name)
        with self._scrubbed():
            response = await self._sender.send(
                "list",
                object_name,
                search.method,
                fill_path(search.path, self._config),
                json=request_body(search, window, size),
            )
            answer = self._sender.decode(response)
            raw = extract_records(answer, search.records_path, where=where)
            kept, following = advance(
                window,
                raw,
                answer,
                search=search,
                obj=obj,
                time_format=time_format,
                page_size=size,
                where=where,
            )
            records = [
                normalize_record(object_name, record, obj.id_field, self._hooks, where=where)
                for record in kept
            ]
        return Page(records, None if following is None else following.state())

    async def _feed_page(
        self,
        object_name: str,
        obj: ObjectDefinition,
        changed_since: datetime,
        filters: Mapping[str, str],
        page_state: dict[str, Any] | None,
        page_size: int | None,
    ) -> Page:
        """One page of changed-since through the object's change feed: the records its
        items wrap, with the change times (`ChangedSinceRequest`)."""
        assert obj.changed_since is not None
        feed = obj.changed_since.request
        assert feed is not None
        spec = Request(
            method=feed.method, path=feed.path, params=feed.params, records_path=feed.records_path
        )
        params = fill_params(spec, self._config)
        params[feed.since_param] = format_time(changed_since, obj.changed_since.format)
        pagination = feed.pagination or self._pagination(obj)
        where = self._where("list", object_name)
        updated = obj.updated_field
        with self._scrubbed():
            raw, next_state = await self._page(
                "list", object_name, spec, params, pagination, page_state, page_size
            )
            records: list[dict[str, Any]] = []
            times: list[str | None] = []
            listed: set[str] = set()
            for item in raw:
                wrapped = lookup(item, feed.record_path)
                if not isinstance(wrapped, dict):
                    raise FatalVendorError(
                        f"{where}: an item has no record at {feed.record_path!r}"
                    )
                record = normalize_record(
                    object_name, wrapped, obj.id_field, self._hooks, where=where
                )
                if record["id"] in listed:
                    continue  # the newest of a record's changes on the page comes first
                listed.add(record["id"])
                if not _matches(record, filters):
                    continue
                records.append(record)
                if feed.updated_path is None or updated is None:
                    times.append(None)
                else:
                    times.append(
                        _feed_time(
                            item, feed.updated_path, feed.updated_format, updated.format, where
                        )
                    )
        return Page(records, next_state, times)

    async def _page(
        self,
        operation: str,
        object_name: str,
        spec: Request,
        params: dict[str, str],
        pagination: PaginationConfig,
        page_state: dict[str, Any] | None,
        page_size: int | None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        paginator = make_paginator(
            pagination,
            base_url=self._base,
            page_size=page_size,
            private_params=self._private_params,
            state=page_state,
        )
        if page_state is not None and not paginator.has_next:
            return [], None  # a finished listing's state: nothing more to read
        first = PageRequest(
            fill_path(spec.path, self._config), paginator.first_request_params(params)
        )
        request = first if page_state is None else paginator.next_request(first)
        response = await self._sender.send(
            operation, object_name, spec.method, request.url, params=request.params
        )
        where = self._where(operation, object_name)
        body = self._sender.decode(response)
        raw = extract_records(body, spec.records_path, where=where)
        paginator.update(response, raw, body=body)  # decoded once: pages are large
        return raw, paginator.state() if paginator.has_next else None

    async def _call(
        self,
        operation: str,
        object_name: str | None,
        spec: Request,
        path_values: Mapping[str, str],
        *,
        json: Any = None,
        per_record: bool = False,
    ) -> Any:
        form = None
        if spec.body_format == "form" and json is not None:
            if not isinstance(json, Mapping):
                raise InvalidInput("a form body must be an object", field="body")
            json, form = None, json
        response = await self._sender.send(
            operation,
            object_name,
            spec.method,
            fill_path(spec.path, self._config, path_values),
            params=fill_params(spec, self._config),
            json=json,
            form=form,
            per_record=per_record,
        )
        return self._sender.decode(response)

    def _object(self, object_name: str) -> ObjectDefinition:
        obj = self.element.find_object(object_name)
        if obj is None:
            raise NotFound(f"element {self.element.key!r} has no object {object_name!r}")
        return obj

    def _native(self, object_name: str) -> NativeExport:
        obj = self._object(object_name)
        return NativeExport(
            self.element,
            self._config,
            self._sender,
            self._hooks,
            object_name,
            obj,
            bulk_export_of(obj, object_name),
        )

    def _writable(self, object_name: str) -> ObjectDefinition:
        obj = self._object(object_name)
        if obj.read_only:
            raise InvalidInput(f"{object_name} is read-only at the vendor", field="object")
        return obj

    def _pagination(self, obj: ObjectDefinition) -> PaginationConfig:
        return obj.pagination or self.element.pagination

    def _normalize(
        self, object_name: str, obj: ObjectDefinition, record: dict[str, Any], operation: str
    ) -> dict[str, Any]:
        where = self._where(operation, object_name)
        return normalize_record(object_name, record, obj.id_field, self._hooks, where=where)

    def _normalized_page(
        self, object_name: str, obj: ObjectDefinition, raw: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """normalize_record for every record of a page just decoded for this call alone.

        Where the element keeps the default hook and each record's `id` is a non-empty
        string already (most vendors), every record would come out as an equal copy of
        itself: the page's own records are returned instead (a copy per record of an
        export was about a tenth of the client's work besides httpx).
        """
        if (
            obj.id_field == "id"
            and self._hooks.normalize_record is default_normalize_record
            and all(type(record.get("id")) is str and record["id"] for record in raw)
        ):
            return raw
        where = self._where("list", object_name)
        return [
            normalize_record(object_name, record, obj.id_field, self._hooks, where=where)
            for record in raw
        ]

    def _answered_id(self, body: Any, path: str, operation: str, object_name: str) -> str:
        found = lookup(body, path)
        if isinstance(found, bool) or not isinstance(found, str | int) or found == "":
            raise FatalVendorError(
                f"{self._where(operation, object_name)}: the answer has no id at {path!r}"
            )
        return str(found)

    def _where(self, operation: str, object_name: str | None) -> str:
        return f"{self.element.key}: {operation} {object_name or ''}".rstrip()

    def _scrub_outcome(self, outcome: BatchOutcome) -> BatchOutcome:
        if outcome.error is None:
            return outcome
        return replace(
            outcome,
            error=self._redactor(outcome.error),
            result=scrub_json(outcome.result, self._redactor),
        )

    async def _scrubbed_records(
        self, records: AsyncGenerator[dict[str, Any], None]
    ) -> AsyncIterator[dict[str, Any]]:
        # Closing this iterator early closes `records`, and so the download, at once.
        async with aclosing(records):
            with self._scrubbed():
                async for record in records:
                    yield record

    @contextmanager
    def _scrubbed(self) -> Iterator[None]:
        """Every vendor error leaving the client is scrubbed of the credentials it may echo."""
        try:
            yield
        except VendorError as error:
            error.redact(self._redactor)
            raise


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, minus its work on answers that set no cookie.

    httpx hands every answer to the jar, which builds urllib stand-ins for the request and
    the answer before finding no Set-Cookie header in it: ~20 µs an answer, about 5% of
    the CPU of paging an export. Answers that do set cookies are handled as before.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


def _matches(record: Mapping[str, Any], filters: Mapping[str, str]) -> bool:
    """Whether `record` passes equality filters as a vendor's query would apply them."""
    for name, wanted in filters.items():
        value = lookup(record, name)
        if isinstance(value, bool):
            value = "true" if value else "false"
        if value is None or str(value) != wanted:
            return False
    return True


def _feed_time(
    item: Any, path: str, feed_format: TimeFormat, updated_format: TimeFormat, where: str
) -> str:
    """A change feed item's time, written as the object's updated_field writes times."""
    value = lookup(item, path)
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"not a time: {value!r}")
        if feed_format == updated_format:
            parse_time(value, feed_format)  # checked, and kept as the vendor wrote it
            return str(value)
        return format_time(parse_time(value, feed_format), updated_format)
    except (ValueError, OverflowError, OSError) as exc:
        raise FatalVendorError(f"{where}: a change has no usable time at {path!r}") from exc
