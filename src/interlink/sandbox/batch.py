"""Batch writes: up to 100 creates, updates, upserts or deletes, each answered on its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interlink.sandbox.collection import Collection
from interlink.sandbox.errors import BadRequest, NotFoundError, SandboxError

ACTIONS = ("create", "update", "upsert", "delete")
MAX_BATCH_INPUTS = 100


def run_batch(
    collection: Collection, action: str, inputs: Sequence[Any], id_property: str = "id"
) -> list[dict[str, Any]]:
    """One result per input, in order: `{"index", "status", "id"}` or the error body.

    Inputs are applied one after the other and independently, as real CRMs do: a bad input
    fails alone, and a later input sees what an earlier one wrote.
    """
    if action not in ACTIONS:
        raise BadRequest(f"'action' must be one of {', '.join(ACTIONS)}")
    if len(inputs) > MAX_BATCH_INPUTS:
        raise BadRequest(f"a batch takes at most {MAX_BATCH_INPUTS} inputs, not {len(inputs)}")
    if id_property != "id" and id_property not in collection.schema.unique_fields:
        unique = ", ".join(("id", *collection.schema.unique_fields))
        raise BadRequest(f"'id_property' must be one of {unique} for {collection.schema.name}")
    results: list[dict[str, Any]] = []
    for index, item in enumerate(inputs):
        try:
            status, record_id = _apply(collection, action, item, id_property)
        except SandboxError as error:
            results.append({"index": index, "status": error.status, **error.body()})
        else:
            results.append({"index": index, "status": status, "id": record_id})
    return results


def _apply(collection: Collection, action: str, item: Any, id_property: str) -> tuple[int, str]:
    if not isinstance(item, Mapping):
        raise BadRequest("each input must be a JSON object")
    if action == "create":
        return 201, collection.create(item)["id"]
    key = item.get(id_property)
    if key is None:
        if action == "upsert" and id_property == "id":
            return 201, collection.create(item)["id"]
        raise BadRequest(f"this input needs '{id_property}'")
    existing = collection.find(id_property, key)
    if existing is None:
        if action == "upsert" and id_property != "id":
            return 201, collection.create(item)["id"]
        # An id is the CRM's to give: an upsert naming an unknown one cannot create it.
        raise NotFoundError(f"no {collection.schema.singular} with {id_property} '{key}'")
    record_id: str = existing["id"]
    if action == "delete":
        collection.delete(record_id)
        return 204, record_id
    collection.update(record_id, item)
    return 200, record_id
