"""An element's objects: their requests, times, changed-since filter, deletes, batch and bulk."""

from __future__ import annotations

import builtins
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from interlink.elements.format.base import (
    ConfigTemplate,
    HttpMethod,
    Strict,
    TimeFormat,
    _check_template,
    _placeholder_error,
    invalid,
)
from interlink.elements.format.pagination import (
    Pagination,
)
from interlink.elements.templates import parse

# --- objects ----------------------------------------------------------------------------


class Request(Strict):
    """One HTTP call. `path` may hold `{config.…}` placeholders and the path variables of
    where the request is used (`{id}` for one record, `{export_id}`, `{webhook_id}`);
    `params` values hold `{config.…}` placeholders only."""

    method: HttpMethod = "GET"
    path: str
    params: dict[str, ConfigTemplate] = Field(default_factory=dict)
    body_key: str | None = Field(
        default=None, description="wrap the record under this key when sending it"
    )
    records_path: str | None = Field(
        default=None, description="where the record(s) sit in the answer; none = the body"
    )
    answer_id_path: str | None = Field(
        default=None,
        description=(
            "for a create or update whose answer names the record by id only (Salesforce's "
            "`{id, success, errors}`): the dotted path of the id in the answer; the client "
            "then reads the record back with the object's get"
        ),
    )
    body_format: Literal["json", "form"] = Field(
        default="json",
        description=(
            "how a record is sent: a JSON body, or form: application/x-www-form-urlencoded "
            "with nested objects and lists in brackets (metadata[plan]=pro, items[0][price]=…), "
            "true/false for booleans and an empty value for null (Stripe)"
        ),
    )

    @field_validator("path")
    @classmethod
    def _well_formed_path(cls, path: str) -> str:
        # Any `{name}` may be a path variable of some caller; which ones a definition's
        # request may use is checked where it sits (`path_takes`).
        unknown = [p.text for p in parse(path) if p.scope == "unknown"]
        if unknown:
            raise _placeholder_error(
                f"unknown placeholder {unknown[0]}: paths take {{config.…}} and {{name}} only"
            )
        return path


def path_takes(*path_variables: str) -> AfterValidator:
    """A `Request` whose path may use exactly these path variables (and `{config.…}`)."""
    allowed = frozenset(path_variables)

    def check(request: Request) -> Request:
        try:
            _check_template(request.path, allowed)
        except PydanticCustomError as error:
            raise invalid(("path",), error.message(), request.path) from None
        return request

    return AfterValidator(check)


CollectionRequest = Annotated[Request, path_takes()]
RecordRequest = Annotated[Request, path_takes("id")]
ExportRequest = Annotated[Request, path_takes("export_id")]
IngestRequest = Annotated[Request, path_takes("ingest_id")]
WebhookRequest = Annotated[Request, path_takes("webhook_id")]


class TimeField(Strict):
    name: str
    format: TimeFormat = "rfc3339"


class ChangedSinceSearch(Strict):
    """Changed-since through a search call with a JSON body rather than a parameter of the
    list (HubSpot's CRM search: `POST /crm/v3/objects/contacts/search`).

    In `body`, a string that is exactly `{since}` stands for the time (written in the
    changed-since `format`) and `{limit}` for the page size (a number). The next page's
    cursor, read at `cursor_path`, goes back into the body at `cursor_key`. A vendor that
    answers at most `max_results` records per query (HubSpot: 10,000) is read in windows:
    once a query has read that many, the search starts again from the last record's
    updated time (which needs `ascending`), skipping the records at that time already read.
    """

    method: HttpMethod = "POST"
    path: ConfigTemplate
    body: dict[str, Any] = Field(description="the JSON body; {since} and {limit} are filled")
    records_path: str | None = "results"
    cursor_path: str = "paging.next.after"
    cursor_key: str = "after"
    max_results: int | None = Field(
        default=None,
        ge=1,
        description="the most records one query answers; past it the window moves",
    )


class ChangedSinceRequest(Strict):
    """Changed-since read from another endpoint whose items wrap the record: a change feed
    (Stripe's Events API: `GET /v1/events?types[]=customer.updated&created[gte]=…`, each
    event holding the record as it was at `data.object` and its time at `created`).

    The since value (written in the changed-since `format`) goes in `since_param`, with
    `params`; the feed pages as `pagination` says (else the object's). Each item's record
    is read at `record_path`, and the change's time at `updated_path` (written as
    `updated_format`), which stands for the record's updated time where the record has
    none of its own; a record listed twice on one page is kept once (its first item).
    The object's equality filters, which the feed cannot apply, are applied to the records
    read. Polling only: bulk queries never read a change feed.
    """

    method: HttpMethod = "GET"
    path: ConfigTemplate
    since_param: str = Field(description="the feed's parameter of the time changes start at")
    params: dict[str, ConfigTemplate] = Field(
        default_factory=dict,
        description="query parameters sent along (e.g. types[]: the event types of the object)",
    )
    records_path: str | None = Field(
        default="data", description="where the items sit in the answer; none = the body"
    )
    record_path: str = Field(description="where the record sits in an item (data.object)")
    updated_path: str | None = Field(
        default=None,
        description=(
            "where the change's time sits in an item (created); none: the record's own "
            "updated_field"
        ),
    )
    updated_format: TimeFormat = "rfc3339"
    pagination: Pagination | None = None


