"""Native batch endpoints: the request body, and one outcome per input read back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from interlink.elements.definition import BatchEndpoint, HttpMethod
from interlink.elements.format.objects import BatchAction
from interlink.errors import InvalidInput
from interlink.vendor.errors import FatalVendorError
from interlink.vendor.paths import lookup

FAILED_STATUSES = {"error", "failed", "failure", "rejected", "invalid"}
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class BatchOutcome:
    """What the vendor did with input `index`: `error` is `None` when it succeeded."""

    index: int
    status: int | str | None
    id: str | None
    error: str | None
    result: dict[str, Any] | None = field(default=None, repr=False)  # the vendor's whole answer

    @property
    def ok(self) -> bool:
        return self.error is None


def batch_body(
    endpoint: BatchEndpoint, action: str, inputs: Sequence[dict[str, Any]], id_property: str | None
) -> dict[str, Any]:
    extra = endpoint.input_fields
    body: dict[str, Any] = {
        **endpoint.body,
        endpoint.inputs_key: [{**extra, **item} for item in inputs] if extra else list(inputs),
    }
    if endpoint.action_key:
        body[endpoint.action_key] = action
    if endpoint.id_property_key and id_property is not None:
        body[endpoint.id_property_key] = id_property
    return body


@dataclass(frozen=True)
class BatchCall:
    """One chunk's request: `path` still holds `{config.…}` and `{id_property}`."""

    method: HttpMethod
    path: str
    path_values: dict[str, str]
    params: dict[str, str]
    json: dict[str, Any] | None


def batch_call(
    endpoint: BatchEndpoint,
    action: BatchAction,
    inputs: Sequence[dict[str, Any]],
    id_property: str | None,
    *,
    id_field: str,
    where: str,
) -> BatchCall:
    """How a chunk of `action` goes to the vendor: the endpoint's POST of the body, or the
    action's own `requests` entry (another method or path, or the ids in a parameter)."""
    request = endpoint.requests.get(action)
    if request is None:
        return BatchCall(
            "POST", endpoint.path, {}, {}, batch_body(endpoint, action, inputs, id_property)
        )
    path = request.path or endpoint.path
    values: dict[str, str] = {}
    if "{id_property}" in path:
        if not id_property:
            raise InvalidInput(
                f"{where}: a batch {action} needs an id_property", field="identifier"
            )
        values["id_property"] = id_property
    if request.ids_param is None:
        body = batch_body(endpoint, action, inputs, id_property)
        return BatchCall(request.method, path, values, {}, body)
    ids: list[str] = []
    for item in inputs:
        found = lookup(item, id_field)
        if isinstance(found, bool) or not isinstance(found, str | int) or found == "":
            raise InvalidInput(
                f"{where}: a batch {action} input without its {id_field!r}", field=id_field
            )
        ids.append(str(found))
    return BatchCall(request.method, path, values, {request.ids_param: ",".join(ids)}, None)


def read_outcomes(
    body: Any,
    endpoint: BatchEndpoint,
    *,
    count: int,
    first_index: int,
    message_paths: list[str],
    where: str,
) -> list[BatchOutcome]:
    """One outcome per input, in input order; an input the vendor skipped is a failure."""
    results = lookup(body, endpoint.results_path)
    if not isinstance(results, list):
        raise FatalVendorError(f"{where}: the batch answer has no {endpoint.results_path!r} list")
    outcomes: dict[int, BatchOutcome] = {}
    for position, result in enumerate(results):
        if not isinstance(result, dict):
            continue
        index = result.get(endpoint.result_index_field, position)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            continue
        outcomes.setdefault(index, _outcome(result, index + first_index, endpoint, message_paths))
    return [
        outcomes.get(index)
        or BatchOutcome(index + first_index, None, None, "the vendor gave no result for it")
        for index in range(count)
    ]


def _outcome(
    result: dict[str, Any], index: int, endpoint: BatchEndpoint, message_paths: list[str]
) -> BatchOutcome:
    status = result.get(endpoint.result_status_field)
    status = status if isinstance(status, int | str) and not isinstance(status, bool) else None
    if endpoint.result_created_field is not None:
        created = result.get(endpoint.result_created_field)
        if isinstance(created, bool):
            status = 201 if created else 200
    raw_id = result.get(endpoint.result_id_field)
    error = _error_text(result, status, endpoint, message_paths)
    return BatchOutcome(
        index=index,
        status=status,
        id=None if raw_id is None or raw_id == "" else str(raw_id),
        error=error,
        result=result,
    )


def _error_text(
    result: dict[str, Any],
    status: int | str | None,
    endpoint: BatchEndpoint,
    message_paths: list[str],
) -> str | None:
    """`None` when the input succeeded, else the best words for why it did not."""
    if endpoint.result_error_path is not None:
        flagged = lookup(result, endpoint.result_error_path)
    else:
        flagged = result.get(endpoint.result_error_field)
    number = _status_number(status)
    if endpoint.success_statuses is not None:
        failed_status = number not in endpoint.success_statuses
    else:
        failed_status = (number is not None and number >= 400) or (
            isinstance(status, str) and status.lower() in FAILED_STATUSES
        )
    # `"errors": []` on a success is common: an empty error is no error.
    if flagged in (None, "", False, [], {}) and not failed_status:
        return None
    if isinstance(flagged, str) and flagged.strip() and endpoint.result_error_path is not None:
        return flagged  # the element pointed at the message itself
    for document in ([flagged] if isinstance(flagged, dict | list) else []) + [result]:
        for path in message_paths:
            message = lookup(document, path)
            if isinstance(message, str) and message.strip():
                return message
    if isinstance(flagged, str) and flagged:
        return flagged
    if isinstance(flagged, dict | list) and flagged:
        return json.dumps(flagged, default=str)[:MAX_ERROR_CHARS]
    return f"rejected with status {status}"


def _status_number(status: int | str | None) -> int | None:
    """The status as a number: vendors write `201` as well as `"201"`."""
    if isinstance(status, str) and status.strip().isdigit():
        return int(status)
    return status if isinstance(status, int) else None
