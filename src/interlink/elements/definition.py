"""The element definition format: what one YAML file may say about a vendor API.

Every model forbids unknown keys, so a typo in a definition is an error that names the
field instead of a setting silently ignored. Templates (`{config.x}`, and `{id}`-style path
variables where a path takes one) are checked here too: a placeholder nothing can fill is
an error naming its field, not a broken URL at the first call. `interlink elements schema`
publishes the JSON Schema of `ElementDefinition`.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from interlink.elements.templates import parse, placeholders, unknown_placeholders

TimeFormat = Literal["rfc3339", "unix", "unix_ms"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Change = Literal["created", "updated", "deleted"]
Loc = tuple[int | str, ...]

# Where the Python hooks of built-in elements live; nothing else is ever imported.
HOOKS_PACKAGE = "interlink.elements.hooks"
_MODULE_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_CONFIG_NAME = rf"^{_MODULE_NAME}$"


def is_hooks_module(module_path: str) -> bool:
    """`interlink.elements.hooks.acme`: a module inside the hooks package, never the package."""
    return re.fullmatch(rf"{re.escape(HOOKS_PACKAGE)}(\.{_MODULE_NAME})+", module_path) is not None


def invalid(loc: Loc, message: str, value: Any) -> ValidationError:
    """A validation error at `loc` below the model being validated.

    Raised from a validator, pydantic prefixes `loc` with where that model sits, so a rule
    checked on a whole model can still name the one field to fix.
    """
    error = PydanticCustomError("definition", message)
    return ValidationError.from_exception_data(
        "ElementDefinition", [InitErrorDetails(type=error, loc=loc, input=value)]
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- templates --------------------------------------------------------------------------


def _placeholder_error(message: str) -> PydanticCustomError:
    # No context: pydantic would otherwise fill `{…}` in the message from it.
    return PydanticCustomError("placeholder", message)


def _check_template(template: str, path_variables: frozenset[str] = frozenset()) -> str:
    unknown = unknown_placeholders(template, path_variables)
    if unknown:
        takes = " and ".join([*(f"{{{name}}}" for name in sorted(path_variables)), "{config.…}"])
        raise _placeholder_error(f"unknown placeholder {unknown[0]}: this field takes {takes} only")
    return template


# A string filled from the instance's config only: `{config.x}` placeholders.
ConfigTemplate = Annotated[str, AfterValidator(_check_template)]


# --- instance configuration -------------------------------------------------------------


class ConfigField(Strict):
    """One setting an instance supplies; `secret` ones are encrypted and never returned."""

    name: str = Field(pattern=_CONFIG_NAME)
    type: Literal["string", "url", "integer", "boolean"] = "string"
    required: bool = True
    secret: bool = False
    default: str | int | bool | None = None
    description: str | None = None


# --- authentication ---------------------------------------------------------------------


class AuthMethod(Strict):
    # The fields holding credentials: every config field they use must be `secret: true`,
    # or the credential would be stored unencrypted and returned by the API.
    secret_templates: ClassVar[tuple[str, ...]] = ()


class ApiKeyAuth(AuthMethod):
    secret_templates = ("value",)

    type: Literal["api_key"]
    location: Literal["header", "query"] = Field(default="header", alias="in")
    name: str
    value: ConfigTemplate = Field(description="template, e.g. '{config.api_key}'")


class BearerAuth(AuthMethod):
    secret_templates = ("token",)

    type: Literal["bearer"]
    token: ConfigTemplate


class BasicAuth(AuthMethod):
    secret_templates = ("password",)

    type: Literal["basic"]
    username: ConfigTemplate
    password: ConfigTemplate


class OAuth2ClientCredentials(AuthMethod):
    secret_templates = ("client_secret",)

    type: Literal["oauth2_client_credentials"]
    token_url: ConfigTemplate
    client_id: ConfigTemplate
    client_secret: ConfigTemplate
    scope: str | None = None
    client_auth: Literal["body", "basic"] = "body"


class OAuth2RefreshToken(AuthMethod):
    """Refresh-token grant; the refreshed tokens are persisted with the instance."""

    secret_templates = ("client_secret", "refresh_token")

    type: Literal["oauth2_refresh_token"]
    token_url: ConfigTemplate
    client_id: ConfigTemplate
    client_secret: ConfigTemplate
    refresh_token: ConfigTemplate
    client_auth: Literal["body", "basic"] = "body"
    access_token_field: str = Field(
        default="access_token",
        pattern=_CONFIG_NAME,
        description=(
            "the instance credential where the refreshed access token is stored (encrypted) "
            "and read back, so a still-valid token spares a refresh"
        ),
    )
    expires_at_field: str = Field(
        default="token_expires_at",
        pattern=_CONFIG_NAME,
        description=(
            "the instance credential where the access token's expiry is stored, in unix "
            "seconds (RFC 3339 is read as well)"
        ),
    )

    @model_validator(mode="after")
    def _distinct_token_fields(self) -> OAuth2RefreshToken:
        if self.access_token_field == self.expires_at_field:
            raise invalid(
                ("expires_at_field",),
                "expires_at_field must differ from access_token_field",
                self.expires_at_field,
            )
        if self.expires_at_field in placeholders(self.refresh_token) or (
            self.access_token_field in placeholders(self.refresh_token)
        ):
            raise invalid(
                ("refresh_token",),
                "the refresh token must be stored apart from the access token and its expiry",
                self.refresh_token,
            )
        return self


class NoAuth(AuthMethod):
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


class CountedPagination(PageSize):
    """Positions Interlink computes (page numbers, offsets), so nothing in the position
    itself says where the listing ends. In order, another page follows when:

    1. `has_more_path` or `total_path` is given: the vendor says so (one of them, not both);
    2. else, with `stop_on_short_page`: the page was full;
    3. else: the page was not empty. Stopping at the first short page loses records when
       the vendor caps its page size below ours, and vendors rarely say they do; one extra
       request at the end of every listing is the price of never losing a record.
    """

    has_more_path: str | None = Field(
        default=None,
        description=(
            "dotted path to a boolean in the body, true while another page follows; "
            "when given it alone decides"
        ),
    )
    total_path: str | None = Field(
        default=None,
        description=(
            "dotted path to the total number of records in the body; another page follows "
            "while fewer have been read; when given it alone decides"
        ),
    )
    stop_on_short_page: bool = Field(
        default=False,
        description=(
            "without has_more_path and total_path: a page shorter than page_size is the "
            "last. Only for vendors that never cap page sizes; by default only an empty "
            "page ends the listing (one more request, no record ever lost)"
        ),
    )

    @model_validator(mode="after")
    def _one_way_to_end(self) -> Self:
        if self.has_more_path and self.total_path:
            raise invalid(
                ("total_path",),
                "give has_more_path or total_path, not both: one of them decides",
                self.total_path,
            )
        if self.stop_on_short_page and (self.has_more_path or self.total_path):
            raise invalid(
                ("stop_on_short_page",),
                "stop_on_short_page applies only without has_more_path and total_path",
                self.stop_on_short_page,
            )
        return self


class PageNumberPagination(CountedPagination):
    type: Literal["page_number"]
    page_param: str = "page"
    first_page: int = 1


class OffsetPagination(CountedPagination):
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
WebhookRequest = Annotated[Request, path_takes("webhook_id")]


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
    """A deleted-records endpoint; the client answers `{"id", "deleted_at"}` per record."""

    type: Literal["endpoint"]
    path: ConfigTemplate
    since_param: str
    since_format: TimeFormat = "rfc3339"
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


class BatchEndpoint(Strict):
    """A native batch endpoint; the sandbox-style body `{action, id_property, inputs}`.

    An input failed when its result flags an error (`result_error_path`, else
    `result_error_field`), when its status is not in `success_statuses` (where given;
    otherwise when it is 400 or more, or a word like `error`), or when it has no result.
    """

    path: ConfigTemplate
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


class BulkExport(Strict):
    """A vendor's native bulk export: start, poll until complete, download NDJSON."""

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


