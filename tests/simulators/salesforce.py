"""A Salesforce simulator (REST API v60.0, Bulk API 2.0 query, OAuth 2.0 refresh).

It behaves as Salesforce documents it, for what the `salesforce` element uses (the pages
cited at the top of `salesforce.yaml`):

- OAuth: `POST /services/oauth2/token` with `grant_type=refresh_token` (client id and
  secret in the form) answers `{access_token, instance_url, id, token_type, issued_at,
  signature, scope}` and no `expires_in`; a wrong client answers 400 `invalid_client`
  "invalid client credentials", a wrong refresh token 400 `invalid_grant` "expired
  access/refresh token". `revoke_sessions()` makes every access token answer 401.
- Every API call needs `Authorization: Bearer <access token>`, else 401
  `[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]`; each
  answer carries `Sforce-Limit-Info: api-usage=<used>/<limit>`; past the daily limit,
  403 `REQUEST_LIMIT_EXCEEDED` "TotalRequests Limit exceeded.".
- `GET /query?q=` runs a SOQL subset: `SELECT f, … FROM Obj [WHERE f op v [AND …]]
  [ORDER BY f [ASC|DESC], …] [LIMIT n]` with `= != < > <= >=` over quoted strings (with
  backslash escapes, compared case-insensitively as Salesforce does), numbers,
  true/false/null and dateTime literals. It answers `{totalSize, done, records,
  nextRecordsUrl}` in pages of 2,000, or of `Sforce-Query-Options: batchSize=N` (200 to
  2,000 as documented; `min_batch_size` lowers the floor so tests can page small data);
  `GET /query/<locator>-<offset>` reads on. Bad queries answer 400 `MALFORMED_QUERY` or
  `INVALID_FIELD`. Records carry `attributes: {type, url}`.
- `/sobjects/<type>` (POST: `{id, success, errors}`), `/sobjects/<type>/<id>` (GET, PATCH
  204, DELETE 204; 404 `NOT_FOUND` for an unknown or deleted id), `/sobjects/<type>/
  deleted/?start=&end=` (seconds ignored; a start older than 30 days answers 400
  `INVALID_REPLICATION_DATE`).
- sObject collections `/composite/sobjects`: POST (create), PATCH (update), DELETE
  `?ids=`, and PATCH `/composite/sobjects/<type>/<external id field>` (upsert; `Id` is
  the field every object has): at most 200 records, `allOrNone`, one result per record
  `{id, success, errors: [{statusCode, message, fields}]}` (+ `created` for upserts).
- Bulk API 2.0 query: `POST /jobs/query` `{operation: query, query}` answers the job
  (`state: UploadComplete`); `GET /jobs/query/<id>` moves it to `InProgress`, then
  `JobComplete`; `GET /jobs/query/<id>/results?locator=&maxRecords=` answers CSV, the next
  page named by `Sforce-Locator` (`null` on the last).
- Bulk API 2.0 ingest: `POST /jobs/ingest` `{object, operation: insert|update|upsert|delete,
  externalIdFieldName (upsert), contentType: CSV, lineEnding}` answers the job (`state:
  Open`); `PUT /jobs/ingest/<id>/batches` (`text/csv`) takes its data while it is open;
  `PATCH /jobs/ingest/<id>` `{state: UploadComplete | Aborted}`; `GET /jobs/ingest/<id>`
  moves an UploadComplete job to `InProgress`, then processes every row and answers
  `JobComplete` (or `Failed` with `errorMessage` when a column is no field of the object:
  nothing is processed). `GET …/successfulResults/` (`sf__Id, sf__Created`, then the
  uploaded columns as uploaded), `…/failedResults/` (`sf__Id, sf__Error`, then the
  columns) and `…/unprocessedrecords/` answer CSV in a shuffled order, as Salesforce does
  not promise upload order. A cell `#N/A` sets null; an empty cell leaves the field out.

Simplified: three objects with a subset of their fields, no relationships, no custom
objects; times come from a clock the tests move (`clock.advance`), which starts a day in
the past so that "now" at the simulated vendor is never ahead of the real one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import random
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving

API_PATH = "/services/data/v60.0"
SESSION_INVALID = "Session expired or invalid"
INVALID_CLIENT = "invalid client credentials"
INVALID_GRANT = "expired access/refresh token"
LIMIT_EXCEEDED = "TotalRequests Limit exceeded."
NOT_FOUND = "The requested resource does not exist"
DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_COLLECTION = 200
REPLICATION_DAYS = 30
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Object → (id prefix, {field: (type, required, writable)}).
STRING, INTEGER, NUMBER, BOOLEAN, DATETIME = "string", "integer", "number", "boolean", "datetime"
SYSTEM = {
    "Id": (STRING, False, False),
    "IsDeleted": (BOOLEAN, False, False),
    "CreatedDate": (DATETIME, False, False),
    "LastModifiedDate": (DATETIME, False, False),
    "SystemModstamp": (DATETIME, False, False),
}
OBJECTS: dict[str, tuple[str, dict[str, tuple[str, bool, bool]]]] = {
    "Account": (
        "001",
        {
            "Name": (STRING, True, True),
            "Industry": (STRING, False, True),
            "Type": (STRING, False, True),
            "Website": (STRING, False, True),
            "Phone": (STRING, False, True),
            "NumberOfEmployees": (INTEGER, False, True),
            "AnnualRevenue": (NUMBER, False, True),
            **SYSTEM,
        },
    ),
    "Contact": (
        "003",
        {
            "FirstName": (STRING, False, True),
            "LastName": (STRING, True, True),
            "Email": (STRING, False, True),
            "Phone": (STRING, False, True),
            "Title": (STRING, False, True),
            "AccountId": (STRING, False, True),
            **SYSTEM,
        },
    ),
    "Opportunity": (
        "006",
        {
            "Name": (STRING, True, True),
            "StageName": (STRING, True, True),
            "CloseDate": (STRING, True, True),
            "Amount": (NUMBER, False, True),
            "Probability": (NUMBER, False, True),
            "AccountId": (STRING, False, True),
            **SYSTEM,
        },
    ),
}


def sf_time(moment: float) -> str:
    """Salesforce's dateTime in JSON: `2024-05-01T10:00:00.000+0000`."""
    text = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "+0000")


