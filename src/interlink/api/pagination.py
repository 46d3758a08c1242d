"""List pages: `?limit=` (1-100, default 50), `?cursor=`, `{"data", "next_cursor"}`."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from fastapi import Query

from interlink.errors import InvalidInput


class PageParams:
    def __init__(
        self,
        limit: int = Query(50, ge=1, le=100, description="page size, 1-100"),
        cursor: str | None = Query(None, description="next_cursor of the previous page"),
    ) -> None:
        self.limit = limit
        self.cursor = cursor


def encode_cursor(state: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("cursor is not one this API handed out", field="cursor") from exc


def page(data: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"data": data, "next_cursor": next_cursor}
