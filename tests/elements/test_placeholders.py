"""Which placeholders each field of a definition takes; anything else names its field."""

from __future__ import annotations

from typing import Any

import pytest

from interlink.elements.definition import Request

from .support import refused, valid

EXPORT: dict[str, Any] = {
    "start": {"method": "POST", "path": "/exports"},
    "status": {"path": "/exports/{export_id}"},
    "download": {"path": "/exports/{export_id}/file"},
}
WEBHOOKS: dict[str, Any] = {
    "signature": {"scheme": "hmac", "signed_payload": "{timestamp}.{body}"},
    "events": {"objects": {"contact": "contacts"}, "changes": {"created": "created"}},
    "registration": {
        "create": {"method": "POST", "path": "/{config.account}/webhooks"},
        "delete": {"method": "DELETE", "path": "/{config.account}/webhooks/{webhook_id}"},
    },
}


def test_each_path_takes_its_own_variables() -> None:
    definition = valid(
        contacts={
            "get": {"path": "/api/{config.account}/contacts/{id}"},
            "update": {"method": "PUT", "path": "/api/contacts/{id}"},
            "delete": {"method": "DELETE", "path": "/api/contacts/{id}/remove"},
            "bulk_export": EXPORT,
        },
        webhooks=WEBHOOKS,
    )
    contacts = definition.objects["contacts"]
    assert contacts.get_request().path == "/api/{config.account}/contacts/{id}"
    assert contacts.bulk_export is not None
    assert definition.webhooks is not None
    # `{timestamp}` and `{body}` belong to the signature scheme's own template, not ours.
    assert definition.webhooks.signature.signed_payload == "{timestamp}.{body}"


def test_the_default_record_requests_use_id() -> None:
    contacts = valid().objects["contacts"]
    assert contacts.get_request().path == "/api/contacts/{id}"
    assert contacts.delete_request().path == "/api/contacts/{id}"


@pytest.mark.parametrize(
    ("sections", "field", "placeholder"),
    [
        ({"base_url": "{config.base_url}/{id}"}, "base_url", "{id}"),
        ({"contacts": {"path": "/api/{id}/contacts"}}, "objects.contacts.path", "{id}"),
        ({"contacts": {"list": {"path": "/c/{id}"}}}, "objects.contacts.list.path", "{id}"),
        (
            {"contacts": {"create": {"method": "POST", "path": "/c/{contact_id}"}}},
            "objects.contacts.create.path",
            "{contact_id}",
        ),
        (
            {"contacts": {"get": {"path": "/c/{record_id}"}}},
            "objects.contacts.get.path",
            "{record_id}",
        ),
        (
            {"contacts": {"update": {"method": "PATCH", "path": "/c/{export_id}"}}},
            "objects.contacts.update.path",
            "{export_id}",
        ),
        (
            {"contacts": {"list": {"path": "/c", "params": {"q": "{vars.q}"}}}},
            "objects.contacts.list.params.q",
            "{vars.q}",
        ),
        (
            {"contacts": {"get": {"path": "/c/{id}", "params": {"id": "{id}"}}}},
            "objects.contacts.get.params.id",
            "{id}",
        ),
        (
            {"contacts": {"bulk_export": {**EXPORT, "status": {"path": "/exports/{id}"}}}},
            "objects.contacts.bulk_export.status.path",
            "{id}",
        ),
        (
            {"contacts": {"bulk_export": {**EXPORT, "start": {"path": "/x/{export_id}"}}}},
            "objects.contacts.bulk_export.start.path",
            "{export_id}",
        ),
        (
            {
                "contacts": {
                    "batch": {"path": "/c/{config.account}/{action}", "actions": ["create"]}
                }
            },
            "objects.contacts.batch.path",
            "{action}",
        ),
        (
            {
                "contacts": {
                    "deletes": {"type": "endpoint", "path": "/{object}/deleted", "since_param": "s"}
                }
            },
            "objects.contacts.deletes.path",
            "{object}",
        ),
        (
            {
                "webhooks": {
                    **WEBHOOKS,
                    "registration": {
                        **WEBHOOKS["registration"],
                        "delete": {"method": "DELETE", "path": "/webhooks/{id}"},
                    },
                }
            },
            "webhooks.registration.delete.path",
            "{id}",
        ),
        ({"auth": {"type": "bearer", "token": "{token}"}}, "auth.token", "{token}"),
        ({"base_url": "{config.base_url.host}"}, "base_url", "{config.base_url.host}"),
    ],
)
def test_an_unknown_placeholder_names_its_field(
    sections: dict[str, Any], field: str, placeholder: str
) -> None:
    error = refused(**sections)
    assert error.field == field
    assert f"unknown placeholder {placeholder}" in error.detail


def test_an_undeclared_config_field_names_the_template_using_it() -> None:
    error = refused(auth={"type": "bearer", "token": "{config.token}"})
    # The error is the whole definition's (API clients rely on that field); the message
    # says which template uses which name.
    assert error.field == "definition"
    assert "auth.token" in error.detail
    assert "['token']" in error.detail


def test_undeclared_config_fields_are_caught_in_every_template() -> None:
    error = refused(contacts={"get": {"path": "/c/{id}", "params": {"a": "{config.nope}"}}})
    assert "objects.contacts.get.params.a" in error.detail


def test_a_request_built_in_code_may_use_any_path_variable() -> None:
    # The definition decides where each variable may appear; code passes its own values.
    assert Request(path="/things/{thing_id}").path == "/things/{thing_id}"
    with pytest.raises(ValueError, match=r"unknown placeholder \{vars\.x\}"):
        Request(path="/things/{vars.x}")