def parse_sf_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class SalesforceError(Exception):
    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []

    def body(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]

    def record_error(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


class SalesforceClock:
    """Seconds since the epoch; starts a day in the past and moves only when told."""

    def __init__(self) -> None:
        self._now = round(time.time() - 86_400, 3)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float = 61.0) -> None:
        self._now = round(self._now + seconds, 3)


@dataclass
class BulkJob:
    id: str
    object_name: str
    query: str
    fields: list[str]
    records: list[dict[str, Any]]
    state: str = "UploadComplete"


@dataclass
class IngestJob:
    id: str
    object_name: str
    operation: str
    external_id: str | None
    state: str = "Open"
    data: list[bytes] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    error: str | None = None


INGEST_OPERATIONS = ("insert", "update", "upsert", "delete")
NULL_CELL = "#N/A"


@dataclass
class SalesforceStore:
    clock: SalesforceClock = field(default_factory=SalesforceClock)
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in OBJECTS}
    )
    deleted: dict[str, list[tuple[str, float]]] = field(
        default_factory=lambda: {name: [] for name in OBJECTS}
    )
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, object_name: str) -> str:
        prefix = OBJECTS[object_name][0]
        return f"{prefix}5g00000{next(self._serial):06d}AAA"[:18]

    def snapshot(self, object_name: str) -> list[dict[str, Any]]:
        return [dict(record) for record in self.records[object_name].values()]

    def get(self, object_name: str, record_id: str) -> dict[str, Any]:
        record = self.records[_known(object_name)].get(record_id)
        if record is None:
            raise SalesforceError(404, "NOT_FOUND", NOT_FOUND)
        return dict(record)

    def create(self, object_name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        schema = OBJECTS[_known(object_name)][1]
        _check_fields(object_name, fields, creating=True)
        stamp = sf_time(self.clock.now())
        record: dict[str, Any] = {name: None for name in schema}
        record.update(fields)
        record.update(
            Id=self.new_id(object_name),
            IsDeleted=False,
            CreatedDate=stamp,
            LastModifiedDate=stamp,
            SystemModstamp=stamp,
        )
        self.records[object_name][record["Id"]] = record
        return dict(record)

    def update(self, object_name: str, record_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        record = self.records[_known(object_name)].get(record_id)
        if record is None:
            raise SalesforceError(404, "NOT_FOUND", NOT_FOUND)
        _check_fields(object_name, fields, creating=False)
        merged = {**record, **fields}
        _check_required(object_name, merged)
        stamp = sf_time(self.clock.now())
        merged.update(LastModifiedDate=stamp, SystemModstamp=stamp)
        self.records[object_name][record_id] = merged
        return dict(merged)

    def delete(self, object_name: str, record_id: str) -> None:
        if self.records[_known(object_name)].pop(record_id, None) is None:
            raise SalesforceError(404, "NOT_FOUND", NOT_FOUND)
        self.deleted[object_name].append((record_id, self.clock.now()))


def _known(object_name: str) -> str:
    if object_name not in OBJECTS:
        raise SalesforceError(
            404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{object_name}'"
        )
    return object_name


def _check_fields(object_name: str, fields: Mapping[str, Any], *, creating: bool) -> None:
    schema = OBJECTS[object_name][1]
    for name, value in fields.items():
        if name not in schema:
            raise SalesforceError(
                400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {object_name}"
            )
        kind, _, writable = schema[name]
        if not writable:
            raise SalesforceError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {name}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or "
                "permission set.",
                [name],
            )
        if value is not None and not _typed(kind, value):
            raise SalesforceError(
                400, "JSON_PARSER_ERROR", f"Cannot deserialize value for {kind} field {name}"
            )
        if name == "Email" and value is not None and not _EMAIL.match(str(value)):
            raise SalesforceError(
                400, "INVALID_EMAIL_ADDRESS", f"Email: invalid email address: {value}", ["Email"]
            )
    if creating:
        _check_required(object_name, fields)


def _check_required(object_name: str, record: Mapping[str, Any]) -> None:
    schema = OBJECTS[object_name][1]
    missing = [
        n for n, (_, required, _) in schema.items() if required and record.get(n) in (None, "")
    ]
    if missing:
        raise SalesforceError(
            400,
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            missing,
        )


def _typed(kind: str, value: Any) -> bool:
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if kind == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


# --- seeding -------------------------------------------------------------------------------

_INDUSTRIES = ["Technology", "Banking", "Retail"]
_STAGES = ["Prospecting", "Qualification", "Closed Won"]
_TITLES = ["CEO", "VP Sales", "Engineer", "Buyer"]
_FIRST = ["Ada", "Grace", "Linus", "Zoë", "Margaret"]


def seed(store: SalesforceStore, count: int) -> None:
    """`count` records of each object, created one clock step apart."""
    accounts: list[str] = []
    for number in range(1, count + 1):
        account = store.create(
            "Account",
            {
                "Name": f"Seed Account {number:03d}",
                "Industry": _INDUSTRIES[number % len(_INDUSTRIES)],
                "Type": "Customer - Direct" if number % 2 else "Prospect",
                "NumberOfEmployees": number * 10,
                "AnnualRevenue": float(number * 1000),
            },
        )
        accounts.append(account["Id"])
        store.create(
            "Contact",
            {
                "FirstName": _FIRST[number % len(_FIRST)],
                "LastName": f"Seed{number:03d}",
                "Email": f"seed{number}@example.com",
                "Title": _TITLES[number % len(_TITLES)],
                "AccountId": accounts[number // 3],
            },
        )
        store.create(
            "Opportunity",
            {
                "Name": f"Seed Deal {number:03d}",
                "StageName": _STAGES[number % len(_STAGES)],
                "CloseDate": "2025-06-30",
                "Amount": float(number * 500),
                "AccountId": accounts[number // 2],
            },
        )
        store.clock.advance(1)


# --- SOQL ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
      | (?P<number>-?\d+(?:\.\d+)?(?![\w-]))
      | (?P<date>\d{4}-\d{2}-\d{2})
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<comma>,)
      | (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any
    kind: str  # string, number, boolean, null, datetime, date


@dataclass(frozen=True)
class Query:
    fields: list[str]
    object_name: str
    where: list[Condition]
    order: list[tuple[str, bool]]  # (field, descending)
    limit: int | None


def malformed(message: str) -> SalesforceError:
    return SalesforceError(400, "MALFORMED_QUERY", message)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise malformed(f"unexpected token: '{text[position : position + 20]}'")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def parse_soql(text: str) -> Query:
    tokens = tokenize(text)
    index = 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        return tokens[index + offset] if index + offset < len(tokens) else None

    def keyword(word: str) -> bool:
        token = peek()
        return token is not None and token[0] == "word" and token[1].upper() == word

    def take(kind: str, what: str) -> str:
        nonlocal index
        token = peek()
        if token is None or token[0] != kind:
            found = token[1] if token else "end of query"
            raise malformed(f"expecting {what}, found '{found}'")
        index += 1
        return token[1]

    def expect(word: str) -> None:
        nonlocal index
        if not keyword(word):
            token = peek()
            raise malformed(f"expecting '{word}', found '{token[1] if token else 'end of query'}'")
        index += 1

    expect("SELECT")
    fields = [take("word", "a field")]
    while peek() is not None and peek()[0] == "comma":  # type: ignore[index]
        index += 1
        fields.append(take("word", "a field"))
    expect("FROM")
    object_name = take("word", "an object")
    where: list[Condition] = []
    if keyword("WHERE"):
        index += 1
        while True:
            name = take("word", "a field")
            op = take("op", "an operator")
            token = peek()
            if token is None:
                raise malformed("expecting a value, found end of query")
            index += 1
            where.append(_condition(name, "!=" if op == "<>" else op, token))
            if not keyword("AND"):
                break
            index += 1
    order: list[tuple[str, bool]] = []
    if keyword("ORDER"):
        index += 1
        expect("BY")
        while True:
            name = take("word", "a field")
            descending = False
            if keyword("ASC") or keyword("DESC"):
                descending = peek()[1].upper() == "DESC"  # type: ignore[index]
                index += 1
            order.append((name, descending))
            if peek() is None or peek()[0] != "comma":  # type: ignore[index]
                break
            index += 1
    limit = None
    if keyword("LIMIT"):
        index += 1
        limit = int(take("number", "a number"))
    if peek() is not None:
        raise malformed(f"unexpected token: '{peek()[1]}'")  # type: ignore[index]
    return Query(fields, object_name, where, order, limit)


def _condition(name: str, op: str, token: tuple[str, str]) -> Condition:
    kind, text = token
    if kind == "string":
        body = text[1:-1]
        value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)
        return Condition(name, op, value, "string")
    if kind == "number":
        return Condition(name, op, float(text), "number")
    if kind == "datetime":
        normalized = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
        if "." in text:
            raise malformed(f"invalid dateTime literal: {text}")  # SOQL takes whole seconds
        return Condition(name, op, datetime.fromisoformat(normalized).timestamp(), "datetime")
    if kind == "date":
        return Condition(name, op, text, "date")
    if kind == "word" and text.lower() in ("true", "false"):
        return Condition(name, op, text.lower() == "true", "boolean")
    if kind == "word" and text.lower() == "null":
        return Condition(name, op, None, "null")
    raise malformed(f"unexpected token: '{text}'")


def run_query(store: SalesforceStore, query: Query) -> list[dict[str, Any]]:
    _known(query.object_name)
    schema = OBJECTS[query.object_name][1]
    for name in [*query.fields, *(c.field for c in query.where), *(f for f, _ in query.order)]:
        if name not in schema:
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{query.object_name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the "
                "custom field name.",
            )
    rows = [r for r in store.records[query.object_name].values() if _matches(r, query.where)]
    for name, descending in reversed(query.order or [("Id", False)]):
        rows.sort(key=lambda r, n=name: (r.get(n) is None, _sort_key(r.get(n))), reverse=descending)
    if query.limit is not None:
        rows = rows[: query.limit]
    return [{name: record.get(name) for name in query.fields} for record in rows]


def _sort_key(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    return value if value is not None else 0


def _matches(record: Mapping[str, Any], where: list[Condition]) -> bool:
    return all(_holds(record.get(c.field), c) for c in where)


def _holds(value: Any, condition: Condition) -> bool:
    op, wanted = condition.op, condition.value
    if condition.kind == "null":
        return (value is None) if op == "=" else (value is not None) if op == "!=" else False
    if value is None:
        return op == "!="
    if condition.kind == "datetime":
        value = parse_sf_time(value)
    elif condition.kind == "string":
        value, wanted = str(value).lower(), str(wanted).lower()
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    try:
        return compare[op](value, wanted)
    except TypeError:
        return False


def to_csv(fields: list[str], records: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for record in records:
        writer.writerow([_cell(record.get(name)) for name in fields])
    return buffer.getvalue().encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- the server ----------------------------------------------------------------------------


class SalesforceSimulator:
    def __init__(
        self,
        store: SalesforceStore,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        daily_limit: int = 15_000,
        min_batch_size: int = MIN_BATCH,
        results_page_size: int = 10_000,
    ) -> None:
        self.store = store
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_token = refresh_token
        self.daily_limit = daily_limit
        self.min_batch_size = min_batch_size
        self.results_page_size = results_page_size
        self.url = ""
        self.access_tokens: set[str] = set()
        self.api_usage = 0
        self.token_requests = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, URL, headers
        self._cursors: dict[str, tuple[list[dict[str, Any]], int, str]] = {}
        self.jobs: dict[str, BulkJob] = {}
        self.ingest_jobs: dict[str, IngestJob] = {}
        self.shuffle = random.Random(20240501)

    def revoke_sessions(self) -> None:
        self.access_tokens.clear()

    def app(self) -> Starlette:
        api = API_PATH
        return Starlette(
            routes=[
                Route("/services/oauth2/token", self._token, methods=["POST"]),
                Route(f"{api}/query", self._query, methods=["GET"]),
                Route(f"{api}/query/{{locator}}", self._query_more, methods=["GET"]),
                Route(f"{api}/sobjects/{{type}}/deleted/", self._deleted, methods=["GET"]),
                Route(f"{api}/sobjects/{{type}}/deleted", self._deleted, methods=["GET"]),
                Route(f"{api}/sobjects/{{type}}", self._create, methods=["POST"]),
                Route(
                    f"{api}/sobjects/{{type}}/{{id}}",
                    self._record,
                    methods=["GET", "PATCH", "DELETE"],
                ),
                Route(
                    f"{api}/composite/sobjects",
                    self._collection,
                    methods=["POST", "PATCH", "DELETE"],
                ),
                Route(
                    f"{api}/composite/sobjects/{{type}}/{{field}}",
                    self._upsert,
                    methods=["PATCH"],
                ),
                Route(f"{api}/jobs/query", self._create_job, methods=["POST"]),
                Route(f"{api}/jobs/query/{{id}}", self._job, methods=["GET"]),
                Route(f"{api}/jobs/query/{{id}}/results", self._results, methods=["GET"]),
                Route(f"{api}/jobs/ingest", self._create_ingest, methods=["POST"]),
                Route(f"{api}/jobs/ingest/", self._create_ingest, methods=["POST"]),
                Route(f"{api}/jobs/ingest/{{id}}", self._ingest_job, methods=["GET", "PATCH"]),
                Route(f"{api}/jobs/ingest/{{id}}/batches", self._ingest_data, methods=["PUT"]),
                *[
                    Route(
                        f"{api}/jobs/ingest/{{id}}/{kind}{slash}",
                        self._ingest_results,
                        methods=["GET"],
                    )
                    for kind in ("successfulResults", "failedResults", "unprocessedrecords")
                    for slash in ("", "/")
                ],
            ]
        )

    # --- answers ------------------------------------------------------------------------

    def _answer(
        self, status: int, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> Response:
        limit = {"Sforce-Limit-Info": f"api-usage={self.api_usage}/{self.daily_limit}"}
        if body is None:
            return Response(status_code=status, headers={**limit, **(headers or {})})
        return Response(
            orjson.dumps(body),
            status_code=status,
            media_type="application/json;charset=UTF-8",
            headers={**limit, **(headers or {})},
        )

    def _error(self, error: SalesforceError) -> Response:
        return self._answer(error.status, error.body())

    async def _guard(self, request: Request) -> None:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.access_tokens:
            raise SalesforceError(401, "INVALID_SESSION_ID", SESSION_INVALID)
        self.requests.append((request.method, str(request.url), dict(request.headers)))
        if self.api_usage >= self.daily_limit:
            raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", LIMIT_EXCEEDED)
        self.api_usage += 1

    async def _run(self, request: Request, handler: Callable[[], Any]) -> Response:
        try:
            await self._guard(request)
            result = await handler()
        except SalesforceError as error:
            return self._error(error)
        if isinstance(result, Response):
            return result
        return self._answer(200, result)

    async def _json(self, request: Request) -> Any:
        try:
            return orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise SalesforceError(
                400, "JSON_PARSER_ERROR", f"Unexpected character ({exc})"
            ) from exc

    def _shaped(self, object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{API_PATH}/sobjects/{object_name}/{record.get('Id')}"
        return {"attributes": {"type": object_name, "url": url}, **record}

    # --- OAuth --------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        self.token_requests += 1
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("grant_type") != "refresh_token":
            return self._oauth_error("unsupported_grant_type", "grant type not supported")
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return self._oauth_error("invalid_client", INVALID_CLIENT)
        if form.get("refresh_token") != self.refresh_token:
            return self._oauth_error("invalid_grant", INVALID_GRANT)
        token = f"00D5g000004Xyz!{secrets.token_urlsafe(40)}"
        self.access_tokens.add(token)
        return Response(
            orjson.dumps(
                {
                    "access_token": token,
                    "signature": secrets.token_urlsafe(32),
                    "scope": "refresh_token api",
                    "instance_url": self.url,
                    "id": f"{self.url}/id/00D5g000004Xyz/0055g00000AbcDe",
                    "token_type": "Bearer",
                    "issued_at": str(int(time.time() * 1000)),
                }
            ),
            media_type="application/json",
        )

    @staticmethod
    def _oauth_error(error: str, description: str) -> Response:
        return Response(
            orjson.dumps({"error": error, "error_description": description}),
            status_code=400,
            media_type="application/json",
        )

    # --- query --------------------------------------------------------------------------

    async def _query(self, request: Request) -> Response:
        async def handle() -> Any:
            text = request.query_params.get("q")
            if not text:
                raise malformed("A query string is required (q)")
            query = parse_soql(text)
            rows = [self._shaped(query.object_name, r) for r in run_query(self.store, query)]
            size = self._batch_size(request.headers.get("sforce-query-options", ""))
            locator = f"01g5g00000{secrets.token_hex(4).upper()}"
            self._cursors[locator] = (rows, size, query.object_name)
            return self._page(locator, 0)

        return await self._run(request, handle)

    async def _query_more(self, request: Request) -> Response:
        async def handle() -> Any:
            locator, _, offset = request.path_params["locator"].rpartition("-")
            if locator not in self._cursors or not offset.isdigit():
                raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(locator, int(offset))

        return await self._run(request, handle)

    def _batch_size(self, options: str) -> int:
        for part in options.split(","):
            name, _, value = part.strip().partition("=")
            if name == "batchSize" and value.strip().isdigit():
                return max(self.min_batch_size, min(int(value), DEFAULT_BATCH))
        return DEFAULT_BATCH

    def _page(self, locator: str, offset: int) -> dict[str, Any]:
        rows, size, _ = self._cursors[locator]
        page = rows[offset : offset + size]
        done = offset + size >= len(rows)
        body: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": page}
        if not done:
            body["nextRecordsUrl"] = f"{API_PATH}/query/{locator}-{offset + size}"
        return body

    # --- records ------------------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        async def handle() -> Any:
            object_name = _known(request.path_params["type"])
            body = await self._json(request)
            if not isinstance(body, dict):
                raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected an object")
            record = self.store.create(object_name, body)
            return self._answer(201, {"id": record["Id"], "success": True, "errors": []})

        return await self._run(request, handle)

    async def _record(self, request: Request) -> Response:
        async def handle() -> Any:
            object_name = _known(request.path_params["type"])
            record_id = request.path_params["id"]
            if request.method == "GET":
                return self._shaped(object_name, self.store.get(object_name, record_id))
            if request.method == "PATCH":
                body = await self._json(request)
                if not isinstance(body, dict):
                    raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected an object")
                self.store.update(object_name, record_id, body)
                return self._answer(204)
            self.store.delete(object_name, record_id)
            return self._answer(204)

        return await self._run(request, handle)

    async def _deleted(self, request: Request) -> Response:
        async def handle() -> Any:
            object_name = _known(request.path_params["type"])
            start, end = (self._replication_param(request, name) for name in ("start", "end"))
            now = self.store.clock.now()
            if start < now - REPLICATION_DAYS * 86_400:
                raise SalesforceError(
                    400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago"
                )
            if end < start:
                raise SalesforceError(
                    400, "INVALID_REPLICATION_DATE", "endDate must be after startDate"
                )
            log = self.store.deleted[object_name]
            found = [
                {"id": record_id, "deletedDate": sf_time(at)}
                for record_id, at in log
                if start <= at <= end + 59.999
            ]
            return {
                "deletedRecords": found,
                "earliestDateAvailable": sf_time(min((at for _, at in log), default=now)),
                "latestDateCovered": sf_time(min(end, now)),
            }

        return await self._run(request, handle)

    @staticmethod
    def _replication_param(request: Request, name: str) -> float:
        text = request.query_params.get(name)
        if not text:
            raise SalesforceError(400, "MISSING_ARGUMENT", f"{name} must be specified")
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise SalesforceError(
                400, "INVALID_REPLICATION_DATE", f"{name}: invalid date {text}"
            ) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.replace(second=0, microsecond=0).timestamp()  # seconds are ignored

    # --- sObject collections ------------------------------------------------------------

    async def _collection(self, request: Request) -> Response:
        async def handle() -> Any:
            if request.method == "DELETE":
                ids = [i for i in request.query_params.get("ids", "").split(",") if i]
                self._check_size(ids)
                all_or_none = request.query_params.get("allOrNone", "false") == "true"
                return (
                    [self._one(lambda i=i: self._delete_by_id(i), record_id=i) for i in ids]
                    if not all_or_none
                    else self._all_or_none(ids)
                )
            body = await self._json(request)
            records = self._records_of(body)
            results = []
            for record in records:
                fields = {k: v for k, v in record.items() if k != "attributes"}
                object_name = (record.get("attributes") or {}).get("type")
                if request.method == "POST":
                    results.append(
                        self._one(lambda o=object_name, f=fields: self._create_one(o, f))
                    )
                else:
                    record_id = fields.pop("Id", None)
                    results.append(
                        self._one(
                            lambda o=object_name, r=record_id, f=fields: self._update_one(o, r, f),
                            record_id=record_id,
                        )
                    )
            return results

        return await self._run(request, handle)

    async def _upsert(self, request: Request) -> Response:
        async def handle() -> Any:
            object_name = _known(request.path_params["type"])
            key = request.path_params["field"]
            if key != "Id" and key not in OBJECTS[object_name][1]:
                raise SalesforceError(
                    400,
                    "INVALID_FIELD",
                    f"Provided external ID field does not exist or is not accessible: {key}",
                )
            records = self._records_of(await self._json(request))
            results = []
            for record in records:
                fields = {k: v for k, v in record.items() if k != "attributes"}
                results.append(self._upsert_one(object_name, key, fields))
            return results

        return await self._run(request, handle)

    def _upsert_one(self, object_name: str, key: str, fields: dict[str, Any]) -> dict[str, Any]:
        value = fields.get(key)
        try:
            if key == "Id":
                fields.pop("Id", None)
                if value:
                    self.store.update(object_name, str(value), fields)
                    return {"id": value, "success": True, "errors": [], "created": False}
                created = self.store.create(object_name, fields)
                return {"id": created["Id"], "success": True, "errors": [], "created": True}
            matches = [
                r
                for r in self.store.records[object_name].values()
                if value is not None and r.get(key) == value
            ]
            if len(matches) > 1:
                raise SalesforceError(
                    300, "DUPLICATE_EXTERNAL_ID", f"{key} matches several records"
                )
            if matches:
                self.store.update(object_name, matches[0]["Id"], fields)
                return {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}
            created = self.store.create(object_name, fields)
            return {"id": created["Id"], "success": True, "errors": [], "created": True}
        except SalesforceError as error:
            return {"success": False, "errors": [error.record_error()], "created": False}

    @staticmethod
    def _records_of(body: Any) -> list[dict[str, Any]]:
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a records list")
        SalesforceSimulator._check_size(records)
        return records

    @staticmethod
    def _check_size(items: list[Any]) -> None:
        if len(items) > MAX_COLLECTION:
            raise SalesforceError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COLLECTION} records "
                "into this call",
            )

    def _create_one(self, object_name: Any, fields: dict[str, Any]) -> str:
        if not isinstance(object_name, str):
            raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        return str(self.store.create(_known(object_name), fields)["Id"])

    def _update_one(self, object_name: Any, record_id: Any, fields: dict[str, Any]) -> str:
        if not isinstance(object_name, str):
            raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        if not isinstance(record_id, str) or not record_id:
            raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call")
        self.store.update(_known(object_name), record_id, fields)
        return record_id

    def _delete_by_id(self, record_id: str) -> str:
        for object_name, (prefix, _) in OBJECTS.items():
            if record_id.startswith(prefix) and record_id in self.store.records[object_name]:
                self.store.delete(object_name, record_id)
                return record_id
        raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")

    def _all_or_none(self, ids: list[str]) -> list[dict[str, Any]]:
        raise SalesforceError(400, "INVALID_OPERATION", "allOrNone deletes are not simulated")

    @staticmethod
    def _one(action: Callable[[], str], *, record_id: Any = None) -> dict[str, Any]:
        try:
            return {"id": action(), "success": True, "errors": []}
        except SalesforceError as error:
            result: dict[str, Any] = {"success": False, "errors": [error.record_error()]}
            if record_id:
                result["id"] = record_id
            return result

    # --- Bulk API 2.0 query -------------------------------------------------------------

    async def _create_job(self, request: Request) -> Response:
        async def handle() -> Any:
            body = await self._json(request)
            if not isinstance(body, dict) or body.get("operation") not in ("query", "queryAll"):
                raise SalesforceError(400, "INVALIDJOB", "operation must be query or queryAll")
            text = body.get("query")
            if not isinstance(text, str):
                raise SalesforceError(400, "INVALIDJOB", "query is required")
            query = parse_soql(text)
            if query.order:
                raise SalesforceError(
                    400, "INVALIDJOB", "ORDER BY is not supported by Bulk API 2.0 query"
                )
            rows = run_query(self.store, query)
            job = BulkJob(
                f"7505g00000{secrets.token_hex(4).upper()}",
                query.object_name,
                text,
                query.fields,
                rows,
            )
            self.jobs[job.id] = job
            return self._job_body(job)

        return await self._run(request, handle)

    def _job_body(self, job: BulkJob) -> dict[str, Any]:
        return {
            "id": job.id,
            "operation": "query",
            "object": job.object_name,
            "createdById": "0055g00000AbcDe",
            "state": job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": 60.0,
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }

    async def _job(self, request: Request) -> Response:
        async def handle() -> Any:
            job = self._known_job(request.path_params["id"])
            job.state = {"UploadComplete": "InProgress", "InProgress": "JobComplete"}.get(
                job.state, job.state
            )
            body = self._job_body(job)
            if job.state == "JobComplete":
                body["numberRecordsProcessed"] = len(job.records)
            return body

        return await self._run(request, handle)

    async def _results(self, request: Request) -> Response:
        async def handle() -> Any:
            job = self._known_job(request.path_params["id"])
            if job.state != "JobComplete":
                raise SalesforceError(400, "INVALIDJOB", f"The job {job.id} is not complete")
            locator = request.query_params.get("locator") or "0"
            if not locator.isdigit():
                raise SalesforceError(400, "INVALIDLOCATOR", "the locator is invalid")
            size = int(request.query_params.get("maxRecords") or self.results_page_size)
            start = int(locator)
            page = job.records[start : start + size]
            following = str(start + size) if start + size < len(job.records) else "null"
            return Response(
                to_csv(job.fields, page),
                media_type="text/csv",
                headers={
                    "Sforce-Locator": following,
                    "Sforce-NumberOfRecords": str(len(page)),
                    "Sforce-Limit-Info": f"api-usage={self.api_usage}/{self.daily_limit}",
                },
            )

        return await self._run(request, handle)

    def _known_job(self, job_id: str) -> BulkJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise SalesforceError(404, "NOT_FOUND", f"Job {job_id} not found")
        return job

    # --- Bulk API 2.0 ingest ------------------------------------------------------------

    def _ingest_body(self, job: IngestJob) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.object_name,
            "createdById": "0055g00000AbcDe",
            "state": job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": 60.0,
            "jobType": "V2Ingest",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "contentUrl": f"services/data/v60.0/jobs/ingest/{job.id}/batches",
        }
        if job.external_id:
            body["externalIdFieldName"] = job.external_id
        if job.state in ("JobComplete", "Failed"):
            body["numberRecordsProcessed"] = len(job.successful) + len(job.failed)
            body["numberRecordsFailed"] = len(job.failed)
        if job.error:
            body["errorMessage"] = job.error
        return body

    async def _create_ingest(self, request: Request) -> Response:
        async def handle() -> Any:
            body = await self._json(request)
            if not isinstance(body, dict):
                raise SalesforceError(400, "INVALIDJOB", "the job must be a JSON object")
            object_name = _known(str(body.get("object")))
            operation = body.get("operation")
            if operation not in INGEST_OPERATIONS:
                raise SalesforceError(
                    400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}"
                )
            if body.get("contentType", "CSV") != "CSV":
                raise SalesforceError(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
            external = body.get("externalIdFieldName")
            if operation == "upsert":
                if not isinstance(external, str) or not external:
                    raise SalesforceError(
                        400, "INVALIDJOB", "InvalidJob : External ID was blank for upsert"
                    )
                if external != "Id" and external not in OBJECTS[object_name][1]:
                    raise SalesforceError(
                        400,
                        "INVALIDJOB",
                        f"InvalidJob : Field name provided, {external} does not match an "
                        f"External ID, Salesforce Id, or indexed field for {object_name}",
                    )
            job = IngestJob(
                f"7505g00001{secrets.token_hex(4).upper()}",
                object_name,
                operation,
                external if operation == "upsert" else None,
            )
            self.ingest_jobs[job.id] = job
            return self._ingest_body(job)

        return await self._run(request, handle)

    async def _ingest_data(self, request: Request) -> Response:
        async def handle() -> Any:
            job = self._known_ingest(request.path_params["id"])
            if not request.headers.get("content-type", "").startswith("text/csv"):
                raise SalesforceError(
                    400, "INVALIDCONTENTTYPE", "the content type must be text/csv"
                )
            if job.state != "Open":
                raise SalesforceError(
                    409, "INVALIDJOBSTATE", f"the job {job.id} is {job.state}, not Open"
                )
            job.data.append(await request.body())
            return Response(status_code=201)

        return await self._run(request, handle)

    async def _ingest_job(self, request: Request) -> Response:
        async def handle() -> Any:
            job = self._known_ingest(request.path_params["id"])
            if request.method == "PATCH":
                wanted = (await self._json(request) or {}).get("state")
                if wanted == "UploadComplete" and job.state == "Open":
                    job.state = "UploadComplete"
                elif wanted == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
                    job.state = "Aborted"
                else:
                    raise SalesforceError(
                        400,
                        "INVALIDJOBSTATE",
                        f"the job {job.id} is {job.state}: it cannot become {wanted}",
                    )
                return self._ingest_body(job)
            if job.state == "UploadComplete":
                job.state = "InProgress"
            elif job.state == "InProgress":
                self._process(job)
            return self._ingest_body(job)

        return await self._run(request, handle)

    def _process(self, job: IngestJob) -> None:
        rows: list[list[str]] = []
        for data in job.data:
            header, *lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
            if job.header and header != job.header:
                job.state, job.error = "Failed", "InvalidBatch : the uploads' headers differ"
                return
            job.header = header
            rows += [line for line in lines if line]
        schema = OBJECTS[job.object_name][1]
        unknown = [name for name in job.header if name != "Id" and name not in schema]
        if unknown:
            job.state = "Failed"
            job.error = f"InvalidBatch : Field name not found : {unknown[0]}"
            job.unprocessed = rows
            return
        for cells in rows:
            try:
                record_id, created = self._ingest_row(
                    job, dict(zip(job.header, cells, strict=True))
                )
            except SalesforceError as error:
                message = f"{error.code}:{error.message}:{','.join(error.fields)} --"
                job.failed.append(["", message, *cells])
            else:
                job.successful.append([record_id, "true" if created else "false", *cells])
        job.state = "JobComplete"

    def _ingest_row(self, job: IngestJob, cells: dict[str, str]) -> tuple[str, bool]:
        schema = OBJECTS[job.object_name][1]
        fields: dict[str, Any] = {}
        for name, cell in cells.items():
            if cell == "":
                continue
            fields[name] = None if cell == NULL_CELL else _from_cell(name, schema, cell)
        if job.operation == "insert":
            return str(self.store.create(job.object_name, fields)["Id"]), True
        if job.operation == "upsert":
            assert job.external_id is not None
            result = self._upsert_one(job.object_name, job.external_id, fields)
            if not result["success"]:
                error = result["errors"][0]
                raise SalesforceError(
                    400, error["statusCode"], error["message"], error.get("fields")
                )
            return str(result["id"]), bool(result["created"])
        record_id = fields.pop("Id", None)
        if not isinstance(record_id, str) or not record_id:
            raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call")
        if job.operation == "update":
            self.store.update(job.object_name, record_id, fields)
        else:
            self.store.delete(job.object_name, record_id)
        return record_id, False

    async def _ingest_results(self, request: Request) -> Response:
        async def handle() -> Any:
            job = self._known_ingest(request.path_params["id"])
            kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
            if job.state not in ("JobComplete", "Failed", "Aborted"):
                raise SalesforceError(
                    400, "INVALIDJOBSTATE", f"the job {job.id} is {job.state}: not finished"
                )
            if kind == "successfulResults":
                header, rows = ["sf__Id", "sf__Created", *job.header], job.successful
            elif kind == "failedResults":
                header, rows = ["sf__Id", "sf__Error", *job.header], job.failed
            else:
                header, rows = job.header, job.unprocessed
                if job.state == "Aborted" and job.data and not job.header:
                    header, *rows = list(csv.reader(io.StringIO(job.data[0].decode())))
            shuffled = list(rows)
            self.shuffle.shuffle(shuffled)
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if header:
                writer.writerow(header)
            writer.writerows(shuffled)
            return Response(buffer.getvalue().encode(), media_type="text/csv")

        return await self._run(request, handle)

    def _known_ingest(self, job_id: str) -> IngestJob:
        job = self.ingest_jobs.get(job_id)
        if job is None:
            raise SalesforceError(404, "NOT_FOUND", f"Job {job_id} not found")
        return job


def _from_cell(name: str, schema: Mapping[str, tuple[str, bool, bool]], cell: str) -> Any:
    kind = schema[name][0] if name in schema else STRING
    try:
        if kind == BOOLEAN:
            if cell.lower() not in ("true", "false"):
                raise ValueError(cell)
            return cell.lower() == "true"
        if kind == INTEGER:
            return int(cell)
        if kind == NUMBER:
            return float(cell) if "." in cell or "e" in cell.lower() else int(cell)
    except ValueError:
        raise SalesforceError(
            400,
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{name}: value not of required type: {cell}",
            [name],
        ) from None
    return cell


@dataclass
class RunningSalesforce:
    url: str
    store: SalesforceStore
    simulator: SalesforceSimulator


@contextlib.asynccontextmanager
async def running_salesforce(
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    seed_count: int = 12,
    store: SalesforceStore | None = None,
    **options: Any,
) -> AsyncIterator[RunningSalesforce]:
    """A seeded org on a free loopback port (instance and login host at once)."""
    store = store or SalesforceStore()
    seed(store, seed_count)
    simulator = SalesforceSimulator(
        store,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        **options,
    )
    async with serving(simulator.app()) as url:
        simulator.url = url
        yield RunningSalesforce(url, store, simulator)
