"""The element definition format: what one YAML file may say about a vendor API.

Every model forbids unknown keys, so a typo in a definition is an error that names the
field instead of a setting silently ignored. `interlink elements schema` publishes the
JSON Schema of `ElementDefinition`.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interlink.elements.templates import placeholders

TimeFormat = Literal["rfc3339", "unix", "unix_ms"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Change = Literal["created", "updated", "deleted"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- instance configuration -------------------------------------------------------------


class ConfigField(Strict):
    """One setting an instance supplies; `secret` ones are encrypted and never returned."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["string", "url", "integer", "boolean"] = "string"
    required: bool = True
    secret: bool = False
    default: str | int | bool | None = None
    description: str | None = None


# --- authentication ---------------------------------------------------------------------


class ApiKeyAuth(Strict):
    type: Literal["api_key"]
    location: Literal["header", "query"] = Field(default="header", alias="in")
    name: str
    value: str = Field(description="template, e.g. '{config.api_key}'")


class BearerAuth(Strict):
    type: Literal["bearer"]
    token: str


class BasicAuth(Strict):
    type: Literal["basic"]
    username: str
    password: str


class OAuth2ClientCredentials(Strict):
    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    client_auth: Literal["body", "basic"] = "body"


class OAuth2RefreshToken(Strict):
    """Refresh-token grant; the refreshed tokens are persisted with the instance."""

    type: Literal["oauth2_refresh_token"]
    token_url: str
    client_id: str
    client_secret: str
    refresh_token: str
    client_auth: Literal["body", "basic"] = "body"


class NoAuth(Strict):
    type: Literal["none"]


Auth = Annotated[
    ApiKeyAuth | BearerAuth | BasicAuth | OAuth2ClientCredentials | OAuth2RefreshToken | NoAuth,
    Field(discriminator="type"),
]


# --- pagination -------------------------------------------------------------------------


class PageSize(Strict):
    limit_param: str | None = "limit"
    page_size: int = Field(default=100, ge=1, le=10_000)


class CursorPagination(PageSize):
    """The body names the next cursor; the client sends it back as a parameter."""

    type: Literal["cursor"]
    cursor_param: str = "cursor"
    cursor_path: str = "next_cursor"


class LinkHeaderPagination(PageSize):
    """RFC 8288 `Link: <…>; rel="next"`."""

    type: Literal["link_header"]
    rel: str = "next"


class PageNumberPagination(PageSize):
    type: Literal["page_number"]
    page_param: str = "page"
    first_page: int = 1


class OffsetPagination(PageSize):
    type: Literal["offset"]
    offset_param: str = "offset"


class NextUrlPagination(PageSize):
    """The body carries the full URL of the next page."""

    type: Literal["next_url"]
    next_url_path: str = "next"


class NoPagination(Strict):
    type: Literal["none"]


Pagination = Annotated[
    CursorPagination
    | LinkHeaderPagination
    | PageNumberPagination
    | OffsetPagination
    | NextUrlPagination
    | NoPagination,
    Field(discriminator="type"),
]


# --- objects ----------------------------------------------------------------------------


class Request(Strict):
    """One HTTP call; `path` may hold `{id}` and `{config.…}` placeholders."""

    method: HttpMethod = "GET"
    path: str
    params: dict[str, str] = Field(default_factory=dict)
    body_key: str | None = Field(
        default=None, description="wrap the record under this key when sending it"
    )
    records_path: str | None = Field(
        default=None, description="where the record(s) sit in the answer; none = the body"
    )


class TimeField(Strict):
    name: str
    format: TimeFormat = "rfc3339"


class ChangedSince(Strict):
    """The vendor filter for records changed since a time."""

    param: str
    format: TimeFormat = "rfc3339"
    inclusive: bool = True
    ascending: bool = Field(
        default=False,
        description="pages come in ascending updated order (marks may advance per page)",
    )


class DeletedEndpoint(Strict):
    type: Literal["endpoint"]
    path: str
    since_param: str
    since_format: TimeFormat = "rfc3339"
    records_path: str = "results"
    id_field: str = "id"
    deleted_at_field: str = "deleted_at"
    pagination: Pagination | None = None


class Tombstone(Strict):
    type: Literal["tombstone"]
    field: str
    values: list[str | bool | int] = Field(default_factory=lambda: [True])  # type: ignore[arg-type]


class NoDeletes(Strict):
    type: Literal["none"]


Deletes = Annotated[DeletedEndpoint | Tombstone | NoDeletes, Field(discriminator="type")]


class BatchEndpoint(Strict):
    """A native batch endpoint; the sandbox-style body `{action, id_property, inputs}`."""

    path: str
    max_size: int = Field(default=100, ge=1, le=10_000)
    actions: list[Literal["create", "update", "upsert", "delete"]]
    action_key: str = "action"
    id_property_key: str | None = "id_property"
    inputs_key: str = "inputs"
    results_path: str = "results"
    result_index_field: str = "index"
    result_status_field: str = "status"
    result_id_field: str = "id"
    result_error_field: str = "error"


