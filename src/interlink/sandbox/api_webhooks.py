"""HTTP endpoints of webhook subscriptions: create, list, get, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from interlink.sandbox.errors import ValidationFailed
from interlink.sandbox.webhooks import WebhookDispatcher
from interlink.sandbox.wire import json_response, read_object


def webhook_routes(webhooks: WebhookDispatcher) -> list[BaseRoute]:
    """`POST|GET /api/webhooks`, `GET|DELETE /api/webhooks/{id}`."""

    async def create_webhook(request: Request) -> Response:
        body = await read_object(request)
        url, secret = body.get("url"), body.get("secret")
        if not isinstance(url, str):
            raise ValidationFailed("a webhook needs a 'url'", field="url")
        if not isinstance(secret, str):
            raise ValidationFailed("a webhook needs a 'secret'", field="secret")
        return json_response(webhooks.subscribe(url, secret).public(), 201)

    async def list_webhooks(request: Request) -> Response:
        return json_response({"results": [hook.public() for hook in webhooks.subscriptions()]})

    async def get_webhook(request: Request) -> Response:
        return json_response(webhooks.get(request.path_params["webhook_id"]).public())

    async def delete_webhook(request: Request) -> Response:
        await webhooks.unsubscribe(request.path_params["webhook_id"])
        return Response(status_code=204)

    return [
        Route("/api/webhooks", create_webhook, methods=["POST"]),
        Route("/api/webhooks", list_webhooks, methods=["GET"]),
        Route("/api/webhooks/{webhook_id}", get_webhook, methods=["GET"]),
        Route("/api/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
    ]
