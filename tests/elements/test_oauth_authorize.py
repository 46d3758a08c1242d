"""The `authorize` section of `oauth2_refresh_token`, `bearer` and `api_key`: the
authorization-code flow."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from interlink.elements.definition import ApiKeyAuth, BearerAuth, OAuth2RefreshToken, code_flow
from interlink.elements.loading import InvalidDefinition, load_definition
from tests.simulators.oauth_vendor import element_yaml


def test_the_authorize_section_is_read() -> None:
    definition = load_definition(element_yaml())
    assert isinstance(definition.auth, OAuth2RefreshToken)
    authorize = definition.auth.authorize
    assert authorize is not None
    assert authorize.pkce is True
    assert authorize.scopes == ["contacts.read", "offline_access"]
    assert authorize.params == {"prompt": "consent"}


def test_refresh_token_elements_without_authorize_are_unchanged() -> None:
    document = yaml.safe_load(element_yaml())
    del document["auth"]["authorize"]
    definition = load_definition(yaml.safe_dump(document))
    assert isinstance(definition.auth, OAuth2RefreshToken)
    assert definition.auth.authorize is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"params": {"state": "fixed"}}, "state"),
        ({"url": "{config.nowhere}/authorize"}, "nowhere"),
        ({"pkce": "sometimes"}, "pkce"),
    ],
)
def test_invalid_authorize_sections_name_the_field(change: dict[str, object], field: str) -> None:
    document = yaml.safe_load(element_yaml())
    document["auth"]["authorize"].update(change)
    with pytest.raises(InvalidDefinition) as raised:
        load_definition(yaml.safe_dump(document))
    assert field in str(raised.value)


def test_with_authorize_the_refresh_token_needs_a_config_field_of_its_own() -> None:
    document = yaml.safe_load(element_yaml())
    document["auth"]["refresh_token"] = "rt-{config.refresh_token}"
    with pytest.raises(InvalidDefinition) as raised:
        load_definition(yaml.safe_dump(document))
    assert "refresh_token" in str(raised.value)


# --- bearer and api_key: one access token, no refresh token ---------------------------------

BEARER_YAML = """\
key: tokencrm
name: Token CRM
base_url: "{config.base_url}"
config:
  - {name: base_url, type: url}
  - {name: client_id, required: false}
  - {name: client_secret, secret: true, required: false}
  - {name: token, secret: true}
auth:
  type: bearer
  token: "{config.token}"
  authorize:
    url: "{config.base_url}/login/oauth/authorize"
    token_url: "{config.base_url}/login/oauth/access_token"
    client_id: "{config.client_id}"
    client_secret: "{config.client_secret}"
    scopes: [repo]
objects:
  contacts: {path: /contacts}
"""


def bearer_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(BEARER_YAML)
    return document


def test_a_bearer_auth_takes_an_authorize_section_with_its_token_endpoint() -> None:
    definition = load_definition(BEARER_YAML)
    assert isinstance(definition.auth, BearerAuth)
    flow = code_flow(definition.auth)
    assert flow is not None
    assert flow.token_url == "{config.base_url}/login/oauth/access_token"
    assert flow.access_token_field == "token"
    assert flow.refresh_token_field is None
    assert flow.stored_field == "token"
    assert flow.vendor_fields == ("token",)


def test_an_api_key_auth_takes_an_authorize_section_too() -> None:
    document = bearer_document()
    authorize = document["auth"]["authorize"]
    document["auth"] = {
        "type": "api_key",
        "in": "header",
        "name": "X-Access-Token",
        "value": "{config.token}",
        "authorize": {**authorize, "scope_separator": ",", "callback_signature": "shopify"},
    }
    definition = load_definition(yaml.safe_dump(document))
    assert isinstance(definition.auth, ApiKeyAuth)
    flow = code_flow(definition.auth)
    assert flow is not None
    assert flow.access_token_field == "token"
    assert flow.authorize.callback_signature == "shopify"


def test_without_authorize_bearer_and_api_key_are_unchanged() -> None:
    document = bearer_document()
    del document["auth"]["authorize"]
    definition = load_definition(yaml.safe_dump(document))
    assert isinstance(definition.auth, BearerAuth)
    assert definition.auth.authorize is None
    assert code_flow(definition.auth) is None


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        ({"type": "bearer", "token": "tok-{config.token}"}, "auth.token"),
        (
            {"type": "api_key", "name": "X-Key", "value": "{config.token}{config.client_id}"},
            "auth.value",
        ),
    ],
)
def test_with_authorize_the_token_template_must_be_one_config_field(
    auth: dict[str, Any], field: str
) -> None:
    document = bearer_document()
    document["auth"] = {**auth, "authorize": document["auth"]["authorize"]}
    with pytest.raises(InvalidDefinition) as raised:
        load_definition(yaml.safe_dump(document))
    message = str(raised.value)
    assert field in message
    assert "exactly one config field" in message


@pytest.mark.parametrize("missing", ["token_url", "client_id", "client_secret"])
def test_a_bearer_authorize_section_needs_its_token_endpoint_and_client(missing: str) -> None:
    document = bearer_document()
    del document["auth"]["authorize"][missing]
    with pytest.raises(InvalidDefinition) as raised:
        load_definition(yaml.safe_dump(document))
    assert missing in str(raised.value)


def test_a_refresh_token_authorize_section_takes_no_token_endpoint_of_its_own() -> None:
    document = yaml.safe_load(element_yaml())
    document["auth"]["authorize"]["token_url"] = "{config.base_url}/elsewhere"
    with pytest.raises(InvalidDefinition) as raised:
        load_definition(yaml.safe_dump(document))
    assert "token_url" in str(raised.value)


def test_the_authorize_client_secret_must_be_a_secret_field() -> None:
    document = bearer_document()
    document["config"][2]["secret"] = False
    with pytest.raises(InvalidDefinition) as raised:
        load_definition(yaml.safe_dump(document))
    assert "auth.authorize.client_secret" in str(raised.value)
