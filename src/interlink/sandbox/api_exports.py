"""HTTP endpoints of native bulk export: start, status, and the NDJSON file."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from interlink.sandbox.errors import BadRequest
from interlink.sandbox.exports import ExportService
from interlink.sandbox.timestamps import parse_timestamp
from interlink.sandbox.wire import json_response, optional_string, read_object


def export_routes(exports: ExportService) -> list[BaseRoute]:
    """`POST /api/exports`, `GET /api/exports/{id}`, `GET /api/exports/{id}/file`."""

    async def create_export(request: Request) -> Response:
        body = await read_object(request)
        object_name = optional_string(body, "object")
        if object_name is None:
            raise BadRequest("'object' is required")
        updated_since = optional_string(body, "updated_since")
        if updated_since is not None:
            parse_timestamp(updated_since, parameter="updated_since")  # 400 before the 202
        export = exports.create(object_name, updated_since)
        return json_response(export.public(), 202)

    async def get_export(request: Request) -> Response:
        return json_response(exports.get(request.path_params["export_id"]).public())

    async def export_file(request: Request) -> Response:
        export_id = request.path_params["export_id"]
        path = exports.file(export_id)
        return FileResponse(path, media_type="application/x-ndjson", filename=f"{export_id}.ndjson")

    return [
        Route("/api/exports", create_export, methods=["POST"]),
        Route("/api/exports/{export_id}", get_export, methods=["GET"]),
        Route("/api/exports/{export_id}/file", export_file, methods=["GET"]),
    ]
