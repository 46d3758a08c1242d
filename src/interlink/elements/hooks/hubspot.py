"""HubSpot's hooks: flat records, batch inputs and answers, and the 429 policies.

- Records: HubSpot answers `{"id", "properties": {...}, "createdAt", "updatedAt",
  "archived"}` (https://developers.hubspot.com/docs/api/crm/understanding-the-crm); the
  hub reads them flat, `{"id", "email": …, "createdAt": …}`, so that fields read (and are
  filtered, exported, written back) naturally. Writes go back under `properties` (the
  element's `body_key`), without the read-only members (`createdAt`, `updatedAt`,
  `archived`, `archivedAt`).
- Batches (https://developers.hubspot.com/docs/api/crm/objects, "batch"): each input is
  `{"properties"}` (create), `{"id", "properties"}` (update), `{"idProperty", "id",
  "properties"}` (upsert) or `{"id"}` (archive), with an `objectWriteTraceId` naming its
  position. The answer (201, or 207 Multi-Status with `errors`) does not promise the
  inputs' order: results are matched back by `objectWriteTraceId`, else by id, else in
  order; each error by its `context` (`objectWriteTraceId` or `ids`). An archive answers
  204 with no body: every input succeeded.
- Rate limits (https://developers.hubspot.com/docs/api/usage-details): a 429 says which
  limit in `policyName`. `TEN_SECONDLY_ROLLING` (and `SECONDLY`) are waited out (the
  `X-HubSpot-RateLimit-Interval-Milliseconds` window, else 10 s or 1 s); `DAILY` waits an
  hour at a time (the retrier's cap turns it into a later retry of the job).
"""

from __future__ import annotations

from typing import Any

import httpx

from interlink.elements.definition import ElementDefinition
from interlink.vendor.errors import VendorError, json_body
from interlink.vendor.errors import classify as default_classify

READ_ONLY = ("createdAt", "updatedAt", "archived", "archivedAt")
TRACE = "objectWriteTraceId"
INTERVAL_HEADER = "X-HubSpot-RateLimit-Interval-Milliseconds"
POLICY_WAITS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0, "DAILY": 3600.0}
NOT_FOUND_CATEGORIES = {"OBJECT_NOT_FOUND"}


def normalize_record(object_name: str, record: dict[str, Any], /) -> dict[str, Any]:
    properties = record.get("properties")
    if not isinstance(properties, dict):
        return record
    flat: dict[str, Any] = {"id": record["id"]}
    flat.update((name, value) for name, value in properties.items() if name != "id")
    flat.update((name, value) for name, value in record.items() if name not in ("id", "properties"))
    return flat


def _properties(record: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name not in ("id", *READ_ONLY)}


def batch_inputs(
    object_name: str, action: str, inputs: list[dict[str, Any]], id_property: str | None, /
) -> list[dict[str, Any]]:
    shaped: list[dict[str, Any]] = []
    for index, record in enumerate(inputs):
        trace = {TRACE: str(index)}
        if action == "create":
            shaped.append({"properties": _properties(record), **trace})
        elif action == "update":
            shaped.append({"id": str(record.get("id", "")), "properties": _properties(record)})
            shaped[-1].update(trace)
        elif action == "upsert":
            key = id_property or "id"
            value = record.get(key)
            shaped.append(
                {
                    "idProperty": key,
                    "id": "" if value is None else str(value),
                    "properties": _properties(record),
                    **trace,
                }
            )
        else:  # delete: HubSpot's archive
            shaped.append({"id": str(record.get("id", ""))})
    return shaped


def batch_answer(
    object_name: str, action: str, answer: Any, inputs: list[dict[str, Any]], /
) -> dict[str, Any]:
    if answer is None:  # an archive's 204: every input was archived
        return {
            "results": [
                {"index": index, "status": 204, "id": item.get("id")}
                for index, item in enumerate(inputs)
            ]
        }
    if not isinstance(answer, dict):
        return {"results": []}
    by_trace = {str(item[TRACE]): index for index, item in enumerate(inputs) if TRACE in item}
    by_id: dict[str, int] = {}
    for index, item in enumerate(inputs):
        if item.get("id") not in (None, ""):
            by_id.setdefault(str(item["id"]), index)
    results: dict[int, dict[str, Any]] = {}
    for error in answer.get("errors") or []:
        if not isinstance(error, dict):
            continue
        raw_context = error.get("context")
        context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
        status = 404 if error.get("category") in NOT_FOUND_CATEGORIES else 400
        for index in _indexes(context, by_trace, by_id):
            results.setdefault(
                index,
                {
                    "index": index,
                    "status": status,
                    "id": inputs[index].get("id"),
                    "error": error.get("message") or error.get("category") or "rejected",
                },
            )
    unmatched: list[dict[str, Any]] = []
    for result in answer.get("results") or []:
        if not isinstance(result, dict):
            continue
        found = by_trace.get(str(result.get(TRACE)))
        if found is None and action in ("update", "delete"):
            found = by_id.get(str(result.get("id")))
        if found is None or found in results:
            unmatched.append(result)
            continue
        results[found] = _success(found, action, result)
    free = (index for index in range(len(inputs)) if index not in results)
    for result, index in zip(unmatched, free, strict=False):
        results[index] = _success(index, action, result)
    return {"results": [results[index] for index in sorted(results)]}


def _indexes(context: dict[str, Any], by_trace: dict[str, int], by_id: dict[str, int]) -> set[int]:
    found: set[int] = set()
    for value in _texts(context.get(TRACE)):
        if value in by_trace:
            found.add(by_trace[value])
    for value in _texts(context.get("ids")):
        if value in by_id:
            found.add(by_id[value])
    return found


def _texts(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [] if value is None else [str(value)]


def _success(index: int, action: str, result: dict[str, Any]) -> dict[str, Any]:
    created = action == "create" or (action == "upsert" and result.get("new") is True)
    return {"index": index, "status": 201 if created else 200, "id": result.get("id")}


def classify(
    response: httpx.Response, element: ElementDefinition, per_record: bool, /
) -> VendorError | None:
    error = default_classify(response, element, per_record=per_record)
    if error is None or response.status_code != 429 or error.retry_after is not None:
        return error
    body = json_body(response)
    policy = body.get("policyName") if isinstance(body, dict) else None
    wait = POLICY_WAITS.get(str(policy), 10.0)
    if policy in ("TEN_SECONDLY_ROLLING", "SECONDLY"):
        interval = response.headers.get(INTERVAL_HEADER, "").strip()
        if interval.isdigit() and int(interval) > 0:
            wait = int(interval) / 1000
    error.retry_after = wait
    return error
