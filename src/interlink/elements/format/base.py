"""Shared pieces of the definition format: strict models, time formats, templates, config fields."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from interlink.elements.templates import unknown_placeholders

TimeFormat = Literal["rfc3339", "unix", "unix_ms"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Change = Literal["created", "updated", "deleted"]
Loc = tuple[int | str, ...]

# Where the Python hooks of built-in elements live; nothing else is ever imported.
HOOKS_PACKAGE = "interlink.elements.hooks"
_MODULE_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_CONFIG_NAME = rf"^{_MODULE_NAME}$"


def is_hooks_module(module_path: str) -> bool:
    """`interlink.elements.hooks.acme`: a module inside the hooks package, never the package."""
    return re.fullmatch(rf"{re.escape(HOOKS_PACKAGE)}(\.{_MODULE_NAME})+", module_path) is not None


def invalid(loc: Loc, message: str, value: Any) -> ValidationError:
    """A validation error at `loc` below the model being validated.

    Raised from a validator, pydantic prefixes `loc` with where that model sits, so a rule
    checked on a whole model can still name the one field to fix.
    """
    error = PydanticCustomError("definition", message)
    return ValidationError.from_exception_data(
        "ElementDefinition", [InitErrorDetails(type=error, loc=loc, input=value)]
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- templates --------------------------------------------------------------------------


def _placeholder_error(message: str) -> PydanticCustomError:
    # No context: pydantic would otherwise fill `{…}` in the message from it.
    return PydanticCustomError("placeholder", message)


def _check_template(template: str, path_variables: frozenset[str] = frozenset()) -> str:
    unknown = unknown_placeholders(template, path_variables)
    if unknown:
        takes = " and ".join([*(f"{{{name}}}" for name in sorted(path_variables)), "{config.…}"])
        raise _placeholder_error(f"unknown placeholder {unknown[0]}: this field takes {takes} only")
    return template


# A string filled from the instance's config only: `{config.x}` placeholders.
ConfigTemplate = Annotated[str, AfterValidator(_check_template)]


# --- instance configuration -------------------------------------------------------------


class ConfigField(Strict):
    """One setting an instance supplies; `secret` ones are encrypted and never returned."""

    name: str = Field(pattern=_CONFIG_NAME)
    type: Literal["string", "url", "integer", "boolean"] = "string"
    required: bool = True
    secret: bool = False
    default: str | int | bool | None = None
    description: str | None = None
