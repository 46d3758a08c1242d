"""Stripe's hooks: a deleted customer is still answered by its retrieve call.

Stripe documents (https://docs.stripe.com/api/customers/retrieve) that retrieving a deleted
customer answers 200 with a subset of it, `{"id": …, "object": "customer", "deleted": true}`
("unlike other objects, deleted customers can still be retrieved"). For the hub that record
is gone: a `GET` of one record answered with `deleted: true` is `RecordNotFound`, as a 404
would be. A `DELETE`'s own answer has the same shape and stays a success.
"""

from __future__ import annotations

import httpx

from interlink.elements.definition import ElementDefinition
from interlink.vendor.errors import RecordNotFound, VendorError, json_body
from interlink.vendor.errors import classify as default_classify


def classify(
    response: httpx.Response, element: ElementDefinition, per_record: bool, /
) -> VendorError | None:
    error = default_classify(response, element, per_record=per_record)
    if error is not None or not per_record or response.request.method != "GET":
        return error
    body = json_body(response)
    if isinstance(body, dict) and body.get("deleted") is True:
        return RecordNotFound(
            f"{element.key}: GET {response.request.url.path} answered a deleted record",
            status=response.status_code,
            vendor_message=f"{body.get('object') or 'record'} {body.get('id')} is deleted",
            body=body,
        )
    return None
