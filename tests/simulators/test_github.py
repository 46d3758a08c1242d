"""GitHub specifics the conformance suite does not cover: rate-limit answers honoured,
GitHub's headers and paging, errors, and its webhooks read as events."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from interlink.elements.catalog import builtin_elements
from interlink.eventing.webhooks.normalize import parse_post
from interlink.eventing.webhooks.signatures import SignedRequest, verify_signature
from interlink.security.outbound import guarded_transport
from interlink.vendor import (
    RateLimiterRegistry,
    RecordNotFound,
    RecordRejected,
    RetryableVendorError,
    VendorAuthError,
    VendorClient,
)
from tests.conformance.support import receiving
from tests.simulators.github import GitHubSimulator, running_github, signature
from tests.vendor.support import FakeClock

GITHUB = builtin_elements()["github"]


@pytest.fixture
async def github() -> AsyncIterator[GitHubSimulator]:
    async with running_github(f"github_pat_{secrets.token_hex(12)}", issues=9, pulls=3) as sim:
        yield sim


def client_on(github: GitHubSimulator, clock: FakeClock, **config: Any) -> VendorClient:
    """The hub's client on the simulator; its waits go by `clock`, never real time."""
    return VendorClient(
        GITHUB,
        {
            "base_url": github.url,
            "token": github.token,
            "owner": github.owner,
            "repo": github.repo,
            **config,
        },
        transport=guarded_transport(allow_private=True),
        limiters=RateLimiterRegistry(clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
        timeout=10.0,
    )


async def test_requests_carry_githubs_headers(github: GitHubSimulator) -> None:
    async with client_on(github, FakeClock()) as client:
        await client.check()
    headers = github.requests[-1].headers
    assert headers["authorization"] == f"Bearer {github.token}"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"


@pytest.mark.parametrize("status", [403, 429])
async def test_the_primary_limit_is_waited_out_until_its_reset(
    github: GitHubSimulator, status: int
) -> None:
    clock = FakeClock()
    github.limit_next("primary", status=status, wait_seconds=30)
    async with client_on(github, clock) as client:
        page = await client.list_page("issues", page_size=5)
    assert len(page.records) == 5
    # Until x-ratelimit-reset, measured against the answer's Date (whole seconds).
    assert clock.sleeps
    assert 29 <= clock.sleeps[0] <= 32


@pytest.mark.parametrize("status", [403, 429])
async def test_a_secondary_limit_waits_its_retry_after(
    github: GitHubSimulator, status: int
) -> None:
    clock = FakeClock()
    github.limit_next("secondary", status=status, wait_seconds=7)
    async with client_on(github, clock) as client:
        record = await client.get("pulls", str(github.live("pull")[0].number))
    assert record["head"]["ref"].startswith("feature-")
    assert clock.sleeps[0] == 7


async def test_a_create_refused_by_a_rate_limit_is_sent_again_once(
    github: GitHubSimulator,
) -> None:
    clock = FakeClock()
    before = len(github.live())
    github.limit_next("secondary", wait_seconds=1)
    async with client_on(github, clock) as client:
        created = await client.create("issues", {"title": "After the limit"})
    assert created["title"] == "After the limit"
    assert len(github.live()) == before + 1


async def test_a_limit_longer_than_the_policy_allows_is_raised_for_the_job(
    github: GitHubSimulator,
) -> None:
    github.limit_next("primary", wait_seconds=7200, count=5)
    async with client_on(github, FakeClock()) as client:
        with pytest.raises(RetryableVendorError) as caught:
            await client.list_page("issues")
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 3600
    assert caught.value.vendor_message == "API rate limit exceeded for user ID 1."


async def test_a_403_that_is_no_rate_limit_is_an_auth_failure(github: GitHubSimulator) -> None:
    async with client_on(github, FakeClock(), token="github_pat_wrong") as client:
        with pytest.raises(VendorAuthError, match="Bad credentials"):
            await client.check()


async def test_link_header_paging_and_changed_since_parameters(github: GitHubSimulator) -> None:
    async with client_on(github, FakeClock()) as client:
        first = await client.list_page("issues", page_size=4)
        since = github.now()
        github.advance(1)
        github.edit(github.live()[0].number, {"title": "Changed"})
        changed = await client.list_page("issues", changed_since=since)
    assert first.next_state is not None
    assert "page=2" in first.next_state["position"]
    assert [record["title"] for record in changed.records] == ["Changed"]
    query = github.requests[-1].query_params
    assert query["since"].startswith(since.strftime("%Y-%m-%dT%H:%M:%S"))
    assert (query["state"], query["sort"], query["direction"]) == ("all", "updated", "asc")


async def test_link_header_names_next_and_last(github: GitHubSimulator) -> None:
    async with httpx.AsyncClient(base_url=github.url, trust_env=False) as http:
        response = await http.get(
            f"/repos/{github.owner}/{github.repo}/issues",
            params={"per_page": 5, "state": "all"},
            headers={"Authorization": f"Bearer {github.token}"},
        )
    assert set(response.links) == {"next", "last"}
    assert "page=3" in response.links["last"]["url"]
    assert response.headers["x-ratelimit-remaining"].isdigit()
    assert response.headers["x-ratelimit-resource"] == "core"


async def test_the_issues_listing_holds_pull_requests_as_github_does(
    github: GitHubSimulator,
) -> None:
    async with client_on(github, FakeClock()) as client:
        issues = (await client.list_page("issues")).records
    pulls = [record for record in issues if "pull_request" in record]
    assert len(pulls) == 3
    assert len(issues) == 12


async def test_validation_errors_and_deleted_issues(github: GitHubSimulator) -> None:
    number = github.live("issue")[0].number
    github.delete_issue(number)
    async with client_on(github, FakeClock()) as client:
        with pytest.raises(RecordRejected) as caught:
            await client.create("issues", {"body": "no title"})
        with pytest.raises(RecordNotFound, match="This issue was deleted"):
            await client.get("issues", str(number))
        with pytest.raises(RecordNotFound, match="Not Found"):
            await client.get("pulls", str(github.live("issue")[0].number))
    assert caught.value.status == 422
    assert caught.value.body["errors"] == [
        {"resource": "Issue", "code": "missing_field", "field": "title"}
    ]


async def test_webhook_posts_read_as_events(github: GitHubSimulator) -> None:
    secret = "github-webhook-secret"
    async with receiving() as receiver:
        github.subscribe(receiver.url, secret)
        issue = github.create_issue("Hooked")
        github.edit(issue["number"], {"state": "closed"})
        github.edit(github.live("pull")[0].number, {"body": "new"})
        await receiver.wait_for_posts(3)

    events = []
    for post in receiver.posts:
        body, headers = post.body, post.headers
        assert headers["x-hub-signature-256"] == signature(secret, body)
        verify_signature(
            GITHUB.webhooks.signature,  # type: ignore[union-attr]
            secret,
            SignedRequest(body=body, headers=headers),
            now=0,
        )
        events += parse_post(body, GITHUB, ["issues", "pulls"], headers).events
    assert [(e.object_name, e.change, e.record_id) for e in events] == [
        ("issues", "created", str(issue["number"])),
        ("issues", "updated", str(issue["number"])),
        ("pulls", "updated", str(github.live("pull")[0].number)),
    ]
    assert events[0].record is not None
    assert events[0].record["title"] == "Hooked"
    assert events[2].record is not None
    assert "head" in events[2].record
    assert len({e.vendor_event_id for e in events}) == 3


def test_signature_is_githubs_documented_example() -> None:
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature("It's a Secret to Everybody", b"Hello, World!") == f"sha256={expected}"
