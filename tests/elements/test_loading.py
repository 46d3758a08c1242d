"""Reading definition documents: YAML or JSON, errors by dotted path and line; the catalog."""

from __future__ import annotations

import json

import pytest
import yaml

from interlink.elements.catalog import builtin_elements, check_custom
from interlink.elements.definition import (
    BearerAuth,
    CursorPagination,
    DeletedEndpoint,
    ElementDefinition,
)
from interlink.elements.loading import InvalidDefinition, load_definition, parse_document

YAML = """\
key: tickets
name: Ticket Desk
base_url: "{config.base_url}"
config:
  - {name: base_url, type: url}
  - {name: token, secret: true}
auth: {type: bearer, token: "{config.token}"}
pagination:
  type: page_number
  page_size: 50
  total_path: meta.total
objects:
  tickets:
    path: /tickets
    records_path: items
    updated_field: {name: modified, format: unix}
    changed_since: {param: modified_after, format: unix}
    deletes:
      type: endpoint
      path: /tickets/deleted
      since_param: since
      deleted_at_format: unix_ms
"""


def refusal(text: str) -> InvalidDefinition:
    with pytest.raises(InvalidDefinition) as caught:
        load_definition(text)
    return caught.value


def test_yaml_and_the_same_document_in_json_give_the_same_definition() -> None:
    from_yaml = load_definition(YAML)
    from_json = load_definition(json.dumps(yaml.safe_load(YAML), indent=2))
    assert from_yaml == from_json
    assert from_yaml.pagination.type == "page_number"
    deletes = from_yaml.objects["tickets"].deletes
    assert isinstance(deletes, DeletedEndpoint)
    assert deletes.deleted_at_format == "unix_ms"


def test_an_unknown_key_is_named_with_its_dotted_path_and_line() -> None:
    error = refusal(YAML.replace("records_path: items", "records_pth: items"))
    assert error.field == "objects.tickets.records_pth"
    assert error.detail.startswith("objects.tickets.records_pth (line 15): ")
    assert "Extra inputs are not permitted" in error.detail


def test_a_new_fields_error_carries_its_line() -> None:
    error = refusal(YAML.replace("deleted_at_format: unix_ms", "deleted_at_format: millis"))
    assert error.field == "objects.tickets.deletes.deleted_at_format"
    assert "(line 22)" in error.detail


def test_a_union_members_field_is_named_without_the_tag_and_with_its_line() -> None:
    error = refusal(YAML.replace("  page_size: 50", "  page_size: 0"))
    assert error.field == "pagination.page_size"
    assert "(line 10)" in error.detail


def test_a_rule_over_several_fields_names_the_one_to_fix() -> None:
    text = YAML.replace("  total_path: meta.total", "  total_path: meta.total\n  has_more_path: m")
    error = refusal(text)
    assert error.field == "pagination.total_path"
    assert "(line 11)" in error.detail
    assert "not both" in error.detail


def test_a_credential_kept_in_plain_config_names_the_config_entry_and_line() -> None:
    error = refusal(YAML.replace("{name: token, secret: true}", "{name: token}"))
    assert error.field == "config.1.secret"
    assert error.detail.startswith("config.1.secret (line 6): config field 'token'")


def test_messages_are_the_rules_own_words() -> None:
    error = refusal(YAML.replace("    updated_field: {name: modified, format: unix}\n", ""))
    assert error.field == "objects.tickets.changed_since"
    assert "Value error" not in error.detail
    assert "changed_since needs updated_field" in error.detail


def test_undeclared_config_placeholder() -> None:
    error = refusal(YAML.replace("{config.token}", "{config.missing}"))
    assert error.field == "definition"
    assert "auth.token uses config fields not declared in config: ['missing']" in error.detail


def test_json_errors_name_the_field_without_a_line_guess_gone_wrong() -> None:
    document = yaml.safe_load(YAML)
    document["objects"]["tickets"]["pagination"] = {"type": "offset", "page_size": -1}
    error = refusal(json.dumps(document))
    assert error.field == "objects.tickets.pagination.page_size"


@pytest.mark.parametrize("text", ["key: [unclosed", "- a list", "42", ""])
def test_documents_that_are_not_a_mapping(text: str) -> None:
    with pytest.raises(InvalidDefinition):
        parse_document(text)


def test_a_yaml_syntax_error_says_where() -> None:
    with pytest.raises(InvalidDefinition, match="line 1, column"):
        parse_document("key: [unclosed")


def test_the_sandbox_element_loads_with_everything_it_uses() -> None:
    sandbox = builtin_elements()["sandbox"]
    assert isinstance(sandbox.auth, BearerAuth)
    assert isinstance(sandbox.pagination, CursorPagination)
    assert sandbox.secret_fields == {"api_key"}
    contacts = sandbox.objects["contacts"]
    assert isinstance(contacts.deletes, DeletedEndpoint)
    assert contacts.deletes.deleted_at_format == "rfc3339"
    assert contacts.bulk_export is not None
    assert contacts.bulk_export.status.path == "/api/exports/{export_id}"
    assert sandbox.webhooks is not None
    assert sandbox.webhooks.registration is not None
    assert sandbox.webhooks.registration.delete.path == "/api/webhooks/{webhook_id}"


def test_stored_definitions_validate_again() -> None:
    # Custom elements are stored as `model_dump(exclude_unset=True)` and read back later.
    for definition in [*builtin_elements().values(), load_definition(YAML)]:
        stored = definition.model_dump(mode="json", by_alias=True, exclude_unset=True)
        assert ElementDefinition.model_validate(stored) == definition


def test_custom_elements_carry_no_code_even_in_the_hooks_package() -> None:
    definition = load_definition(YAML + "hooks: interlink.elements.hooks.tickets\n")
    with pytest.raises(InvalidDefinition) as caught:
        check_custom(definition)
    assert caught.value.field == "hooks"


def test_the_published_schema_describes_every_new_field() -> None:
    schema = ElementDefinition.model_json_schema(by_alias=True)["$defs"]
    new_fields = {
        "PageNumberPagination": ["has_more_path", "total_path", "stop_on_short_page"],
        "OffsetPagination": ["has_more_path", "total_path", "stop_on_short_page"],
        "DeletedEndpoint": ["deleted_at_format"],
        "BatchEndpoint": ["success_statuses", "result_error_path"],
        "OAuth2RefreshToken": ["access_token_field", "expires_at_field"],
    }
    for model, fields in new_fields.items():
        for field in fields:
            assert schema[model]["properties"][field].get("description"), f"{model}.{field}"
