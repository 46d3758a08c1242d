"""Connecting GitHub and Shopify through OAuth2 authorization code, against their simulators.

Both issue one long-lived access token and no refresh token: the callback stores it into
the config field the element's auth names (`token`, `access_token`), encrypted, and the
instance presents it as it is. The "browser" follows nothing by itself, so every hop is
checked.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from interlink.elements.catalog import builtin_elements
from interlink.elements.definition import code_flow
from interlink.server import RunningHub
from interlink.services.oauth_connect import callback_signed
from interlink.settings import OAuthApp, Settings
from interlink.storage.models import Instance
from tests.simulators.github import GitHubSimulator, running_github
from tests.simulators.shopify import RunningShopify, callback_hmac, running_shopify

GITHUB_APP_ID, GITHUB_APP_SECRET = "Iv1.hubapp0001", f"ghsecret_{secrets.token_hex(16)}"
SHOP_APP_ID, SHOP_APP_SECRET = "shopapp0001", f"shpss_{secrets.token_hex(16)}"
SHOP_SCOPES = "read_customers,write_customers,read_orders,write_orders,read_products,write_products"


@pytest.fixture
def hub_settings(hub_settings: Settings) -> Settings:
    # The hub's own GitHub OAuth app; Shopify's comes with each connect request.
    app = OAuthApp(client_id=GITHUB_APP_ID, client_secret=SecretStr(GITHUB_APP_SECRET))
    return hub_settings.model_copy(update={"oauth_apps": {"GITHUB": app}})


@pytest.fixture
async def github(hub: RunningHub) -> AsyncIterator[GitHubSimulator]:
    async with running_github(f"github_pat_{secrets.token_hex(12)}", issues=4, pulls=2) as sim:
        sim.register_app(GITHUB_APP_ID, GITHUB_APP_SECRET, f"{hub.url}/v1/oauth/callback")
        yield sim


@pytest.fixture
async def shop(hub: RunningHub) -> AsyncIterator[RunningShopify]:
    async with running_shopify(f"shpat_{secrets.token_hex(12)}", seed_count=5) as running:
        running.simulator.register_app(SHOP_APP_ID, SHOP_APP_SECRET, f"{hub.url}/v1/oauth/callback")
        yield running


@pytest.fixture
async def browser(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    """The user's browser: no API key, and it follows redirects only when told to."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        yield client


def github_body(github: GitHubSimulator, **extra: Any) -> dict[str, Any]:
    config = {"base_url": github.url, "web_url": github.url, "owner": github.owner}
    return {"name": "octo", "config": {**config, "repo": github.repo}, **extra}


def shop_body(shop: RunningShopify, **extra: Any) -> dict[str, Any]:
    config = {"shop_url": shop.url, "client_id": SHOP_APP_ID, "client_secret": SHOP_APP_SECRET}
    return {"name": "shop", "config": config, **extra}


async def start(api: httpx.AsyncClient, element: str, body: dict[str, Any]) -> dict[str, Any]:
    started = await api.post(f"/v1/oauth/{element}/authorize", json=body)
    assert started.status_code == 201, started.text
    answer: dict[str, Any] = started.json()
    return answer


async def consent(browser: httpx.AsyncClient, authorize_url: str) -> str:
    """The user at the vendor's consent screen; answers the callback URL it sends back to."""
    answer = await browser.get(authorize_url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(str(browser.base_url).rstrip("/") + "/v1/oauth/callback?")
    return location


async def instance_count(hub: RunningHub) -> int:
    async with hub.hub.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Instance)) or 0)


async def stored_credentials(hub: RunningHub, instance_id: str) -> tuple[str, dict[str, Any]]:
    async with hub.hub.database.sessions() as session:
        raw = await session.scalar(select(Instance.credentials).where(Instance.id == instance_id))
    assert raw is not None
    return raw, hub.hub.secrets.decrypt_json(raw)


# --- GitHub -------------------------------------------------------------------------------


