"""Generic format features first used by Salesforce: object aliases, creates answering an id
only, batch requests per action (another method, a path with {id_property}, ids in a
parameter, fixed body and input members, `created` flags), CSV exports paged by a locator
header, and the `prepare_export` hook."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from interlink.elements.definition import ElementDefinition
from interlink.errors import NotFound
from interlink.vendor import Hooks, RateLimiterRegistry, VendorClient
from interlink.vendor.exports import csv_records
from interlink.vendor.hooks import ExportContext

FIELDS = [
    {"name": "Id", "type": "string", "read_only": True},
    {"name": "Name", "type": "string"},
    {"name": "Employees", "type": "integer"},
    {"name": "Revenue", "type": "number"},
    {"name": "Active", "type": "boolean"},
]


def element(**object_fields: Any) -> ElementDefinition:
    return ElementDefinition.model_validate(
        {
            "key": "acme",
            "name": "Acme",
            "base_url": "https://acme.example/api",
            "objects": {
                "Account": {
                    "path": "/accounts",
                    "id_field": "Id",
                    "aliases": ["accounts"],
                    "fields": FIELDS,
                    **object_fields,
                }
            },
        }
    )


def client(
    definition: ElementDefinition,
    handler: Callable[[httpx.Request], httpx.Response],
    hooks: Hooks | None = None,
) -> VendorClient:
    return VendorClient(
        definition,
        {},
        transport=httpx.MockTransport(handler),
        limiters=RateLimiterRegistry(),
        hooks=hooks,
    )


# --- aliases -------------------------------------------------------------------------------


def test_an_alias_finds_its_object() -> None:
    definition = element()
    assert definition.object_name("accounts") == "Account"
    assert definition.object_name("Account") == "Account"
    assert definition.object_name("account") is None
    assert definition.find_object("accounts") is definition.objects["Account"]


@pytest.mark.parametrize(
    ("aliases", "words"),
    [(["Account"], "is the name of an object"), (["a b"], "letters, digits")],
)
def test_aliases_are_checked(aliases: list[str], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        element(aliases=aliases)


def test_an_alias_belongs_to_one_object() -> None:
    with pytest.raises(ValidationError, match="already an alias of 'Account'"):
        ElementDefinition.model_validate(
            {
                "key": "acme",
                "name": "Acme",
                "base_url": "https://acme.example",
                "objects": {
                    "Account": {"path": "/a", "aliases": ["things"]},
                    "Contact": {"path": "/c", "aliases": ["things"]},
                },
            }
        )


async def test_the_client_takes_aliases() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Id": "001", "Name": "A"})

    async with client(element(), handler) as vendor:
        assert (await vendor.get("accounts", "001"))["id"] == "001"
        with pytest.raises(NotFound):
            await vendor.get("account", "001")


# --- a create answering its id only --------------------------------------------------------


async def test_a_create_answering_an_id_reads_the_record_back() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            return httpx.Response(201, json={"id": "001X", "success": True, "errors": []})
        return httpx.Response(200, json={"Id": "001X", "Name": "Read back"})

    definition = element(create={"method": "POST", "path": "/accounts", "answer_id_path": "id"})
    async with client(definition, handler) as vendor:
        created = await vendor.create("Account", {"Name": "Read back"})

    assert created == {"id": "001X", "Id": "001X", "Name": "Read back"}
    assert seen == ["POST /api/accounts", "GET /api/accounts/001X"]


# --- batch requests per action -------------------------------------------------------------

COLLECTIONS = {
    "path": "/composite",
    "max_size": 2,
    "actions": ["create", "update", "upsert", "delete"],
    "action_key": None,
    "id_property_key": None,
    "inputs_key": "records",
    "body": {"allOrNone": False},
    "input_fields": {"attributes": {"type": "Account"}},
    "requests": {
        "update": {"method": "PATCH"},
        "upsert": {"method": "PATCH", "path": "/composite/Account/{id_property}"},
        "delete": {"method": "DELETE", "ids_param": "ids"},
    },
    "results_path": "",
    "result_error_path": "errors.0",
    "result_created_field": "created",
}


def test_a_batch_request_path_takes_id_property_only() -> None:
    with pytest.raises(ValidationError, match="unknown placeholder"):
        element(batch={**COLLECTIONS, "requests": {"upsert": {"path": "/x/{id}"}}})


async def test_batch_requests_per_action() -> None:
    sent: list[tuple[str, str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        sent.append((request.method, str(request.url), body))
        count = len(body["records"]) if body else len(request.url.params["ids"].split(","))
        results: list[dict[str, Any]] = [
            {"id": f"001{index}", "success": True, "errors": [], "created": index == 0}
            for index in range(count)
        ]
        results[-1] = {
            "success": False,
            "errors": [{"statusCode": "X", "message": "refused", "fields": []}],
        }
        return httpx.Response(200, json=results)

    async with client(element(batch=COLLECTIONS), handler) as vendor:
        created = await vendor.batch("accounts", "create", [{"Name": "a"}, {"Name": "b"}])
        updated = await vendor.batch("Account", "update", [{"Id": "0011", "Name": "c"}])
        upserted = await vendor.batch(
            "Account", "upsert", [{"Code__c": "k", "Name": "d"}, {"Name": "e"}], "Code__c"
        )
        deleted = await vendor.batch("Account", "delete", [{"Id": "0011"}, {"Id": "0012"}])

    assert sent[0] == (
        "POST",
        "https://acme.example/api/composite",
        {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "a"},
                {"attributes": {"type": "Account"}, "Name": "b"},
            ],
        },
    )
    assert [(o.ok, o.id, o.error) for o in created] == [
        (True, "0010", None),
        (False, None, "refused"),
    ]
    assert sent[1][0] == "PATCH"
    assert sent[1][2]["records"] == [{"attributes": {"type": "Account"}, "Id": "0011", "Name": "c"}]
    assert not updated[0].ok
    assert sent[2][:2] == ("PATCH", "https://acme.example/api/composite/Account/Code__c")
    assert [o.status for o in upserted] == [201, None]
    assert sent[3] == ("DELETE", "https://acme.example/api/composite?ids=0011%2C0012", None)
    assert [o.ok for o in deleted] == [True, False]


# --- CSV exports in pages chained by a locator header --------------------------------------

EXPORT = {
    "start": {"method": "POST", "path": "/jobs"},
    "status": {"path": "/jobs/{export_id}"},
    "status_path": "state",
    "complete_values": ["done"],
    "download": {"path": "/jobs/{export_id}/results"},
    "download_format": "csv",
    "locator_header": "Next-Page",
}
PAGES = {
    None: (
        b"Id,Name,Employees,Revenue,Active,Owner.Name\n"
        b'1,"Multi\nline, ""quoted""",10,1.5,true,Ann\n',
        "p2",
    ),
    "p2": (b"Id,Name,Employees,Revenue,Active,Owner.Name\r\n2,,,,false,\r\n", "null"),
}


