"""Placeholders: two scopes, filled in one pass, path variables quoted as one segment."""

from __future__ import annotations

import pytest

from interlink.elements.templates import (
    Placeholder,
    parse,
    path_variables,
    placeholders,
    render,
    unknown_placeholders,
)
from interlink.errors import ConfigurationError, InvalidInput


def test_parse_tells_the_scopes_apart() -> None:
    assert parse("{config.base_url}/v1/{id}/{vars.x}/{config.a.b}") == [
        Placeholder("{config.base_url}", "config", "base_url"),
        Placeholder("{id}", "path", "id"),
        Placeholder("{vars.x}", "unknown", "vars.x"),
        Placeholder("{config.a.b}", "unknown", "config.a.b"),
    ]


def test_braces_around_what_is_not_a_name_are_text() -> None:
    template = '/search?q={"a": 1}&x={ id }&y={}&z={1st}'
    assert parse(template) == []
    assert render(template, {}) == template


def test_names_by_scope() -> None:
    template = "/{config.account}/exports/{export_id}/{config.account}"
    assert placeholders(template) == {"account"}
    assert path_variables(template) == {"export_id"}
    assert unknown_placeholders(template) == ["{export_id}"]
    assert unknown_placeholders(template, {"export_id"}) == []


def test_config_values_are_filled_as_they_are() -> None:
    assert render("{config.base_url}/v2", {"base_url": "https://x.example/a b"}) == (
        "https://x.example/a b/v2"
    )


def test_path_variables_are_quoted_as_one_segment() -> None:
    path = render("/contacts/{id}", {}, {"id": "../admin?x=1#y"})
    assert path == "/contacts/..%2Fadmin%3Fx%3D1%23y"


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_path_variables_that_would_move_the_path_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        render("/contacts/{id}", {}, {"id": value})
    assert caught.value.field == "id"


def test_one_pass_never_fills_a_filled_value_again() -> None:
    assert render("/{config.a}/{id}", {"a": "{id}"}, {"id": "7"}) == "/{id}/7"
    assert render("/{id}", {"id": "{config.a}"}, {"id": "{config.a}"}) == "/%7Bconfig.a%7D"


def test_a_missing_config_value_names_the_config_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        render("{config.base_url}", {"base_url": None})
    assert caught.value.field == "config.base_url"


def test_a_path_variable_the_caller_did_not_give_is_a_bug_not_a_literal() -> None:
    with pytest.raises(ConfigurationError, match=r"\{webhook_id\}"):
        render("/webhooks/{webhook_id}", {})
    with pytest.raises(ConfigurationError, match=r"unknown placeholder \{vars\.x\}"):
        render("/{vars.x}", {}, {"x": "1"})


def test_attributes_are_never_walked() -> None:
    # Why not str.format: `{config.__class__}` would reach into Python objects.
    assert render("{config.__class__}", {"__class__": "plain"}) == "plain"
    assert parse("{config.__class__.__init__}")[0].scope == "unknown"