class ChangedSince(Strict):
    """The vendor filter for records changed since a time: a parameter of the list call,
    a search call (`search`), or a change feed whose items wrap the records (`request`)."""

    param: str | None = Field(
        default=None, description="the list's parameter (omitted with search)"
    )
    format: TimeFormat = "rfc3339"
    inclusive: bool = True
    ascending: bool = Field(
        default=False,
        description="pages come in ascending updated order (marks may advance per page)",
    )
    params: dict[str, ConfigTemplate] = Field(
        default_factory=dict,
        description=(
            "query parameters sent along with the filter, replacing the list's own "
            "(e.g. sort=updated, direction=asc: what makes the answer ascending)"
        ),
    )
    search: ChangedSinceSearch | None = Field(
        default=None, description="a search call with a JSON body instead of param"
    )
    request: ChangedSinceRequest | None = Field(
        default=None,
        description="a change feed whose items wrap the records (Stripe's events) instead",
    )

    @model_validator(mode="after")
    def _param_or_search(self) -> ChangedSince:
        given = [self.param, self.search, self.request]
        if sum(item is not None for item in given) != 1:
            raise invalid(("param",), "give param, search or request (one of them)", self.param)
        if self.request is not None and self.params:
            raise invalid(
                ("params",), "with request, give the feed's params in request.params", self.params
            )
        if self.search is not None and self.search.max_results is not None and not self.ascending:
            raise invalid(
                ("search", "max_results"),
                "moving the window past max_results needs ascending: true",
                self.search.max_results,
            )
        return self


class DeletedEndpoint(Strict):
    """A deleted-records endpoint; the client answers `{"id", "deleted_at"}` per record."""

    type: Literal["endpoint"]
    path: ConfigTemplate
    since_param: str | None = Field(
        description=(
            "the parameter of the time deletes are listed from; null where the vendor has "
            "none (HubSpot's archived listing): entries deleted before it are then dropped "
            "by the client, read from deleted_at_field"
        )
    )
    since_format: TimeFormat = "rfc3339"
    params: dict[str, ConfigTemplate] = Field(
        default_factory=dict,
        description=(
            "query parameters sent along with since_param (e.g. type=customer.deleted on an "
            "events endpoint)"
        ),
    )
    records_path: str = "results"
    id_field: str = "id"
    deleted_at_field: str = "deleted_at"
    deleted_at_format: TimeFormat = Field(
        default="rfc3339",
        description=(
            "how the vendor writes deleted_at; the client always answers it as RFC 3339 "
            "in UTC (a value in another form is an error, never passed on)"
        ),
    )
    pagination: Pagination | None = None


class Tombstone(Strict):
    type: Literal["tombstone"]
    field: str
    values: list[str | bool | int] = Field(default_factory=lambda: [True])  # type: ignore[arg-type]


class NoDeletes(Strict):
    type: Literal["none"]


Deletes = Annotated[DeletedEndpoint | Tombstone | NoDeletes, Field(discriminator="type")]


BatchAction = Literal["create", "update", "upsert", "delete"]


class BatchRequest(Strict):
    """How one action of a batch endpoint is sent, where it differs from the endpoint's
    POST to `path` (Salesforce's sObject collections: PATCH to update, DELETE with the ids
    in the query, PATCH to `…/{id_property}` to upsert)."""

    method: HttpMethod = "POST"
    path: str | None = Field(
        default=None,
        description=(
            "replaces the endpoint's path; may hold {config.…} and {id_property} (the "
            "property an upsert matches records by)"
        ),
    )
    ids_param: str | None = Field(
        default=None,
        description=(
            "send no body: the inputs' ids (the object's id_field), comma-separated, go in "
            "this query parameter (DELETE /composite/sobjects?ids=…)"
        ),
    )

    @field_validator("path")
    @classmethod
    def _path_placeholders(cls, path: str | None) -> str | None:
        if path is not None:
            _check_template(path, frozenset({"id_property"}))
        return path


