"""JSON in and out of the sandbox's HTTP API: request bodies, answers and error bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from interlink.sandbox.errors import BadRequest, SandboxError


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """An `application/json` answer, serialized with orjson (pages are the hot path)."""
    return Response(
        orjson.dumps(content),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def error_response(error: SandboxError, headers: Mapping[str, str] | None = None) -> Response:
    """`{"error": code, "message": text, …}` with the error's status."""
    return json_response(error.body(), error.status, headers)


async def read_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 if it is anything else."""
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadRequest("the body must be valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def optional_string(body: Mapping[str, Any], key: str) -> str | None:
    """`body[key]` if it is a string, None if absent or null; 400 for any other type."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"'{key}' must be a string")
    return value