class BulkExport(Strict):
    """A vendor's native bulk export: start, poll until complete, download NDJSON."""

    start: Request
    object_key: str = "object"
    since_key: str | None = "updated_since"
    id_path: str = "id"
    status: Request = Field(description="path holds {export_id}")
    status_path: str = "status"
    complete_values: list[str] = Field(default_factory=lambda: ["complete"])
    failed_values: list[str] = Field(default_factory=lambda: ["failed"])
    download: Request
    poll_interval_seconds: float = Field(default=1.0, gt=0)


class SchemaField(Strict):
    name: str
    type: Literal["string", "integer", "number", "boolean", "datetime", "object", "array"]
    read_only: bool = False
    required: bool = False


class ObjectDefinition(Strict):
    path: str = Field(description="collection path, e.g. /api/contacts")
    label: str | None = None
    id_field: str = "id"
    records_path: str | None = "results"
    list: Request | None = None
    get: Request | None = None
    create: Request | None = None
    update: Request | None = None
    delete: Request | None = None
    read_only: bool = False
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
    upsert: bool = False
    fields: builtins.list[SchemaField] | None = None

    @model_validator(mode="after")
    def _changed_since_needs_updated_field(self) -> ObjectDefinition:
        if self.changed_since and not self.updated_field:
            raise ValueError("changed_since needs updated_field (where the vendor's time is read)")
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


# --- webhooks ---------------------------------------------------------------------------


class WebhookSignature(Strict):
    scheme: Literal[
        "sandbox", "standard_webhooks", "stripe", "github", "shopify", "hubspot_v3", "hmac"
    ]
    header: str | None = None
    tolerance_seconds: int = 300
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    signed_payload: str = Field(
        default="{body}", description="for scheme hmac: {timestamp}, {body}"
    )
    timestamp_header: str | None = None


class WebhookEvents(Strict):
    """Where the parts of a vendor's event sit in its payload (dotted paths)."""

    id_path: str = "id"
    type_path: str = "type"
    occurred_at_path: str | None = None
    record_path: str | None = "object"
    record_id_path: str = "object.id"
    objects: dict[str, str] = Field(description="vendor type prefix → object name")
    changes: dict[str, Change] = Field(description="vendor type suffix → change")
    type_separator: str = "."
    fetch_record: bool = False


class WebhookRegistration(Strict):
    create: Request
    url_key: str = "url"
    secret_key: str | None = "secret"
    id_path: str = "id"
    delete: Request = Field(description="path holds {webhook_id}")


class Webhooks(Strict):
    signature: WebhookSignature
    events: WebhookEvents
    registration: WebhookRegistration | None = None


# --- behaviour at the vendor ------------------------------------------------------------


class RateLimit(Strict):
    requests: int = Field(default=10, ge=1)
    per_seconds: float = Field(default=1.0, gt=0)
    concurrency: int = Field(default=4, ge=1, le=256)


class RetryPolicy(Strict):
    statuses: list[int] = Field(default_factory=lambda: [408, 425, 429, 500, 502, 503, 504])
    max_attempts: int = Field(default=5, ge=1, le=20)
    base_delay_seconds: float = Field(default=0.5, ge=0)
    max_delay_seconds: float = Field(default=30.0, ge=0)
    max_retry_after_seconds: float = Field(default=3600.0, ge=0)


class ErrorMapping(Strict):
    message_paths: list[str] = Field(default_factory=lambda: ["message", "error.message", "error"])
    auth_statuses: list[int] = Field(default_factory=lambda: [401, 403])
    record_statuses: list[int] = Field(
        default_factory=lambda: [400, 404, 409, 422], description="a rejection of one record"
    )


class Polling(Strict):
    overlap_seconds: float = Field(default=60.0, ge=0)
    full_scan_interval_seconds: int = Field(default=3600, ge=60)


# --- the element ------------------------------------------------------------------------


class ElementDefinition(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,62}$")
    name: str
    description: str | None = None
    base_url: str = Field(description="template, e.g. '{config.base_url}'")
    config: list[ConfigField] = Field(default_factory=list)
    auth: Auth = Field(default_factory=lambda: NoAuth(type="none"))
    pagination: Pagination = Field(default_factory=lambda: NoPagination(type="none"))
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    errors: ErrorMapping = Field(default_factory=ErrorMapping)
    polling: Polling = Field(default_factory=Polling)
    webhooks: Webhooks | None = None
    objects: dict[str, ObjectDefinition] = Field(min_length=1)
    hooks: str | None = Field(
        default=None, description="Python module with hooks; built-in elements only"
    )

    @field_validator("objects")
    @classmethod
    def _object_names(cls, objects: dict[str, ObjectDefinition]) -> dict[str, ObjectDefinition]:
        for name in objects:
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"object name {name!r} must be letters, digits, - or _")
        return objects

    @model_validator(mode="after")
    def _templates_name_config_fields(self) -> ElementDefinition:
        known = {field.name for field in self.config}
        unknown = sorted(placeholders(self.model_dump_json()) - known)
        if unknown:
            raise ValueError(f"templates use config fields not declared in config: {unknown}")
        return self

    @property
    def secret_fields(self) -> set[str]:
        return {field.name for field in self.config if field.secret}