class SchemaField(Strict):
    name: str
    type: Literal["string", "integer", "number", "boolean", "datetime", "object", "array"]
    read_only: bool = False
    required: bool = False


class ObjectDefinition(Strict):
    path: ConfigTemplate = Field(description="collection path, e.g. /api/contacts")
    label: str | None = None
    id_field: str = "id"
    records_path: str | None = "results"
    list: CollectionRequest | None = None
    get: RecordRequest | None = Field(default=None, description="path holds {id}")
    create: CollectionRequest | None = None
    update: RecordRequest | None = Field(default=None, description="path holds {id}")
    delete: RecordRequest | None = Field(default=None, description="path holds {id}")
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
    create: CollectionRequest
    url_key: str = "url"
    secret_key: str | None = "secret"
    id_path: str = "id"
    delete: WebhookRequest = Field(description="path holds {webhook_id}")


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
    base_url: ConfigTemplate = Field(description="template, e.g. '{config.base_url}'")
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
        default=None,
        description=(
            f"Python module with hooks, inside {HOOKS_PACKAGE} (e.g. "
            f"'{HOOKS_PACKAGE}.acme'); built-in elements only"
        ),
    )

    @field_validator("hooks")
    @classmethod
    def _hooks_in_their_package(cls, hooks: str | None) -> str | None:
        # Defence in depth: even a definition that slipped past the custom-element rules
        # can only name a module that ships with Interlink for this purpose.
        if hooks is not None and not is_hooks_module(hooks):
            raise ValueError(
                f"hooks must name a module in {HOOKS_PACKAGE}, e.g. {HOOKS_PACKAGE}.acme"
            )
        return hooks

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
        for where, text in _strings(self.model_dump(by_alias=True, exclude_defaults=True)):
            unknown = sorted(placeholders(text) - known)
            if unknown:
                # The error stays on the whole definition (API clients rely on it); the
                # message names the field that holds the template.
                raise ValueError(
                    f"{'.'.join(map(str, where))} uses config fields not declared in "
                    f"config: {unknown}"
                )
        return self

    @model_validator(mode="after")
    def _credentials_are_secret(self) -> ElementDefinition:
        fields = {field.name: (index, field) for index, field in enumerate(self.config)}
        used_in: dict[str, str] = {}
        for attribute in self.auth.secret_templates:
            for name in sorted(placeholders(getattr(self.auth, attribute))):
                used_in.setdefault(name, f"auth.{attribute}")
        if isinstance(self.auth, OAuth2RefreshToken):
            used_in.setdefault(self.auth.access_token_field, "auth.access_token_field")
        for name, where in used_in.items():
            index, field = fields.get(name, (None, None))
            if index is not None and field is not None and not field.secret:
                raise invalid(
                    ("config", index, "secret"),
                    f"config field {name!r} holds a credential ({where}): declare it "
                    "secret: true, or it is stored unencrypted and returned by the API",
                    False,
                )
        return self

    @property
    def secret_fields(self) -> set[str]:
        return {field.name for field in self.config if field.secret}


def _strings(node: Any, where: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Every string in a dumped definition, with where it sits (keys and list indexes)."""
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*where, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*where, index))
