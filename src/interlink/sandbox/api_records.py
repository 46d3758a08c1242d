"""HTTP endpoints of the records: list, get, create, patch, delete, deleted feed, batch."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from interlink.sandbox.batch import run_batch
from interlink.sandbox.collection import MAX_PAGE_SIZE, Collection, Page
from interlink.sandbox.errors import BadRequest
from interlink.sandbox.store import SandboxStore
from interlink.sandbox.wire import json_response, optional_string, read_object

_LIST_PARAMETERS = frozenset({"limit", "cursor", "updated_since"})
_DELETED_PARAMETERS = frozenset({"limit", "cursor", "since"})


def record_routes(store: SandboxStore) -> list[BaseRoute]:
    """The routes under `/api/{object}`; register them after the fixed `/api/...` paths."""

    def collection_of(request: Request) -> Collection:
        return store.collection(request.path_params["object_name"])

    async def list_records(request: Request) -> Response:
        collection = collection_of(request)
        params = request.query_params
        filters = {
            name: collection.schema.filter_value(name, value)
            for name, value in params.items()
            if name not in _LIST_PARAMETERS
        }
        page = collection.page(
            limit=_limit(params),
            cursor=params.get("cursor") or None,
            updated_since=params.get("updated_since"),
            filters=filters,
        )
        return _page_response(page)

    async def list_deleted(request: Request) -> Response:
        collection = collection_of(request)
        params = request.query_params
        for name in params:
            if name not in _DELETED_PARAMETERS:
                raise BadRequest(f"unknown parameter '{name}'")
        page = collection.deleted_page(
            since=params.get("since"), limit=_limit(params), cursor=params.get("cursor") or None
        )
        return _page_response(page)

    async def create_record(request: Request) -> Response:
        collection = collection_of(request)
        return json_response(collection.create(await read_object(request)), 201)

    async def get_record(request: Request) -> Response:
        return json_response(collection_of(request).get(request.path_params["record_id"]))

    async def patch_record(request: Request) -> Response:
        collection = collection_of(request)
        body = await read_object(request)
        return json_response(collection.update(request.path_params["record_id"], body))

    async def delete_record(request: Request) -> Response:
        collection_of(request).delete(request.path_params["record_id"])
        return Response(status_code=204)

    async def batch(request: Request) -> Response:
        collection = collection_of(request)
        body = await read_object(request)
        inputs: Any = body.get("inputs")
        if not isinstance(inputs, list):
            raise BadRequest("'inputs' must be a list")
        action = optional_string(body, "action")
        if action is None:
            raise BadRequest("'action' is required")
        id_property = optional_string(body, "id_property") or "id"
        results = run_batch(collection, action, inputs, id_property)
        return json_response({"results": results})

    return [
        Route("/api/{object_name}", list_records, methods=["GET"]),
        Route("/api/{object_name}", create_record, methods=["POST"]),
        Route("/api/{object_name}/deleted", list_deleted, methods=["GET"]),
        Route("/api/{object_name}/batch", batch, methods=["POST"]),
        Route("/api/{object_name}/{record_id}", get_record, methods=["GET"]),
        Route("/api/{object_name}/{record_id}", patch_record, methods=["PATCH"]),
        Route("/api/{object_name}/{record_id}", delete_record, methods=["DELETE"]),
    ]


def _limit(params: QueryParams) -> int:
    text = params.get("limit")
    if text is None:
        return MAX_PAGE_SIZE
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"'limit' must be an integer from 1 to {MAX_PAGE_SIZE}") from None


def _page_response(page: Page) -> Response:
    return json_response({"results": page.results, "next_cursor": page.next_cursor})
