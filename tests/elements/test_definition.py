"""The definition format's rules, on the models: each names the field it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from interlink.elements.catalog import builtin_elements
from interlink.elements.definition import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CursorPagination,
    DeletedEndpoint,
    ElementDefinition,
    LinkHeaderPagination,
    NextUrlPagination,
    NoAuth,
    NoDeletes,
    NoPagination,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    PageNumberPagination,
    Tombstone,
)

from .support import MINIMAL, refused, valid

# --- discriminated unions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "model"),
    [
        ({"type": "none"}, NoAuth),
        ({"type": "bearer", "token": "{config.api_key}"}, BearerAuth),
        (
            {"type": "api_key", "in": "query", "name": "key", "value": "{config.api_key}"},
            ApiKeyAuth,
        ),
        (
            {"type": "basic", "username": "{config.account}", "password": "{config.api_key}"},
            BasicAuth,
        ),
        (
            {
                "type": "oauth2_client_credentials",
                "token_url": "https://auth.example/token",
                "client_id": "{config.account}",
                "client_secret": "{config.api_key}",
            },
            OAuth2ClientCredentials,
        ),
        (
            {
                "type": "oauth2_refresh_token",
                "token_url": "https://auth.example/token",
                "client_id": "{config.account}",
                "client_secret": "{config.api_key}",
                "refresh_token": "{config.api_key}",
            },
            OAuth2RefreshToken,
        ),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_auth_is_chosen_by_its_type(auth: dict[str, Any], model: type) -> None:
    assert isinstance(valid(auth=auth).auth, model)


@pytest.mark.parametrize(
    ("pagination", "model"),
    [
        ({"type": "none"}, NoPagination),
        ({"type": "cursor"}, CursorPagination),
        ({"type": "link_header"}, LinkHeaderPagination),
        ({"type": "page_number"}, PageNumberPagination),
        ({"type": "offset"}, OffsetPagination),
        ({"type": "next_url"}, NextUrlPagination),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_pagination_is_chosen_by_its_type(pagination: dict[str, Any], model: type) -> None:
    assert isinstance(valid(pagination=pagination).pagination, model)


@pytest.mark.parametrize(
    ("deletes", "model"),
    [
        ({"type": "none"}, NoDeletes),
        ({"type": "tombstone", "field": "archived"}, Tombstone),
        ({"type": "endpoint", "path": "/deleted", "since_param": "since"}, DeletedEndpoint),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_deletes_are_chosen_by_their_type(deletes: dict[str, Any], model: type) -> None:
    assert isinstance(valid(contacts={"deletes": deletes}).objects["contacts"].deletes, model)


def test_an_unknown_type_names_the_union() -> None:
    assert refused(auth={"type": "digest"}).field == "auth"
    assert refused(pagination={"type": "token"}).field == "pagination"
    assert refused(contacts={"deletes": {"type": "soft"}}).field == "objects.contacts.deletes"


def test_a_union_members_own_field_is_named_without_the_tag() -> None:
    error = refused(pagination={"type": "cursor", "page_size": 0})
    assert error.field == "pagination.page_size"


def test_the_defaults_are_no_auth_no_pagination_no_deletes() -> None:
    definition = ElementDefinition.model_validate(
        {**MINIMAL, "auth": {"type": "none"}, "config": [{"name": "base_url"}]}
    )
    assert isinstance(definition.pagination, NoPagination)
    assert isinstance(definition.objects["contacts"].deletes, NoDeletes)


# --- long-standing rules ----------------------------------------------------------------


def test_changed_since_needs_updated_field() -> None:
    error = refused(contacts={"changed_since": {"param": "updated_after"}})
    assert error.field == "objects.contacts.changed_since"
    assert "updated_field" in error.detail
    assert valid(
        contacts={"changed_since": {"param": "updated_after"}, "updated_field": {"name": "m"}}
    )


def test_changed_since_reads_a_change_feed_or_a_param_or_a_search_one_at_a_time() -> None:
    feed = {
        "path": "/v1/events",
        "since_param": "created[gte]",
        "params": {"types[0]": "contact.updated"},
        "record_path": "data.object",
        "updated_path": "created",
        "updated_format": "unix",
    }
    updated = {"name": "m"}
    definition = valid(
        contacts={"changed_since": {"format": "unix", "request": feed}, "updated_field": updated}
    )
    changed_since = definition.objects["contacts"].changed_since
    assert changed_since is not None
    request = changed_since.request
    assert request is not None
    assert (request.records_path, request.record_path) == ("data", "data.object")
    both = {"param": "updated_after", "request": feed}
    error = refused(contacts={"changed_since": both, "updated_field": updated})
    assert "give param, search or request" in error.detail
    stray = {"request": feed, "params": {"sort": "updated"}}
    error = refused(contacts={"changed_since": stray, "updated_field": updated})
    assert "request.params" in error.detail


def test_unknown_keys_are_named_by_dotted_path() -> None:
    assert refused(contacts={"record_path": "data"}).field == "objects.contacts.record_path"
    assert refused(pagination={"type": "offset", "has_more": "x"}).field == ("pagination.has_more")


def test_object_names_are_plain() -> None:
    assert refused(objects={"a b": {"path": "/x"}}).field == "objects"


# --- pagination: where page-number and offset listings end ------------------------------


@pytest.mark.parametrize("kind", ["page_number", "offset"])
def test_counted_pagination_defaults_stop_only_on_an_empty_page(kind: str) -> None:
    pagination = valid(pagination={"type": kind}).pagination
    assert isinstance(pagination, PageNumberPagination | OffsetPagination)
    assert pagination.has_more_path is None
    assert pagination.total_path is None
    assert pagination.stop_on_short_page is False


@pytest.mark.parametrize("kind", ["page_number", "offset"])
@pytest.mark.parametrize(
    "options",
    [{"has_more_path": "meta.more"}, {"total_path": "meta.total"}, {"stop_on_short_page": True}],
)
def test_counted_pagination_takes_one_way_to_end(kind: str, options: dict[str, Any]) -> None:
    pagination = valid(pagination={"type": kind, **options}).pagination
    assert pagination.model_dump(include=set(options)) == options


def test_has_more_and_total_together_are_ambiguous() -> None:
    error = refused(pagination={"type": "offset", "has_more_path": "more", "total_path": "n"})
    assert error.field == "pagination.total_path"
    assert "not both" in error.detail


@pytest.mark.parametrize("option", [{"has_more_path": "more"}, {"total_path": "n"}])
def test_stop_on_short_page_is_only_for_listings_without_the_vendors_word(
    option: dict[str, str],
) -> None:
    error = refused(
        contacts={"pagination": {"type": "page_number", "stop_on_short_page": True, **option}}
    )
    assert error.field == "objects.contacts.pagination.stop_on_short_page"


def test_cursor_paging_has_no_page_end_options() -> None:
    assert refused(pagination={"type": "cursor", "total_path": "n"}).field == (
        "pagination.total_path"
    )


# --- deletes ----------------------------------------------------------------------------

DELETED = {"type": "endpoint", "path": "/api/contacts/deleted", "since_param": "since"}


def test_deleted_at_format_defaults_to_rfc3339() -> None:
    deletes = valid(contacts={"deletes": DELETED}).objects["contacts"].deletes
    assert isinstance(deletes, DeletedEndpoint)
    assert deletes.deleted_at_format == "rfc3339"


@pytest.mark.parametrize("time_format", ["rfc3339", "unix", "unix_ms"])
def test_deleted_at_format_takes_the_time_formats(time_format: str) -> None:
    deletes = {**DELETED, "deleted_at_format": time_format}
    endpoint = valid(contacts={"deletes": deletes}).objects["contacts"].deletes
    assert isinstance(endpoint, DeletedEndpoint)
    assert endpoint.deleted_at_format == time_format


def test_an_unknown_deleted_at_format_is_refused() -> None:
    error = refused(contacts={"deletes": {**DELETED, "deleted_at_format": "iso8601"}})
    assert error.field == "objects.contacts.deletes.deleted_at_format"


def test_deletes_take_page_end_options_in_their_own_pagination() -> None:
    deletes = {**DELETED, "pagination": {"type": "offset", "total_path": "count"}}
    endpoint = valid(contacts={"deletes": deletes}).objects["contacts"].deletes
    assert isinstance(endpoint, DeletedEndpoint)
    assert isinstance(endpoint.pagination, OffsetPagination)
    assert endpoint.pagination.total_path == "count"


# --- batch ------------------------------------------------------------------------------

BATCH = {"path": "/api/contacts/batch", "actions": ["create"]}


def test_batch_result_options_default_to_todays_reading() -> None:
    batch = valid(contacts={"batch": BATCH}).objects["contacts"].batch
    assert batch is not None
    assert batch.success_statuses is None
    assert batch.result_error_path is None
    assert batch.result_error_field == "error"


def test_batch_takes_success_statuses_and_a_nested_error_path() -> None:
    batch_options = {**BATCH, "success_statuses": [200, 201], "result_error_path": "errors.0"}
    batch = valid(contacts={"batch": batch_options}).objects["contacts"].batch
    assert batch is not None
    assert batch.success_statuses == [200, 201]
    assert batch.result_error_path == "errors.0"


def test_success_statuses_are_numbers() -> None:
    error = refused(contacts={"batch": {**BATCH, "success_statuses": ["ok"]}})
    assert error.field == "objects.contacts.batch.success_statuses.0"


# --- OAuth token storage and secret credentials -----------------------------------------

REFRESH = {
    "type": "oauth2_refresh_token",
    "token_url": "https://auth.example/token",
    "client_id": "{config.client_id}",
    "client_secret": "{config.client_secret}",
    "refresh_token": "{config.refresh_token}",
}
OAUTH_CONFIG = [
    {"name": "base_url", "type": "url"},
    {"name": "client_id"},
    {"name": "client_secret", "secret": True},
    {"name": "refresh_token", "secret": True},
]


def test_refresh_token_storage_defaults_to_todays_keys() -> None:
    auth = valid(config=OAUTH_CONFIG, auth=REFRESH).auth
    assert isinstance(auth, OAuth2RefreshToken)
    assert (auth.access_token_field, auth.expires_at_field) == ("access_token", "token_expires_at")


def test_refresh_token_storage_keys_can_be_named() -> None:
    auth = valid(
        config=OAUTH_CONFIG,
        auth={**REFRESH, "access_token_field": "crm_token", "expires_at_field": "crm_expiry"},
    ).auth
    assert isinstance(auth, OAuth2RefreshToken)
    assert (auth.access_token_field, auth.expires_at_field) == ("crm_token", "crm_expiry")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"access_token_field": "not a name"}, "auth.access_token_field"),
        ({"access_token_field": "t", "expires_at_field": "t"}, "auth.expires_at_field"),
        ({"access_token_field": "refresh_token"}, "auth.refresh_token"),
        ({"expires_at_field": "refresh_token"}, "auth.refresh_token"),
    ],
)
def test_refresh_token_storage_keys_must_be_distinct_names(
    options: dict[str, str], field: str
) -> None:
    assert refused(config=OAUTH_CONFIG, auth={**REFRESH, **options}).field == field


@pytest.mark.parametrize(
    ("auth", "used_in"),
    [
        ({"type": "bearer", "token": "{config.account}"}, "auth.token"),
        (
            {"type": "api_key", "in": "header", "name": "X-Key", "value": "k-{config.account}"},
            "auth.value",
        ),
        (
            {"type": "basic", "username": "{config.api_key}", "password": "{config.account}"},
            "auth.password",
        ),
        (
            {
                "type": "oauth2_client_credentials",
                "token_url": "https://auth.example/token",
                "client_id": "{config.api_key}",
                "client_secret": "{config.account}",
            },
            "auth.client_secret",
        ),
        ({**REFRESH, "refresh_token": "{config.account}"}, "auth.refresh_token"),
        ({**REFRESH, "access_token_field": "account"}, "auth.access_token_field"),
    ],
    ids=["bearer", "api_key", "basic", "client_credentials", "refresh_token", "access_token"],
)
def test_a_credential_in_a_config_field_not_declared_secret_is_refused(
    auth: dict[str, Any], used_in: str
) -> None:
    config = [*OAUTH_CONFIG, {"name": "api_key", "secret": True}, {"name": "account"}]
    error = refused(config=config, auth=auth)
    assert error.field == f"config.{len(config) - 1}.secret"  # `account`, the last one
    assert "'account'" in error.detail
    assert used_in in error.detail


def test_what_is_not_a_secret_may_be_plain() -> None:
    # A user name, a client id and a token URL identify; they do not authenticate.
    valid(auth={"type": "basic", "username": "{config.account}", "password": "{config.api_key}"})
    valid(
        config=[*OAUTH_CONFIG, {"name": "account"}],
        auth={**REFRESH, "client_id": "{config.account}", "token_url": "{config.base_url}/t"},
    )


# --- hooks ------------------------------------------------------------------------------


def test_hooks_name_a_module_in_the_hooks_package() -> None:
    assert valid(hooks="interlink.elements.hooks.acme").hooks == "interlink.elements.hooks.acme"
    assert valid(hooks="interlink.elements.hooks.acme.v2").hooks is not None


@pytest.mark.parametrize(
    "module",
    [
        "os",
        "acme_hooks",
        "interlink.elements.hooks",
        "interlink.elements.hooksevil",
        "interlink.elements.hooks.",
        "interlink.elements.hooks..acme",
        "interlink.elements.hooks.acme; import os",
        "interlink.vendor.hooks",
    ],
)
def test_hooks_anywhere_else_are_refused(module: str) -> None:
    error = refused(hooks=module)
    assert error.field == "hooks"
    assert "interlink.elements.hooks" in error.detail


# --- native bulk ingest -------------------------------------------------------------------

INGEST: dict[str, Any] = {
    "start": {"method": "POST", "path": "/jobs/ingest"},
    "operations": {"create": "insert", "upsert": "upsert"},
    "upload": {"method": "PUT", "path": "/jobs/ingest/{ingest_id}/batches"},
    "close": {"method": "PATCH", "path": "/jobs/ingest/{ingest_id}"},
    "status": {"path": "/jobs/ingest/{ingest_id}"},
    "successful_results": {"path": "/jobs/ingest/{ingest_id}/successfulResults/"},
    "failed_results": {"path": "/jobs/ingest/{ingest_id}/failedResults/"},
}


def test_bulk_ingest_defaults_to_salesforces_conventions() -> None:
    ingest = valid(contacts={"bulk_ingest": INGEST}).objects["contacts"].bulk_ingest
    assert ingest is not None
    assert (ingest.id_column, ingest.created_column, ingest.error_column) == (
        "sf__Id",
        "sf__Created",
        "sf__Error",
    )
    assert (ingest.min_rows, ingest.max_rows, ingest.null_value) == (2000, 10_000, "#N/A")
    assert ingest.unprocessed_results is None
    assert ingest.close_body == {"state": "UploadComplete"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"operations": {"merge": "merge"}}, "objects.contacts.bulk_ingest.operations.merge.[key]"),
        ({"min_rows": 0}, "objects.contacts.bulk_ingest.min_rows"),
        ({"max_rows": 0}, "objects.contacts.bulk_ingest.max_rows"),
        ({"max_bytes": 10}, "objects.contacts.bulk_ingest.max_bytes"),
        ({"poll_interval_seconds": 0}, "objects.contacts.bulk_ingest.poll_interval_seconds"),
        (
            {"upload": {"path": "/jobs/{export_id}/batches"}},
            "objects.contacts.bulk_ingest.upload.path",
        ),
        ({"start": {"path": "/jobs/{ingest_id}"}}, "objects.contacts.bulk_ingest.start.path"),
        ({"external_id_key": None}, "objects.contacts.bulk_ingest.external_id_key"),
        ({"error_column": "sf__Id"}, "objects.contacts.bulk_ingest.error_column"),
        ({"failed_results": None}, "objects.contacts.bulk_ingest.failed_results"),
        ({"lineEnding": "LF"}, "objects.contacts.bulk_ingest.lineEnding"),
    ],
)
def test_bulk_ingest_refusals_name_the_field(change: dict[str, Any], field: str) -> None:
    error = refused(contacts={"bulk_ingest": {**INGEST, **change}})
    assert error.field == field


def test_salesforce_declares_bulk_ingest_for_its_three_objects() -> None:
    element = builtin_elements()["salesforce"]
    for name in ("Account", "Contact", "Opportunity"):
        ingest = element.objects[name].bulk_ingest
        assert ingest is not None, name
        assert set(ingest.operations) == {"create", "update", "upsert", "delete"}
        assert ingest.operations["create"] == "insert"
        assert ingest.body == {"contentType": "CSV", "lineEnding": "LF"}
