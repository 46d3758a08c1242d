"""RFC 9457 problem details: every error the API answers has this one shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from interlink.ceql import CEQLError
from interlink.errors import Conflict, InterlinkError, InvalidInput, NotFound, PayloadTooLarge

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error answer raised from a route; turned into problem+json by the handler."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({key: value for key, value in extra.items() if value is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = list(exc.errors())
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            context = first.get("ctx")
            position = context.get("error") if isinstance(context, dict) else None
            return problem_response(
                400, "Malformed JSON", f"the body is not valid JSON: {position}", field="body"
            )
        field = ".".join(str(part) for part in first["loc"] if part != "body") or None
        return problem_response(
            422,
            "Invalid request",
            f"{field}: {first['msg']}" if field else str(first["msg"]),
            field=field,
            errors=[
                {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
                for e in errors
            ],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(exc.status_code, title, str(exc.detail), headers=headers)

    @app.exception_handler(InterlinkError)
    async def _domain(_: Request, exc: InterlinkError) -> JSONResponse:
        if isinstance(exc, NotFound):
            return problem_response(404, "Not found", str(exc))
        if isinstance(exc, CEQLError):
            return problem_response(
                400,
                "Invalid query",
                exc.detail,
                field=exc.field,
                position={"line": exc.position[0], "column": exc.position[1]}
                if exc.position
                else None,
            )
        if isinstance(exc, InvalidInput):
            return problem_response(422, "Invalid input", exc.detail, field=exc.field)
        if isinstance(exc, Conflict):
            return problem_response(409, "Conflict", str(exc))
        if isinstance(exc, PayloadTooLarge):
            return problem_response(413, "Payload too large", exc.detail, limit=exc.limit)
        return problem_response(500, "Internal error", "an unexpected error happened")
