"""Salesforce's hooks: SOQL built from the definition, getDeleted's window, its error codes.

What the YAML cannot say (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/
api_rest/, https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/):

- Listing is a SOQL query, `GET /query?q=SELECT … FROM Contact …`. The element's list
  request is `/query` without `q`; the client's parameters become the query here: the
  object's declared fields are selected, equality filters become `Field = 'value'`
  conditions, the changed-since parameter (`modified_since`) becomes `SystemModstamp >=
  <time>` ordered by `SystemModstamp, Id` (else by `Id`), and the page size parameter
  (`batchSize`) moves into the `Sforce-Query-Options: batchSize=N` header (at most 2,000;
  Salesforce may answer pages of another size). Next pages follow `nextRecordsUrl`
  untouched.
- getDeleted wants `start` and `end` (UTC, seconds ignored) and refuses a start older than
  30 days (`INVALID_REPLICATION_DATE`): the start is moved up to 30 days ago (deletes older
  than that cannot be read anyway) and the end is the next whole minute.
- Records carry `attributes` ({type, url}): dropped, they are not data.
- A Bulk API 2.0 query job is started with `{"operation": "query", "query": SOQL}`.
- `REQUEST_LIMIT_EXCEEDED` (403, the org's rolling 24-hour API limit) is neither a refused
  credential nor a refused record: retryable, after an hour.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from interlink.elements.definition import ElementDefinition, ObjectDefinition, SchemaField
from interlink.vendor.errors import RetryableVendorError, VendorError, json_body
from interlink.vendor.errors import classify as default_classify
from interlink.vendor.hooks import ExportContext, RequestContext

# The list's parameters the element declares, read here and never sent as such.
SINCE_PARAM = "modified_since"
BATCH_SIZE_PARAM = "batchSize"
QUERY_OPTIONS_HEADER = "Sforce-Query-Options"
MAX_BATCH_SIZE = 2000
REPLICATION_DAYS = 30
LIMIT_RETRY_SECONDS = 3600.0
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def prepare_request(request: httpx.Request, context: RequestContext, /) -> None:
    if context.object_name is None:
        return
    own = context.element.object_name(context.object_name)
    if own is None:
        return
    obj = context.element.objects[own]
    if context.operation == "list" and request.url.path.endswith("/query"):
        _query_request(request, own, obj)
    elif context.operation == "deleted":
        _deleted_window(request)


def normalize_record(object_name: str, record: dict[str, Any], /) -> dict[str, Any]:
    record.pop("attributes", None)
    return record


def prepare_export(body: dict[str, Any], context: ExportContext, /) -> dict[str, Any]:
    own = context.element.object_name(context.object_name) or context.object_name
    obj = context.element.objects[own]
    return {
        "operation": "query",
        "query": soql(own, obj, since=context.updated_since, order=False),
    }


def classify(
    response: httpx.Response, element: ElementDefinition, per_record: bool, /
) -> VendorError | None:
    error = default_classify(response, element, per_record=per_record)
    if error is None or response.status_code != 403:
        return error
    if error_code(json_body(response)) == "REQUEST_LIMIT_EXCEEDED":
        return RetryableVendorError(
            f"{element.key}: {response.request.method} {response.request.url.path} answered "
            "403 REQUEST_LIMIT_EXCEEDED (the org's daily API limit)",
            status=403,
            vendor_message=error.vendor_message,
            body=error.body,
            retry_after=LIMIT_RETRY_SECONDS,
        )
    return error


def error_code(body: Any) -> str | None:
    """The `errorCode` of Salesforce's error array `[{"message", "errorCode", "fields"}]`."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        code = body[0].get("errorCode")
        return code if isinstance(code, str) else None
    return None


# --- SOQL ----------------------------------------------------------------------------------


def soql(
    object_name: str,
    obj: ObjectDefinition,
    *,
    filters: dict[str, str] | None = None,
    since: datetime | None = None,
    order: bool = True,
) -> str:
    """`SELECT <declared fields> FROM <object> [WHERE …] [ORDER BY …]`."""
    schema = {field.name: field for field in obj.fields or []}
    fields = list(schema) or [obj.id_field]
    conditions = [
        f"{name} = {literal(value, schema.get(name))}" for name, value in (filters or {}).items()
    ]
    updated = obj.updated_field.name if obj.updated_field else "SystemModstamp"
    if since is not None:
        conditions.append(f"{updated} >= {datetime_literal(since)}")
    text = f"SELECT {', '.join(fields)} FROM {object_name}"
    if conditions:
        text += " WHERE " + " AND ".join(conditions)
    if order:
        text += f" ORDER BY {updated} ASC, Id ASC" if since is not None else " ORDER BY Id ASC"
    return text


def literal(value: str, field: SchemaField | None) -> str:
    """A filter value as a SOQL literal: booleans and numbers bare, the rest quoted."""
    kind = field.type if field is not None else "string"
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower()
    if kind in ("integer", "number") and _NUMBER.match(value):
        return value
    if kind == "datetime":
        try:
            return datetime_literal(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f"'{escaped}'"


def datetime_literal(moment: datetime) -> str:
    """SOQL's dateTime literal (`2024-05-01T10:00:00Z`): whole seconds, rounded down so an
    inclusive bound loses nothing."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_request(request: httpx.Request, object_name: str, obj: ObjectDefinition) -> None:
    params = dict(request.url.params)
    if "q" in params:
        return  # a query of its own (never sent by the element today)
    batch_size = params.pop(BATCH_SIZE_PARAM, None)
    since_text = params.pop(SINCE_PARAM, None)
    since = None
    if since_text is not None:
        since = datetime.fromisoformat(since_text.replace("Z", "+00:00"))
    request.url = request.url.copy_with(
        params={"q": soql(object_name, obj, filters=params, since=since)}
    )
    if batch_size is not None and batch_size.isdigit():
        size = min(int(batch_size), MAX_BATCH_SIZE)
        request.headers[QUERY_OPTIONS_HEADER] = f"batchSize={size}"


def _deleted_window(request: httpx.Request) -> None:
    params = dict(request.url.params)
    now = datetime.now(UTC)
    start_text = params.get("start")
    if start_text is not None:
        start = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
        earliest = now - timedelta(days=REPLICATION_DAYS) + timedelta(minutes=5)
        params["start"] = _replication_time(max(start, earliest))
    if "end" not in params:
        minute = math.ceil(now.timestamp() / 60) * 60 + 60
        params["end"] = _replication_time(datetime.fromtimestamp(minute, UTC))
    request.url = request.url.copy_with(params=params)


def _replication_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()
