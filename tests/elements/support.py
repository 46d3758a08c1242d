"""A small valid definition to vary, and a helper that says which field an error names."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from interlink.elements.definition import ElementDefinition
from interlink.elements.loading import InvalidDefinition, validate_definition

MINIMAL: dict[str, Any] = {
    "key": "acme",
    "name": "Acme CRM",
    "base_url": "{config.base_url}",
    "config": [
        {"name": "base_url", "type": "url"},
        {"name": "api_key", "secret": True},
        {"name": "account"},
    ],
    "auth": {"type": "bearer", "token": "{config.api_key}"},
    "objects": {"contacts": {"path": "/api/contacts"}},
}


def document(**sections: Any) -> dict[str, Any]:
    """`MINIMAL` with top-level sections replaced; `contacts=` replaces parts of that object."""
    result = copy.deepcopy(MINIMAL)
    contacts = sections.pop("contacts", None)
    result.update(copy.deepcopy(sections))
    if contacts is not None:
        result["objects"]["contacts"].update(copy.deepcopy(contacts))
    return result


def valid(**sections: Any) -> ElementDefinition:
    return validate_definition(document(**sections))


def refused(**sections: Any) -> InvalidDefinition:
    """The error of a definition that must not validate."""
    with pytest.raises(InvalidDefinition) as caught:
        validate_definition(document(**sections))
    return caught.value
