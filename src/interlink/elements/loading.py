"""Read a definition document (YAML or JSON) into a validated `ElementDefinition`.

Validation errors name the field by its dotted path and, for YAML text, its line.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from interlink.elements.definition import ElementDefinition
from interlink.errors import InvalidInput


class InvalidDefinition(InvalidInput):
    """A definition document that does not describe a usable element."""


def parse_document(text: str) -> dict[str, Any]:
    """YAML is a superset of JSON, so one parser reads both."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidDefinition(f"definition is not valid YAML or JSON{where}") from exc
    if not isinstance(document, dict):
        raise InvalidDefinition("a definition must be a mapping (an object)")
    return document


def validate_definition(
    document: dict[str, Any], *, source: str | None = None
) -> ElementDefinition:
    try:
        return ElementDefinition.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _document_path(document, first["loc"])
        path = ".".join(str(part) for part in loc) or "definition"
        line = _line_of(source, loc) if source else None
        where = f" (line {line})" if line else ""
        raise InvalidDefinition(f"{path}{where}: {_message(first)}", field=path) from exc


def load_definition(text: str) -> ElementDefinition:
    return validate_definition(parse_document(text), source=text)


def _message(error: ErrorDetails) -> str:
    """The rule's own words, without pydantic's "Value error, " in front of them."""
    cause = (error.get("ctx") or {}).get("error")
    if error["type"] == "value_error" and isinstance(cause, ValueError):
        return str(cause)
    return error["msg"]


def _document_path(document: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the union tags pydantic adds (`pagination.cursor.page_size`), keep real keys."""
    path: list[int | str] = []
    node = document
    for part in loc:
        in_mapping = isinstance(node, dict) and part in node
        in_sequence = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_mapping or in_sequence:
            node = node[part]
        elif isinstance(node, dict) and node.get("type") == part:
            continue
        else:
            node = None
        path.append(part)
    return tuple(path)


def _line_of(source: str, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the node at `loc`, or of its nearest existing parent."""
    try:
        node: Any = yaml.compose(source)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            key = next((k for k, _ in node.value if k.value == str(part)), None)
            if match is None:
                break
            node, line = match, key.start_mark.line + 1 if key is not None else line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
