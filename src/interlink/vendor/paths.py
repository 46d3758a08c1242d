"""Dotted paths (`error.message`, `paging.next.after`) into decoded JSON bodies."""

from __future__ import annotations

from typing import Any

MISSING: Any = object()


def lookup(document: Any, path: str | None, default: Any = None) -> Any:
    """The value at `path`, or `default` where any step is absent; `None` path: the document.

    A step that is a number indexes a list (`results.0.id`), as vendors nest both.
    """
    if path is None or path == "":
        return document
    node = document
    for step in path.split("."):
        if isinstance(node, dict):
            if step not in node:
                return default
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return default
    return node