class BatchEndpoint(Strict):
    """A native batch endpoint; the sandbox-style body `{action, id_property, inputs}`.

    An input failed when its result flags an error (`result_error_path`, else
    `result_error_field`), when its status is not in `success_statuses` (where given;
    otherwise when it is 400 or more, or a word like `error`), or when it has no result.
    """

    path: ConfigTemplate
    max_size: int = Field(default=100, ge=1, le=10_000)
    actions: list[BatchAction]
    action_key: str | None = Field(
        default="action", description="where the action is named in the body; null: nowhere"
    )
    id_property_key: str | None = "id_property"
    inputs_key: str = "inputs"
    body: dict[str, Any] = Field(
        default_factory=dict,
        description="fixed members of every batch body (Salesforce: allOrNone: false)",
    )
    input_fields: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "fixed members added to every input (Salesforce: attributes: {type: Contact})"
        ),
    )
    requests: dict[BatchAction, BatchRequest] = Field(
        default_factory=dict,
        description="per action, how it is sent where not as a POST of the body to path",
    )
    results_path: str = Field(
        default="results", description="where the result list sits; empty: the answer itself"
    )
    result_index_field: str = "index"
    result_status_field: str = "status"
    result_id_field: str = "id"
    result_error_field: str = "error"
    result_error_path: str | None = Field(
        default=None,
        description=(
            "dotted path in a result to the vendor's error, for vendors that nest it "
            "(e.g. 'errors.0'); replaces result_error_field; a text there is the message, "
            "an object is searched with the element's message_paths"
        ),
    )
    success_statuses: list[int] | None = Field(
        default=None,
        description=(
            "statuses of a result that mean success (e.g. [200, 201]); when given, an input "
            "whose status is not one of them (or is missing) failed"
        ),
    )
    result_created_field: str | None = Field(
        default=None,
        description=(
            "a true/false in each result telling whether an upsert created the record "
            "(Salesforce's `created`); read as status 201 when true, 200 when false"
        ),
    )


class BulkExport(Strict):
    """A vendor's native bulk export: start, poll until complete, download NDJSON (or CSV,
    in pages chained by a locator header: Salesforce's Bulk API 2.0 query results)."""

    start: CollectionRequest
    object_key: str = "object"
    since_key: str | None = "updated_since"
    id_path: str = "id"
    status: ExportRequest = Field(description="path holds {export_id}")
    status_path: str = "status"
    complete_values: list[str] = Field(default_factory=lambda: ["complete"])
    failed_values: list[str] = Field(default_factory=lambda: ["failed"])
    download: ExportRequest = Field(description="path holds {export_id}")
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    download_format: Literal["ndjson", "csv"] = Field(
        default="ndjson",
        description=(
            "the file's format: NDJSON, or CSV with a header row (dotted headers build "
            "nested objects; an empty cell is null; cells are converted to the types of "
            "the object's declared fields)"
        ),
    )
    locator_header: str | None = Field(
        default=None,
        description=(
            "the download comes in pages: this answer header names the next page "
            "(Salesforce: Sforce-Locator), sent back as locator_param"
        ),
    )
    locator_param: str = "locator"
    locator_end_values: list[str] = Field(
        default_factory=lambda: ["null", ""],
        description="values of locator_header (or its absence) that mean the last page",
    )
    may_repeat: bool = Field(
        default=False,
        description=(
            "the export's file may hold a record more than once (most are snapshots that "
            "do not): an export then remembers the ids it has written"
        ),
    )


