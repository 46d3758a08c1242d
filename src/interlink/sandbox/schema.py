"""The sandbox's objects, their fields, and the checks a write must pass."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from interlink.sandbox.errors import BadRequest, ValidationFailed

# Set by the sandbox on every record; a write may carry them (a record sent back as it was
# read) and they are ignored, as most CRMs ignore system properties.
READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at"})


@dataclass(frozen=True)
class ObjectSchema:
    """One object type: its plain fields with their types, and its rules."""

    name: str  # plural, as in the URL: "contacts"
    singular: str  # as in event types: "contact.created"
    id_prefix: str
    fields: Mapping[str, type]  # str or int; every field may be null
    unique_fields: tuple[str, ...] = ()  # indexed by value, answering 409 when taken
    check: Callable[[Mapping[str, Any]], None] = lambda record: None

    def clean(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The writable fields of `values`, type-checked; 422 naming an unknown field."""
        cleaned: dict[str, Any] = {}
        for field, value in values.items():
            if field in READ_ONLY_FIELDS:
                continue
            expected = self.fields.get(field)
            if expected is None:
                raise ValidationFailed(f"unknown field '{field}' on {self.name}", field=field)
            if value is not None and not _is_instance(value, expected):
                raise ValidationFailed(
                    f"field '{field}' must be {_TYPE_NAMES[expected]} or null", field=field
                )
            cleaned[field] = value
        return cleaned

    def filter_value(self, field: str, text: str) -> Any:
        """A query-string value converted to the field's type, for an equality filter."""
        if field == "id":
            return text
        expected = self.fields.get(field)
        if expected is None:
            raise BadRequest(f"unknown parameter '{field}' for {self.name}")
        if expected is int:
            try:
                return int(text)
            except ValueError:
                raise BadRequest(f"parameter '{field}' must be an integer") from None
        return text


_TYPE_NAMES: Mapping[type, str] = {str: "a string", int: "an integer"}


def _is_instance(value: Any, expected: type) -> bool:
    # bool is an int subclass in Python, but `true` is no employee count.
    if expected is int and isinstance(value, bool):
        return False
    return isinstance(value, expected)


def _check_contact(record: Mapping[str, Any]) -> None:
    email = record.get("email")
    if not isinstance(email, str) or not _looks_like_email(email):
        raise ValidationFailed("a contact needs an 'email' containing '@'", field="email")


def _looks_like_email(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    return bool(at and local and domain) and not any(char.isspace() for char in text)


def _check_company(record: Mapping[str, Any]) -> None:
    name = record.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("a company needs a 'name'", field="name")


CONTACTS = ObjectSchema(
    name="contacts",
    singular="contact",
    id_prefix="ct_",
    fields={
        "email": str,
        "first_name": str,
        "last_name": str,
        "phone": str,
        "title": str,
        "company_id": str,
        "lifecycle_stage": str,
    },
    unique_fields=("email",),
    check=_check_contact,
)

COMPANIES = ObjectSchema(
    name="companies",
    singular="company",
    id_prefix="co_",
    fields={"name": str, "domain": str, "industry": str, "employees": int},
    check=_check_company,
)

SCHEMAS: Mapping[str, ObjectSchema] = {schema.name: schema for schema in (CONTACTS, COMPANIES)}
