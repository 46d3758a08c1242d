"""Records as they leave the client: the vendor's shape, with a string `id` on top."""

from __future__ import annotations

from typing import Any

from interlink.elements.definition import DeletedEndpoint
from interlink.errors import ConfigurationError
from interlink.vendor.errors import FatalVendorError
from interlink.vendor.hooks import Hooks, default_normalize_record
from interlink.vendor.paths import MISSING, lookup
from interlink.vendor.times import parse_time, rfc3339


def extract_records(body: Any, records_path: str | None, *, where: str) -> list[dict[str, Any]]:
    """The list of records at `records_path`; an explicit `null` there is an empty page.

    A missing key is an error rather than an empty page: a misread answer that looked empty
    would make a full-scan comparison believe every record was deleted.
    """
    found = lookup(body, records_path, MISSING)
    if found is None:
        return []
    if found is MISSING or not isinstance(found, list):
        place = f"at {records_path!r}" if records_path else "as the body"
        raise FatalVendorError(f"{where}: the answer has no list of records {place}")
    if not all(isinstance(item, dict) for item in found):
        raise FatalVendorError(f"{where}: the answer's records are not all JSON objects")
    return found


def extract_record(body: Any, records_path: str | None, *, where: str) -> dict[str, Any]:
    found = lookup(body, records_path, MISSING)
    if not isinstance(found, dict):
        place = f"at {records_path!r}" if records_path else "as the body"
        raise FatalVendorError(f"{where}: the answer has no record {place}")
    return found


def record_id(record: dict[str, Any], id_field: str, *, where: str) -> str:
    # Runs once per record of an export: a plain field name skips the dotted-path walk
    # (the same answer for a dict), and a non-empty string is already the answer.
    value = record.get(id_field) if id_field and "." not in id_field else lookup(record, id_field)
    if type(value) is str and value:
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise FatalVendorError(f"{where}: a record without a usable {id_field!r}")
    return str(value)


def normalize_record(
    object_name: str, record: dict[str, Any], id_field: str, hooks: Hooks, *, where: str
) -> dict[str, Any]:
    """The record with its id at the top level as a string, then the element's own touch."""
    identifier = record_id(record, id_field, where=where)
    if record.get("id") == identifier:
        normalized = dict(record)
    else:
        normalized = {"id": identifier, **{k: v for k, v in record.items() if k != "id"}}
    hook = hooks.normalize_record
    if hook is default_normalize_record:
        return normalized  # the default returns it as is: its id is the string set above
    normalized = hook(object_name, normalized)
    if not isinstance(normalized, dict) or not isinstance(normalized.get("id"), str):
        raise ConfigurationError(f"{where}: normalize_record must keep a string 'id'")
    return normalized


def deleted_record(item: dict[str, Any], deletes: DeletedEndpoint, *, where: str) -> dict[str, Any]:
    """`{"id", "deleted_at"}` of one entry of a deleted-records endpoint.

    `deleted_at` is RFC 3339 UTC whatever the vendor's `deleted_at_format`, or `None` where
    the vendor gives no time. A time not in that format is an error rather than passed on:
    a misread time would misplace the delete among the record's other events.
    """
    value = lookup(item, deletes.deleted_at_field)
    moment: str | None = None
    if value is not None:
        try:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError(f"not a string or number but {type(value).__name__}")
            moment = rfc3339(parse_time(value, deletes.deleted_at_format))
        except (ValueError, OverflowError, OSError) as exc:
            raise FatalVendorError(
                f"{where}: {deletes.deleted_at_field} {value!r} is not a "
                f"{deletes.deleted_at_format} time ({exc})"
            ) from exc
    return {"id": record_id(item, deletes.id_field, where=where), "deleted_at": moment}
