"""The `salesforce` element on the Salesforce simulator: what the conformance suite does not
check.

SOQL built from the definition, nextRecordsUrl paging with Sforce-Query-Options, aliases,
the OAuth refresh (no expires_in; a revoked session renewed once), Salesforce's error
arrays and REQUEST_LIMIT_EXCEEDED, getDeleted's window, sObject collections (update,
delete by ids, upsert by Id with `created`), and Bulk API 2.0 query results read as CSV
pages through Sforce-Locator.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from interlink.elements.catalog import builtin_elements
from interlink.security.outbound import guarded_transport
from interlink.vendor import (
    RateLimiterRegistry,
    RecordNotFound,
    RecordRejected,
    RetryableVendorError,
    VendorAuthError,
    VendorClient,
)
from tests.simulators.salesforce import (
    INVALID_CLIENT,
    LIMIT_EXCEEDED,
    SESSION_INVALID,
    RunningSalesforce,
    SalesforceError,
    SalesforceStore,
    parse_soql,
    run_query,
    running_salesforce,
    seed,
)

CLIENT_ID = "3MVG9-simulator"
CLIENT_SECRET = secrets.token_hex(16)
REFRESH_TOKEN = f"5Aep861{secrets.token_hex(16)}"


@pytest.fixture
async def salesforce() -> AsyncIterator[RunningSalesforce]:
    async with running_salesforce(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        seed_count=450,
        results_page_size=100,
    ) as running:
        yield running


def client_on(salesforce: RunningSalesforce, **overrides: Any) -> VendorClient:
    config = {
        "instance_url": salesforce.url,
        "login_url": salesforce.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        **overrides,
    }
    return VendorClient(
        builtin_elements()["salesforce"],
        config,
        transport=guarded_transport(allow_private=True),
        limiters=RateLimiterRegistry(),
        timeout=10.0,
        sleep=_no_sleep,
    )


async def _no_sleep(seconds: float) -> None:
    return None


def _queries(salesforce: RunningSalesforce) -> list[tuple[str, dict[str, str]]]:
    return [
        (parse_qs(urlsplit(url).query).get("q", [""])[0], headers)
        for method, url, headers in salesforce.simulator.requests
        if method == "GET" and "/query" in url
    ]


async def test_lists_are_soql_of_the_declared_fields_paged_by_next_records_url(
    salesforce: RunningSalesforce,
) -> None:
    async with client_on(salesforce) as client:
        pages = [page async for page in client.iterate_pages("contacts", page_size=200)]

    assert [len(page.records) for page in pages] == [200, 200, 50]
    ids = [record["id"] for page in pages for record in page.records]
    assert ids == sorted(ids)
    assert len(set(ids)) == 450
    assert all("attributes" not in record for page in pages for record in page.records)
    soql, headers = _queries(salesforce)[0]
    element = builtin_elements()["salesforce"]
    fields = [field.name for field in element.objects["Contact"].fields or []]
    assert soql == f"SELECT {', '.join(fields)} FROM Contact ORDER BY Id ASC"
    assert headers["sforce-query-options"] == "batchSize=200"
    # The next pages follow nextRecordsUrl: the locator, no query of their own.
    more = [url for method, url, _ in salesforce.simulator.requests if "/query/01g" in url]
    assert len(more) == 2


async def test_without_a_batch_size_salesforce_pages_by_2000(
    salesforce: RunningSalesforce,
) -> None:
    async with client_on(salesforce) as client:
        page = await client.list_page("Account")
    assert len(page.records) == 450
    assert page.next_state is None


async def test_a_batch_size_below_200_is_answered_with_200(salesforce: RunningSalesforce) -> None:
    async with client_on(salesforce) as client:
        page = await client.list_page("Opportunity", page_size=5)
    # As documented: 200 is the minimum, and the batch size asked is not guaranteed.
    assert len(page.records) == 200


async def test_filters_and_changed_since_become_soql_conditions(
    salesforce: RunningSalesforce,
) -> None:
    store = salesforce.store
    store.clock.advance(61)
    since = datetime.fromtimestamp(store.clock.now(), UTC)
    store.clock.advance(61)
    fresh = store.create("Contact", {"LastName": "O'Brien \\ Co", "Title": "CEO"})
    store.update("Contact", next(iter(store.records["Contact"])), {"Title": "Engineer"})

    async with client_on(salesforce) as client:
        filtered = await client.list_page("contacts", filters={"LastName": "O'Brien \\ Co"})
        changed = await client.list_page("contacts", changed_since=since)
        both = await client.list_page("contacts", filters={"Title": "ceo"}, changed_since=since)

    assert [record["id"] for record in filtered.records] == [fresh["Id"]]
    assert {record["id"] for record in changed.records} == {
        fresh["Id"],
        next(iter(store.records["Contact"])),
    }
    # Salesforce compares text case-insensitively; the hub's local check is exact.
    assert [record["id"] for record in both.records] == [fresh["Id"]]
    soqls = [soql for soql, _ in _queries(salesforce)]
    assert "WHERE LastName = 'O\\'Brien \\\\ Co' ORDER BY Id ASC" in soqls[0]
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert soqls[1].endswith(f"WHERE SystemModstamp >= {stamp} ORDER BY SystemModstamp ASC, Id ASC")


async def test_create_reads_the_record_back_and_update_answers_204(
    salesforce: RunningSalesforce,
) -> None:
    async with client_on(salesforce) as client:
        created = await client.create("Contact", {"LastName": "Lovelace", "Email": "a@b.co"})
        updated = await client.update("contacts", created["id"], {"Title": "Countess"})
        await client.delete("contacts", created["id"])
        with pytest.raises(RecordNotFound) as caught:
            await client.get("contacts", created["id"])

    assert created["Id"] == created["id"]
    assert created["SystemModstamp"].endswith("+0000")
    assert updated["Title"] == "Countess"
    assert caught.value.status == 404
    assert caught.value.vendor_message == "The requested resource does not exist"


async def test_refusals_carry_salesforces_error_array(salesforce: RunningSalesforce) -> None:
    async with client_on(salesforce) as client:
        with pytest.raises(RecordRejected) as caught:
            await client.create("Contact", {"FirstName": "No last name"})
        with pytest.raises(RecordRejected) as unknown:
            await client.create("Contact", {"LastName": "X", "Shoe_Size__c": 42})

    assert caught.value.status == 400
    assert caught.value.body == [
        {
            "message": "Required fields are missing: [LastName]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName"],
        }
    ]
    assert "No such column 'Shoe_Size__c'" in (unknown.value.vendor_message or "")


async def test_access_tokens_are_refreshed_once_without_expiry_and_after_401(
    salesforce: RunningSalesforce,
) -> None:
    async with client_on(salesforce) as client:
        await client.list_page("Account", page_size=1)
        await client.list_page("Account", page_size=1)
        assert salesforce.simulator.token_requests == 1  # no expires_in: kept until refused
        salesforce.simulator.revoke_sessions()
        await client.list_page("Account", page_size=1)
    assert salesforce.simulator.token_requests == 2


async def test_wrong_client_credentials_are_an_auth_error(salesforce: RunningSalesforce) -> None:
    async with client_on(salesforce, client_secret="wrong") as client:
        with pytest.raises(VendorAuthError) as caught:
            await client.check()
    assert caught.value.vendor_message is not None
    assert INVALID_CLIENT in caught.value.vendor_message


async def test_an_invalid_session_answers_salesforces_401(salesforce: RunningSalesforce) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.get(
            f"{salesforce.url}/services/data/v60.0/query",
            params={"q": "SELECT Id FROM Account"},
            headers={"Authorization": "Bearer 00Dexpired"},
        )
    assert answer.status_code == 401
    assert answer.json() == [
        {"message": SESSION_INVALID, "errorCode": "INVALID_SESSION_ID", "fields": []}
    ]
    async with client_on(salesforce, access_token="00Dexpired") as client:
        await client.check()  # the stored token is refused once, then renewed
    assert salesforce.simulator.token_requests == 1


async def test_the_daily_limit_is_retryable_not_an_auth_failure(
    salesforce: RunningSalesforce,
) -> None:
    salesforce.simulator.daily_limit = salesforce.simulator.api_usage
    async with client_on(salesforce) as client:
        with pytest.raises(RetryableVendorError) as caught:
            await client.list_page("Account", page_size=1)
    assert caught.value.status == 403
    assert caught.value.vendor_message == LIMIT_EXCEEDED
    assert caught.value.retry_after == 3600.0
    assert salesforce.simulator.requests[-1][2].get("authorization", "").startswith("Bearer ")


async def test_answers_carry_the_api_usage_header(salesforce: RunningSalesforce) -> None:
    async with client_on(salesforce) as client:
        http = client._http  # the client's own session: authenticated
        answer = await http.get(f"{salesforce.url}/services/data/v60.0/sobjects/Account/x")
    assert answer.headers["Sforce-Limit-Info"].startswith("api-usage=")


async def test_deletes_come_from_get_deleted_with_a_window(salesforce: RunningSalesforce) -> None:
    store = salesforce.store
    since = datetime.fromtimestamp(store.clock.now(), UTC)
    store.clock.advance(61)
    gone = next(iter(store.records["Opportunity"]))
    store.delete("Opportunity", gone)

    async with client_on(salesforce) as client:
        page = await client.deleted_since("opportunities", since)
        # A start older than 30 days is moved up: Salesforce would refuse it.
        old = await client.deleted_since("Opportunity", since - timedelta(days=90))

    assert [entry["id"] for entry in page.records] == [gone]
    assert page.records[0]["deleted_at"].endswith("Z")
    assert page.next_state is None
    assert [entry["id"] for entry in old.records] == [gone]
    urls = [url for _, url, _ in salesforce.simulator.requests if "/deleted/" in url]
    assert all("start=" in url and "end=" in url for url in urls)


async def test_collections_update_delete_and_upsert(salesforce: RunningSalesforce) -> None:
    store = salesforce.store
    ids = list(store.records["Account"])[:3]
    async with client_on(salesforce) as client:
        updated = await client.batch(
            "accounts",
            "update",
            [{"Id": ids[0], "Industry": "Shipping"}, {"Id": "001000000000000AAA", "Type": "X"}],
        )
        upserted = await client.batch(
            "Account",
            "upsert",
            [{"Id": ids[1], "Industry": "Mining"}, {"Name": "Fresh upsert"}],
            id_property="Id",
        )
        deleted = await client.batch("Account", "delete", [{"Id": ids[2]}, {"Id": ids[2]}])

    assert updated[0].ok
    assert not updated[1].ok
    assert updated[1].error == "The requested resource does not exist"
    assert store.records["Account"][ids[0]]["Industry"] == "Shipping"
    assert [(o.ok, o.status, o.id == ids[1]) for o in upserted] == [
        (True, 200, True),
        (True, 201, False),
    ]
    assert store.records["Account"][ids[1]]["Industry"] == "Mining"
    assert [o.ok for o in deleted] == [True, False]
    assert ids[2] not in store.records["Account"]
    bodies = [url for method, url, _ in salesforce.simulator.requests if method == "DELETE"]
    assert any(
        f"ids={ids[2]}%2C{ids[2]}" in url or f"ids={ids[2]},{ids[2]}" in url for url in bodies
    )


async def test_bulk_query_results_are_csv_pages_chained_by_the_locator(
    salesforce: RunningSalesforce,
) -> None:
    store = salesforce.store
    store.update(
        "Contact",
        next(iter(store.records["Contact"])),
        {"Title": 'Line one\nline "two", and more', "Phone": None},
    )
    async with client_on(salesforce) as client:
        export_id = await client.start_export("contacts")
        states = [(await client.export_state("contacts", export_id)).status for _ in range(2)]
        records = [record async for record in client.export_records("contacts", export_id)]

    assert states == ["running", "complete"]
    raw = {record["Id"]: record for record in store.snapshot("Contact")}
    assert len(records) == 450
    for record in records:
        assert record == {"id": record["Id"], **raw[record["Id"]]}
    results = [url for _, url, _ in salesforce.simulator.requests if "/results" in url]
    assert len(results) == 5  # 100 a page, the last one naming no locator
    job = salesforce.simulator.jobs[export_id]
    assert job.query.startswith("SELECT Id, FirstName")
    assert "ORDER BY" not in job.query


async def test_bulk_query_since_filters_on_system_modstamp(salesforce: RunningSalesforce) -> None:
    store = salesforce.store
    store.clock.advance(61)
    since = datetime.fromtimestamp(store.clock.now(), UTC)
    store.clock.advance(61)
    fresh = store.create("Account", {"Name": 'Fresh, "quoted" account'})
    async with client_on(salesforce) as client:
        export_id = await client.start_export("Account", updated_since=since)
        while (await client.export_state("Account", export_id)).status != "complete":
            pass
        records = [record async for record in client.export_records("Account", export_id)]
    assert [record["Name"] for record in records] == [fresh["Name"]]
    assert records[0]["NumberOfEmployees"] is None
    assert isinstance(records[0]["IsDeleted"], bool)


def test_the_soql_subset() -> None:
    store = SalesforceStore()
    seed(store, 6)
    query = parse_soql(
        "SELECT Id, Name, NumberOfEmployees FROM Account WHERE NumberOfEmployees >= 30 "
        "AND Name != 'seed account 004' ORDER BY NumberOfEmployees DESC LIMIT 2"
    )
    rows = run_query(store, query)
    assert [row["NumberOfEmployees"] for row in rows] == [60, 50]
    assert set(rows[0]) == {"Id", "Name", "NumberOfEmployees"}
    with pytest.raises(SalesforceError) as caught:
        parse_soql("SELECT Id FROM")
    assert caught.value.code == "MALFORMED_QUERY"
    with pytest.raises(SalesforceError) as unknown:
        run_query(store, parse_soql("SELECT Shoe__c FROM Contact"))
    assert unknown.value.code == "INVALID_FIELD"


# --- Bulk API 2.0 ingest -----------------------------------------------------------------------


async def test_bulk_ingest_job_from_open_to_shuffled_results(
    salesforce: RunningSalesforce,
) -> None:
    """Open → upload (text/csv) → UploadComplete → InProgress → JobComplete; successful and
    failed results echo the uploaded cells after sf__ columns, not in upload order."""
    rows = [f"Ingest{n},ingest{n}@example.com" for n in range(40)]
    data = ("LastName,Email\n" + "\n".join(rows) + "\n,nobody@example.com\n").encode()
    async with client_on(salesforce) as client:
        ingest = client.ingest("contacts")
        job_id = await ingest.start("create", None)
        assert (await ingest.state(job_id)).status == "open"
        await ingest.upload(job_id, data)
        await ingest.close(job_id)
        states = [(await ingest.state(job_id)).state for _ in range(3)]
        successful = await ingest.results(job_id, "successful")
        refused = await ingest.results(job_id, "failed")
        assert await ingest.results(job_id, "unprocessed") == []
    assert states == ["InProgress", "JobComplete", "JobComplete"]
    assert len(successful) == 40
    assert [r["LastName"] for r in successful] != [f"Ingest{n}" for n in range(40)]
    stored = salesforce.store.records["Contact"]
    for result in successful:
        assert result["sf__Created"] == "true"
        assert stored[result["sf__Id"]]["Email"] == result["Email"]
    assert [(r["LastName"], r["Email"]) for r in refused] == [("", "nobody@example.com")]
    assert refused[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    _, _url, headers = next(
        r for r in salesforce.simulator.requests if r[0] == "PUT" and "/batches" in r[1]
    )
    assert headers["content-type"] == "text/csv"


async def test_bulk_ingest_job_with_an_unknown_column_fails_unprocessed(
    salesforce: RunningSalesforce,
) -> None:
    async with client_on(salesforce) as client:
        ingest = client.ingest("Account")
        job_id = await ingest.start("create", None)
        await ingest.upload(job_id, b"Name,Nope__c\nAcme,1\n")
        await ingest.close(job_id)
        await ingest.state(job_id)
        state = await ingest.state(job_id)
        unprocessed = await ingest.results(job_id, "unprocessed")
    assert (state.status, state.error) == (
        "failed",
        "InvalidBatch : Field name not found : Nope__c",
    )
    assert unprocessed == [{"Name": "Acme", "Nope__c": "1"}]


async def test_bulk_ingest_open_job_can_be_aborted_and_unknown_jobs_are_not_found(
    salesforce: RunningSalesforce,
) -> None:
    async with client_on(salesforce) as client:
        ingest = client.ingest("Opportunity")
        job_id = await ingest.start("upsert", "Id")
        await ingest.abort(job_id)
        assert (await ingest.state(job_id)).state == "Aborted"
        with pytest.raises(RecordNotFound):
            await ingest.state("7505g00001NOPE")