@pytest.mark.parametrize("form_encoded", [False, True], ids=["json", "form-encoded"])
async def test_github_connects_through_its_oauth_app_and_reads_issues_with_the_token(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    github: GitHubSimulator,
    form_encoded: bool,
) -> None:
    # An older server answers form-encoded whatever the Accept header says: read both.
    github.answer_form_always = form_encoded
    started = await start(api, "github", github_body(github))
    url = httpx.URL(started["authorize_url"])
    assert str(url.copy_with(query=None)) == f"{github.url}/login/oauth/authorize"
    params = dict(url.params)
    assert params["client_id"] == GITHUB_APP_ID  # the hub's app, for a built-in element
    assert params["scope"] == "repo"
    assert params["redirect_uri"] == f"{hub.url}/v1/oauth/callback"
    assert params["code_challenge_method"] == "S256"
    assert GITHUB_APP_SECRET not in str(url)

    answer = await browser.get(await consent(browser, started["authorize_url"]))
    assert answer.status_code == 201, answer.text
    instance = answer.json()
    assert instance["element"] == "github"
    assert instance["status"]["auth"]["state"] == "ok"

    # The exchange asked for JSON and proved the PKCE verifier.
    ((form, accept),) = github.token_requests
    assert "application/json" in accept
    assert form["code_verifier"]
    assert form["client_secret"] == GITHUB_APP_SECRET
    (token,) = github.oauth_tokens
    assert github.oauth_tokens[token] == "repo"

    raw, credentials = await stored_credentials(hub, instance["id"])
    assert token not in raw  # encrypted
    assert credentials["token"] == token
    assert credentials["client_secret"] == GITHUB_APP_SECRET
    # No refresh token, no expiry: nothing of the refresh-token grant is stored.
    assert not {"refresh_token", "access_token", "token_expires_at"} & set(credentials)
    for secret in (token, GITHUB_APP_SECRET):
        assert secret not in answer.text
    described = (await api.get(f"/v1/instances/{instance['id']}")).json()
    assert "token" not in described["config"]
    assert described["config"]["client_id"] == GITHUB_APP_ID

    issues = await api.get(f"/v1/instances/{instance['id']}/objects/issues")
    assert issues.status_code == 200, issues.text
    assert len(issues.json()["data"]) == 6  # pull requests are issues too
    assert github.requests[-1].headers["authorization"] == f"Bearer {token}"


async def test_github_refused_consent_creates_nothing(
    hub: RunningHub, api: httpx.AsyncClient, browser: httpx.AsyncClient, github: GitHubSimulator
) -> None:
    github.consent = "deny"
    started = await start(api, "github", github_body(github))
    answer = await browser.get(await consent(browser, started["authorize_url"]))
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["title"] == "Authorization refused"
    assert problem["error"] == "access_denied"
    assert "denied your application access" in problem["detail"]
    assert github.token_requests == []
    assert await instance_count(hub) == 0
    flow = (await api.get(f"/v1/oauth/authorizations/{started['id']}")).json()
    assert flow["status"] == "failed"


async def test_githubs_200_error_answer_is_a_refusal_that_creates_nothing(
    hub: RunningHub, api: httpx.AsyncClient, browser: httpx.AsyncClient, github: GitHubSimulator
) -> None:
    started = await start(api, "github", github_body(github))
    callback_url = await consent(browser, started["authorize_url"])
    github.expire_codes()  # the user took more than ten minutes to come back
    answer = await browser.get(callback_url)
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["title"] == "Authorization failed"
    assert "The code passed is incorrect or expired." in problem["detail"]
    assert httpx.URL(callback_url).params["code"] not in answer.text
    assert github.oauth_tokens == {}
    assert await instance_count(hub) == 0


async def test_a_personal_access_token_instance_still_works_without_oauth(
    api: httpx.AsyncClient, github: GitHubSimulator
) -> None:
    body = github_body(github)
    created = await api.post(
        "/v1/instances",
        json={
            "element": "github",
            "name": "pat",
            "config": {**body["config"], "token": github.token},
        },
    )
    assert created.status_code == 201, created.text
    issues = await api.get(f"/v1/instances/{created.json()['id']}/objects/issues")
    assert issues.status_code == 200, issues.text


# --- Shopify ------------------------------------------------------------------------------