class BulkIngest(Strict):
    """A vendor's native bulk ingest of CSV (Salesforce's Bulk API 2.0 ingest): start a
    job, upload the rows as one CSV, close the job, poll until it ends, read its results.

    An upload of at least `min_rows` rows goes through it (1: every upload), in jobs of at
    most `max_rows` rows and `max_bytes` of CSV; smaller uploads use the batch endpoint
    or go record by record. The results echo the uploaded columns after the vendor's own
    (`id_column`, `created_column` or `error_column`); rows are matched to their results by
    that echoed content (identical rows are interchangeable).
    """

    start: CollectionRequest
    object_key: str = "object"
    operation_key: str = "operation"
    operations: dict[BatchAction, str] = Field(
        description="the vendor's word for each action it ingests (create: insert)"
    )
    external_id_key: str | None = Field(
        default="externalIdFieldName",
        description="where an upsert names the field records are matched by",
    )
    body: dict[str, Any] = Field(
        default_factory=dict,
        description="fixed members of the start body (Salesforce: contentType, lineEnding)",
    )
    id_path: str = "id"
    upload: IngestRequest = Field(description="PUT of the CSV; path holds {ingest_id}")
    close: IngestRequest = Field(description="path holds {ingest_id}")
    close_body: dict[str, Any] = Field(default_factory=lambda: {"state": "UploadComplete"})
    abort_body: dict[str, Any] = Field(default_factory=lambda: {"state": "Aborted"})
    status: IngestRequest = Field(description="path holds {ingest_id}")
    status_path: str = "state"
    open_values: list[str] = Field(
        default_factory=lambda: ["Open"],
        description="states of a job still taking data (nothing of it is processed yet)",
    )
    complete_values: list[str] = Field(default_factory=lambda: ["JobComplete"])
    failed_values: list[str] = Field(default_factory=lambda: ["Failed", "Aborted"])
    successful_results: IngestRequest
    failed_results: IngestRequest
    unprocessed_results: IngestRequest | None = None
    id_column: str = "sf__Id"
    created_column: str | None = "sf__Created"
    error_column: str = "sf__Error"
    null_value: str = Field(
        default="#N/A", description="the cell that sets a field to null (empty: left as is)"
    )
    min_rows: int = Field(default=2000, ge=1, description="uploads this large use the ingest")
    max_rows: int = Field(default=10_000, ge=1, le=1_000_000, description="rows per job")
    max_bytes: int = Field(
        default=100_000_000, ge=1024, description="CSV bytes per job (Salesforce: 100 MB)"
    )
    poll_interval_seconds: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _columns_apart(self) -> BulkIngest:
        own = [self.id_column, self.error_column]
        if self.created_column is not None:
            own.append(self.created_column)
        if len(set(own)) != len(own):
            raise invalid(("error_column",), "the result columns must differ", self.error_column)
        if "upsert" in self.operations and self.external_id_key is None:
            raise invalid(
                ("external_id_key",), "an upsert needs external_id_key", self.external_id_key
            )
        return self


class SchemaField(Strict):
    name: str
    type: Literal["string", "integer", "number", "boolean", "datetime", "object", "array"]
    read_only: bool = False
    required: bool = False


class ObjectDefinition(Strict):
    path: ConfigTemplate = Field(description="collection path, e.g. /api/contacts")
    label: str | None = None
    aliases: builtins.list[str] = Field(
        default_factory=builtins.list,
        description=(
            "other names the object answers to (Salesforce's Contact also as contacts); "
            "the hub resolves them to the object's own name"
        ),
    )
    id_field: str = "id"
    records_path: str | None = "results"
    list: CollectionRequest | None = None
    get: RecordRequest | None = Field(default=None, description="path holds {id}")
    create: CollectionRequest | None = None
    update: RecordRequest | None = Field(default=None, description="path holds {id}")
    delete: RecordRequest | None = Field(default=None, description="path holds {id}")
    read_only: bool = False
    deletable: bool = Field(
        default=True,
        description=(
            "the vendor's API deletes records of this object; false where it has no way "
            "to (GitHub issues): a delete through Interlink is then refused"
        ),
    )
    pagination: Pagination | None = None
    created_field: TimeField | None = None
    updated_field: TimeField | None = None
    changed_since: ChangedSince | None = None
    deletes: Deletes = Field(default_factory=lambda: NoDeletes(type="none"))
    equality_filters: builtins.list[str] | Literal["*"] = Field(
        default_factory=builtins.list, description="fields the list call can filter by equality"
    )
    batch: BatchEndpoint | None = None
    bulk_export: BulkExport | None = None
    bulk_ingest: BulkIngest | None = Field(
        default=None, description="the vendor's native bulk ingest of CSV, for large uploads"
    )
    upsert: bool = False
    stable_order: bool = Field(
        default=False,
        description=(
            "the list call (without a changed-since filter) returns records in an order "
            "their changes do not move, e.g. by id: one listing never returns a record "
            "twice, so an export need not remember the ids it has written"
        ),
    )
    fields: builtins.list[SchemaField] | None = None

    @model_validator(mode="after")
    def _changed_since_needs_updated_field(self) -> ObjectDefinition:
        if self.changed_since and not self.updated_field:
            raise invalid(
                ("changed_since",),
                "changed_since needs updated_field (where the vendor's time is read)",
                self.changed_since.param,
            )
        return self

    def list_request(self) -> Request:
        return self.list or Request(path=self.path, records_path=self.records_path)

    def get_request(self) -> Request:
        return self.get or Request(path=f"{self.path}/{{id}}")

    def create_request(self) -> Request:
        return self.create or Request(method="POST", path=self.path)

    def update_request(self) -> Request:
        return self.update or Request(method="PATCH", path=f"{self.path}/{{id}}")

    def delete_request(self) -> Request:
        return self.delete or Request(method="DELETE", path=f"{self.path}/{{id}}")