async def test_a_csv_export_is_read_page_by_page_and_typed_by_the_fields() -> None:
    starts: list[Any] = []
    asked: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            starts.append(json.loads(request.content))
            return httpx.Response(200, json={"id": "j1"})
        if request.url.path.endswith("/results"):
            locator = request.url.params.get("locator")
            asked.append(locator)
            content, following = PAGES[locator]
            return httpx.Response(200, content=content, headers={"Next-Page": following})
        return httpx.Response(200, json={"state": "done"})

    def prepare_export(body: dict[str, Any], context: ExportContext, /) -> dict[str, Any]:
        return {"query": f"all of {context.object_name}", "since": context.updated_since}

    hooks = Hooks(prepare_export=prepare_export)
    async with client(element(bulk_export=EXPORT), handler, hooks) as vendor:
        export_id = await vendor.start_export("accounts")
        assert (await vendor.export_state("accounts", export_id)).status == "complete"
        records = [record async for record in vendor.export_records("accounts", export_id)]

    assert starts == [{"query": "all of accounts", "since": None}]
    assert asked == [None, "p2"]
    assert records == [
        {
            "id": "1",
            "Id": "1",
            "Name": 'Multi\nline, "quoted"',
            "Employees": 10,
            "Revenue": 1.5,
            "Active": True,
            "Owner": {"Name": "Ann"},
        },
        {
            "id": "2",
            "Id": "2",
            "Name": None,
            "Employees": None,
            "Revenue": None,
            "Active": False,
            "Owner": {"Name": None},
        },
    ]


async def test_a_csv_file_that_cannot_be_read_fails_loudly() -> None:
    from interlink.vendor import FatalVendorError

    async def chunks(*parts: bytes) -> Any:
        for part in parts:
            yield part

    obj = element().objects["Account"]
    with pytest.raises(FatalVendorError, match="has 3 cells, the header 2"):
        async for _ in csv_records(chunks(b"Id,Name\n1,a,b\n"), obj, where="test"):
            pass
    with pytest.raises(FatalVendorError, match="ends inside a quoted cell"):
        async for _ in csv_records(chunks(b'Id,Name\n1,"open\n'), obj, where="test"):
            pass
    with pytest.raises(FatalVendorError, match="must be an integer"):
        async for _ in csv_records(chunks(b"Id,Employees\n1,many\n"), obj, where="test"):
            pass
