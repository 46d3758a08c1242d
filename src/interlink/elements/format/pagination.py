"""How an element pages through a listing: cursor, Link header, page number, offset, next URL,
last id."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    Field,
    model_validator,
)

from interlink.elements.format.base import (
    Strict,
    invalid,
)

# --- pagination -------------------------------------------------------------------------


class PageSize(Strict):
    limit_param: str | None = "limit"
    page_size: int = Field(default=100, ge=1, le=10_000)


class CursorPagination(PageSize):
    """The body names the next cursor; the client sends it back as a parameter."""

    type: Literal["cursor"]
    cursor_param: str = "cursor"
    cursor_path: str = "next_cursor"


class LinkHeaderPagination(PageSize):
    """RFC 8288 `Link: <…>; rel="next"`."""

    type: Literal["link_header"]
    rel: str = "next"


class CountedPagination(PageSize):
    """Positions Interlink computes (page numbers, offsets), so nothing in the position
    itself says where the listing ends. In order, another page follows when:

    1. `has_more_path` or `total_path` is given: the vendor says so (one of them, not both);
    2. else, with `stop_on_short_page`: the page was full;
    3. else: the page was not empty. Stopping at the first short page loses records when
       the vendor caps its page size below ours, and vendors rarely say they do; one extra
       request at the end of every listing is the price of never losing a record.
    """

    has_more_path: str | None = Field(
        default=None,
        description=(
            "dotted path to a boolean in the body, true while another page follows; "
            "when given it alone decides"
        ),
    )
    total_path: str | None = Field(
        default=None,
        description=(
            "dotted path to the total number of records in the body; another page follows "
            "while fewer have been read; when given it alone decides"
        ),
    )
    stop_on_short_page: bool = Field(
        default=False,
        description=(
            "without has_more_path and total_path: a page shorter than page_size is the "
            "last. Only for vendors that never cap page sizes; by default only an empty "
            "page ends the listing (one more request, no record ever lost)"
        ),
    )

    @model_validator(mode="after")
    def _one_way_to_end(self) -> Self:
        if self.has_more_path and self.total_path:
            raise invalid(
                ("total_path",),
                "give has_more_path or total_path, not both: one of them decides",
                self.total_path,
            )
        if self.stop_on_short_page and (self.has_more_path or self.total_path):
            raise invalid(
                ("stop_on_short_page",),
                "stop_on_short_page applies only without has_more_path and total_path",
                self.stop_on_short_page,
            )
        return self


class PageNumberPagination(CountedPagination):
    type: Literal["page_number"]
    page_param: str = "page"
    first_page: int = 1


class OffsetPagination(CountedPagination):
    type: Literal["offset"]
    offset_param: str = "offset"


class NextUrlPagination(PageSize):
    """The body carries the full URL of the next page."""

    type: Literal["next_url"]
    next_url_path: str = "next"


class LastIdPagination(PageSize):
    """The next page starts after the last record of this one: its id goes back as a
    parameter (Stripe's `starting_after`) while the body says more follow."""

    type: Literal["last_id"]
    cursor_param: str = Field(
        default="starting_after",
        description="the parameter naming the record the next page starts after",
    )
    id_path: str = Field(
        default="id",
        description="dotted path to the id in a record of the page, as the vendor sends it",
    )
    has_more_path: str = Field(
        default="has_more",
        description="dotted path to a boolean in the body, true while another page follows",
    )


class NoPagination(Strict):
    type: Literal["none"]


Pagination = Annotated[
    CursorPagination
    | LinkHeaderPagination
    | PageNumberPagination
    | OffsetPagination
    | NextUrlPagination
    | LastIdPagination
    | NoPagination,
    Field(discriminator="type"),
]
