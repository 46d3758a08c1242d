"""The `authorize` section of `oauth2_refresh_token`: the authorization-code flow."""

from __future__ import annotations

import pytest
import yaml

from interlink.elements.definition import OAuth2RefreshToken
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
