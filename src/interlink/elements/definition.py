"""The element definition format: what one YAML file may say about a vendor API.

Every model forbids unknown keys, so a typo in a definition is an error that names the
field instead of a setting silently ignored. Templates (`{config.x}`, and `{id}`-style path
variables where a path takes one) are checked here too: a placeholder nothing can fill is
an error naming its field, not a broken URL at the first call. `interlink elements schema`
publishes the JSON Schema of `ElementDefinition`.
"""

from interlink.elements.format.auth import (
    ApiKeyAuth,
    Auth,
    AuthMethod,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
)
from interlink.elements.format.base import (
    HOOKS_PACKAGE,
    Change,
    ConfigField,
    ConfigTemplate,
    HttpMethod,
    Loc,
    Strict,
    TimeFormat,
    invalid,
    is_hooks_module,
)
from interlink.elements.format.behaviour import (
    ErrorMapping,
    Polling,
    RateLimit,
    RetryPolicy,
)
from interlink.elements.format.element import (
    ElementDefinition,
)
from interlink.elements.format.objects import (
    BatchEndpoint,
    BulkExport,
    ChangedSince,
    ChangedSinceSearch,
    CollectionRequest,
    DeletedEndpoint,
    Deletes,
    ExportRequest,
    NoDeletes,
    ObjectDefinition,
    RecordRequest,
    Request,
    SchemaField,
    TimeField,
    Tombstone,
    WebhookRequest,
    path_takes,
)
from interlink.elements.format.pagination import (
    CountedPagination,
    CursorPagination,
    LastIdPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
    PageSize,
    Pagination,
)
from interlink.elements.format.webhooks import (
    WebhookEvents,
    WebhookRegistration,
    Webhooks,
    WebhookSignature,
)

__all__ = [
    "HOOKS_PACKAGE",
    "ApiKeyAuth",
    "Auth",
    "AuthMethod",
    "BasicAuth",
    "BatchEndpoint",
    "BearerAuth",
    "BulkExport",
    "Change",
    "ChangedSince",
    "ChangedSinceSearch",
    "CollectionRequest",
    "ConfigField",
    "ConfigTemplate",
    "CountedPagination",
    "CursorPagination",
    "DeletedEndpoint",
    "Deletes",
    "ElementDefinition",
    "ErrorMapping",
    "ExportRequest",
    "HttpMethod",
    "LastIdPagination",
    "LinkHeaderPagination",
    "Loc",
    "NextUrlPagination",
    "NoAuth",
    "NoDeletes",
    "NoPagination",
    "OAuth2ClientCredentials",
    "OAuth2RefreshToken",
    "ObjectDefinition",
    "OffsetPagination",
    "PageNumberPagination",
    "PageSize",
    "Pagination",
    "Polling",
    "RateLimit",
    "RecordRequest",
    "Request",
    "RetryPolicy",
    "SchemaField",
    "Strict",
    "TimeField",
    "TimeFormat",
    "Tombstone",
    "WebhookEvents",
    "WebhookRegistration",
    "WebhookRequest",
    "WebhookSignature",
    "Webhooks",
    "invalid",
    "is_hooks_module",
    "path_takes",
]