async def test_shopify_installs_with_an_offline_token_and_reads_customers(
    hub: RunningHub, api: httpx.AsyncClient, browser: httpx.AsyncClient, shop: RunningShopify
) -> None:
    started = await start(api, "shopify", shop_body(shop))
    url = httpx.URL(started["authorize_url"])
    assert str(url.copy_with(query=None)) == f"{shop.url}/admin/oauth/authorize"
    params = dict(url.params)
    assert params["client_id"] == SHOP_APP_ID
    assert params["scope"] == SHOP_SCOPES
    assert "grant_options[]" not in params  # offline access
    assert "code_challenge" not in params
    assert SHOP_APP_SECRET not in str(url)

    callback_url = await consent(browser, started["authorize_url"])
    assert {"hmac", "shop", "host", "timestamp"} <= set(httpx.URL(callback_url).params)
    answer = await browser.get(callback_url)
    assert answer.status_code == 201, answer.text
    instance = answer.json()
    assert instance["element"] == "shopify"

    (token,) = shop.simulator.oauth_tokens
    assert shop.simulator.oauth_tokens[token] == SHOP_SCOPES
    raw, credentials = await stored_credentials(hub, instance["id"])
    assert token not in raw
    assert credentials["access_token"] == token
    assert not {"refresh_token", "token_expires_at"} & set(credentials)
    assert token not in answer.text
    assert SHOP_APP_SECRET not in answer.text

    customers = await api.get(f"/v1/instances/{instance['id']}/objects/customers")
    assert customers.status_code == 200, customers.text
    assert len(customers.json()["data"]) == 5
    assert shop.simulator.requests[-1].path.endswith("/customers.json")


async def test_shopify_cancelled_install_creates_nothing(
    hub: RunningHub, api: httpx.AsyncClient, browser: httpx.AsyncClient, shop: RunningShopify
) -> None:
    shop.simulator.consent = "cancel"
    started = await start(api, "shopify", shop_body(shop))
    page = await browser.get(started["authorize_url"])
    assert page.status_code == 200  # Shopify sends nobody back
    assert shop.simulator.token_requests == []
    assert await instance_count(hub) == 0
    flow = (await api.get(f"/v1/oauth/authorizations/{started['id']}")).json()
    assert flow["status"] == "pending"


async def test_a_shopify_callback_with_a_bad_hmac_is_refused_before_the_exchange(
    hub: RunningHub, api: httpx.AsyncClient, browser: httpx.AsyncClient, shop: RunningShopify
) -> None:
    started = await start(api, "shopify", shop_body(shop))
    callback = httpx.URL(await consent(browser, started["authorize_url"]))
    # Another shop put in the query: the signature no longer matches.
    tampered = callback.copy_set_param("shop", "evil.myshopify.com")
    answer = await browser.get(str(tampered))
    assert answer.status_code == 400
    assert answer.json()["title"] == "Invalid callback signature"
    assert shop.simulator.token_requests == []
    assert await instance_count(hub) == 0

    # Signed with another secret: refused too.
    again = await start(api, "shopify", shop_body(shop))
    callback = httpx.URL(await consent(browser, again["authorize_url"]))
    forged = dict(callback.params)
    forged["hmac"] = callback_hmac("not-the-app-secret", forged)
    answer = await browser.get(str(callback.copy_with(params=forged)))
    assert answer.status_code == 400
    assert answer.json()["title"] == "Invalid callback signature"
    assert await instance_count(hub) == 0


def test_the_callback_signature_matches_shopifys_documented_example() -> None:
    # Shopify's own example of a signed redirect (client secret "hush").
    query = parse_qsl(
        "code=0907a61c0c8d55e99db179b68161bc00"
        "&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"
        "&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173"
    )
    flow = code_flow(builtin_elements()["shopify"].auth)
    assert flow is not None
    assert callback_signed(flow, {"client_secret": "hush"}, query)
    assert not callback_signed(flow, {"client_secret": "hush!"}, query)
    assert not callback_signed(
        flow, {"client_secret": "hush"}, [p for p in query if p[0] != "hmac"]
    )
    assert callback_hmac("hush", dict(query)) == dict(query)["hmac"]
