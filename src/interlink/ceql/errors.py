"""The one error CEQL raises: a query that cannot be accepted, saying where and why."""

from __future__ import annotations

from interlink.errors import InvalidInput

Position = tuple[int, int]
"""(line, column) of the offending fragment, both counted from 1."""

_FRAGMENT_LIMIT = 60


class CEQLError(InvalidInput):
    """A CEQL query or condition Interlink refuses; answered as 400.

    `position` and `fragment` locate the problem in the text the caller sent (either may be
    None when it cannot be pinned down, e.g. for an unknown field found after parsing).
    `field` is the request parameter that carried the query (`q` or `where`).
    """

    def __init__(
        self,
        detail: str,
        *,
        position: Position | None = None,
        fragment: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(detail, field=field)
        self.position = position
        self.fragment = fragment

    @classmethod
    def located(
        cls,
        reason: str,
        *,
        position: Position | None = None,
        fragment: str | None = None,
        field: str | None = None,
        explanation: str | None = None,
    ) -> CEQLError:
        """`reason at line L, column C near 'fragment': explanation`, minus what is unknown."""
        shown = _shorten(fragment) if fragment else None
        detail = reason + _where(position, shown)
        if explanation:
            detail += f": {explanation}"
        return cls(
            detail,
            position=position,
            fragment=shown,
            field=field,
        )


def _where(position: Position | None, fragment: str | None) -> str:
    text = ""
    if position is not None:
        text += f" at line {position[0]}, column {position[1]}"
    if fragment:
        text += f" near '{fragment}'"
    return text


def _shorten(fragment: str) -> str:
    # Messages end up in one-line JSON errors and logs: fold whitespace, bound the length.
    flat = " ".join(fragment.split())
    if len(flat) > _FRAGMENT_LIMIT:
        return flat[: _FRAGMENT_LIMIT - 1] + "…"
    return flat
