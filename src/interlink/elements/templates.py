"""Placeholders in definitions: `{config.name}` and `{name}` path variables.

Two scopes, nothing else:
- `{config.name}`: the instance's configuration (`base_url`, credentials, account ids).
  Filled as is, anywhere a definition takes a template.
- `{name}`: a path variable the caller supplies (`{id}`, `{export_id}`, `{webhook_id}`),
  only in request paths that take it. Quoted as one path segment, so a record id like
  `../admin` cannot reach another endpoint.

A regular expression rather than `str.format`: definitions may come from tenants, and
`str.format` would let `{config.__class__}` walk attributes. Both scopes are filled in one
pass, so a config value that happens to contain `{id}` is never filled a second time.
Braces around anything that is not a name (`{"a": 1}`, `{ id }`) are plain text.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from interlink.errors import ConfigurationError, InvalidInput

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")
CONFIG_SCOPE = "config"

Scope = Literal["config", "path", "unknown"]


@dataclass(frozen=True)
class Placeholder:
    """One `{…}` of a template: `text` as written, its scope, and the name inside it."""

    text: str
    scope: Scope
    name: str


def _placeholder(inner: str) -> Placeholder:
    scope, dot, name = inner.partition(".")
    if not dot:
        return Placeholder(f"{{{inner}}}", "path", inner)
    if scope == CONFIG_SCOPE and "." not in name:
        return Placeholder(f"{{{inner}}}", "config", name)
    return Placeholder(f"{{{inner}}}", "unknown", inner)  # `{vars.x}`, `{config.a.b}`


def parse(template: str) -> list[Placeholder]:
    """Every placeholder of `template`, in order."""
    return [_placeholder(match.group(1)) for match in PLACEHOLDER.finditer(template)]


def placeholders(template: str) -> set[str]:
    """The config field names a template refers to."""
    return {p.name for p in parse(template) if p.scope == "config"}


def path_variables(template: str) -> set[str]:
    """The path variables (`{id}`) a template needs from its caller."""
    return {p.name for p in parse(template) if p.scope == "path"}


def unknown_placeholders(template: str, allowed_path_variables: Collection[str] = ()) -> list[str]:
    """The placeholders of `template` that are neither config nor an allowed path variable."""
    return [
        p.text
        for p in parse(template)
        if p.scope == "unknown" or (p.scope == "path" and p.name not in allowed_path_variables)
    ]


def path_segment(name: str, value: Any) -> str:
    """`value` quoted into exactly one path segment."""
    text = str(value)
    if text in ("", ".", ".."):
        # Quoting keeps a value inside its segment; these would still move the path.
        raise InvalidInput(f"{text!r} is not a valid {name}", field=name)
    return quote(text, safe="")


def render(
    template: str,
    config: Mapping[str, Any],
    path_values: Mapping[str, Any] | None = None,
) -> str:
    """`template` with `{config.x}` from `config` and `{name}` from `path_values` (quoted).

    A definition is validated before use, so a placeholder without a value here is either
    configuration the instance lacks (`InvalidInput`, naming the config field) or a caller
    that did not pass a path variable (`ConfigurationError`).
    """

    def substitute(match: re.Match[str]) -> str:
        placeholder = _placeholder(match.group(1))
        if placeholder.scope == "config":
            value = config.get(placeholder.name)
            if value is None:
                raise InvalidInput(
                    f"missing value for config.{placeholder.name}",
                    field=f"config.{placeholder.name}",
                )
            return str(value)
        if placeholder.scope == "path":
            if path_values is None or path_values.get(placeholder.name) is None:
                raise ConfigurationError(f"no value given for the path variable {placeholder.text}")
            return path_segment(placeholder.name, path_values[placeholder.name])
        raise ConfigurationError(f"unknown placeholder {placeholder.text}")

    return PLACEHOLDER.sub(substitute, template)
