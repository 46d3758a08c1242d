"""The element definition as a whole, and the rules that span its parts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from interlink.elements.format.auth import (
    ApiKeyAuth,
    Auth,
    BearerAuth,
    NoAuth,
    OAuth2RefreshToken,
)
from interlink.elements.format.base import (
    HOOKS_PACKAGE,
    ConfigField,
    ConfigTemplate,
    Loc,
    Strict,
    invalid,
    is_hooks_module,
)
from interlink.elements.format.behaviour import ErrorMapping, Polling, RateLimit, RetryPolicy
from interlink.elements.format.objects import (
    ObjectDefinition,
)
from interlink.elements.format.pagination import (
    NoPagination,
    Pagination,
)
from interlink.elements.format.webhooks import (
    Webhooks,
)
from interlink.elements.templates import placeholders

# --- the element ------------------------------------------------------------------------

# Headers an element may not set: auth sets its own, and the rest belong to HTTP itself.
_RESERVED_HEADERS = frozenset(
    {"authorization", "host", "content-length", "transfer-encoding", "connection", "cookie"}
)


class ElementDefinition(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,62}$")
    name: str
    description: str | None = None
    base_url: ConfigTemplate = Field(description="template, e.g. '{config.base_url}'")
    config: list[ConfigField] = Field(default_factory=list)
    auth: Auth = Field(default_factory=lambda: NoAuth(type="none"))
    headers: dict[str, ConfigTemplate] = Field(
        default_factory=dict,
        description=(
            "headers sent with every request to the vendor (e.g. an API version); "
            "values may hold {config.…} placeholders"
        ),
    )
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

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if name.strip().lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by Interlink itself, not by elements")
        return headers

    @field_validator("objects")
    @classmethod
    def _object_names(cls, objects: dict[str, ObjectDefinition]) -> dict[str, ObjectDefinition]:
        for name in objects:
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"object name {name!r} must be letters, digits, - or _")
        owners: dict[str, str] = {}
        for name, obj in objects.items():
            for index, alias in enumerate(obj.aliases):
                where = f"{name}.aliases.{index}"
                if not alias or not alias.replace("_", "").replace("-", "").isalnum():
                    raise ValueError(f"{where}: alias {alias!r} must be letters, digits, - or _")
                if alias in objects:
                    raise ValueError(f"{where}: alias {alias!r} is the name of an object")
                if alias in owners:
                    raise ValueError(
                        f"{where}: alias {alias!r} is already an alias of {owners[alias]!r}"
                    )
                owners[alias] = name
        return objects

    def object_name(self, name: str) -> str | None:
        """The object's own name for `name`, which may be one of its aliases; `None` when
        the element has no such object."""
        if name in self.objects:
            return name
        for own, obj in self.objects.items():
            if name in obj.aliases:
                return own
        return None

    def find_object(self, name: str) -> ObjectDefinition | None:
        """The object named `name` or aliased so."""
        own = self.object_name(name)
        return None if own is None else self.objects[own]

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
        if isinstance(self.auth, BearerAuth | ApiKeyAuth) and self.auth.authorize is not None:
            for name in sorted(placeholders(self.auth.authorize.client_secret)):
                used_in.setdefault(name, "auth.authorize.client_secret")
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
