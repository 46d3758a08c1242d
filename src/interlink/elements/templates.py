"""`{config.name}` placeholders in definitions, filled from an instance's configuration.

A regular expression rather than `str.format`: definitions may come from tenants, and
`str.format` would let `{config.__class__}` walk attributes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interlink.errors import InvalidInput

PLACEHOLDER = re.compile(r"\{(config|vars)\.([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> set[str]:
    """The config field names a template refers to."""
    return {name for scope, name in PLACEHOLDER.findall(template) if scope == "config"}


def render(
    template: str, config: Mapping[str, Any], variables: Mapping[str, Any] | None = None
) -> str:
    def substitute(match: re.Match[str]) -> str:
        scope, name = match.group(1), match.group(2)
        source = config if scope == "config" else (variables or {})
        value = source.get(name)
        if value is None:
            raise InvalidInput(f"missing value for {scope}.{name}", field=f"config.{name}")
        return str(value)

    return PLACEHOLDER.sub(substitute, template)
