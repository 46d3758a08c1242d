"""Connecting through OAuth2 authorization code: authorize, consent, callback, tokens.

The vendor is a real OAuth2 server on loopback (tests/simulators/oauth_vendor.py); the
"browser" is a client that follows nothing by itself, so every hop is checked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from interlink.elements import catalog
from interlink.elements.loading import load_definition
from interlink.server import RunningHub
from interlink.services.oauth_connect import pkce_challenge
from interlink.settings import OAuthApp, Settings
from interlink.storage.models import Instance, OAuthAuthorization
from interlink.storage.types import utcnow
from tests.hub_fixtures import Org, make_org
from tests.simulators.oauth_vendor import OAuthVendor, element_yaml, running_oauth_vendor

CLIENT_ID, CLIENT_SECRET = "org-app", "org-app-secret-0123456789"
HUB_APP_ID, HUB_APP_SECRET = "hub-app", "hub-app-secret-9876543210"


@pytest.fixture
def hub_settings(hub_settings: Settings) -> Settings:
    # The hub's own OAuth app for the (built-in, in one test) `oauthhub` element.
    apps = {"OAUTHHUB": OAuthApp(client_id=HUB_APP_ID, client_secret=SecretStr(HUB_APP_SECRET))}
    return hub_settings.model_copy(update={"oauth_apps": apps})


@pytest.fixture
async def vendor(hub: RunningHub) -> AsyncIterator[OAuthVendor]:
    clients = {CLIENT_ID: CLIENT_SECRET, HUB_APP_ID: HUB_APP_SECRET}
    async with running_oauth_vendor(clients=clients) as sim:
        sim.redirect_uris.add(f"{hub.url}/v1/oauth/callback")
        yield sim


@pytest.fixture
async def element(api: httpx.AsyncClient) -> str:
    created = await api.post(
        "/v1/elements", content=element_yaml(), headers={"content-type": "application/yaml"}
    )
    assert created.status_code == 201, created.text
    return "oauthcrm"


@pytest.fixture
async def browser(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    """The user's browser: no API key, and it follows redirects only when told to."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        yield client


def connect_body(vendor: OAuthVendor, **extra: Any) -> dict[str, Any]:
    config = {"base_url": vendor.url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return {"name": "crm", "config": config, **extra}


async def start(api: httpx.AsyncClient, vendor: OAuthVendor, **extra: Any) -> dict[str, Any]:
    started = await api.post("/v1/oauth/oauthcrm/authorize", json=connect_body(vendor, **extra))
    assert started.status_code == 201, started.text
    body: dict[str, Any] = started.json()
    return body


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


async def set_flow(hub: RunningHub, authorization_id: str, **values: Any) -> None:
    """Writes the stored flow directly: the state a test needs, or a crash leaves."""
    async with hub.hub.database.transaction() as session:
        await session.execute(
            update(OAuthAuthorization)
            .where(OAuthAuthorization.id == authorization_id)
            .values(**values)
        )


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


async def test_full_flow_creates_the_instance_and_refreshes_before_expiry(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    vendor: OAuthVendor,
    element: str,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    started = await start(api, vendor)
    assert started["id"].startswith("oauth_")
    url = httpx.URL(started["authorize_url"])
    params = dict(url.params)
    assert str(url.copy_with(query=None)) == f"{vendor.url}/oauth/authorize"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == f"{hub.url}/v1/oauth/callback"
    assert params["scope"] == "contacts.read offline_access"
    assert params["response_type"] == "code"
    assert params["prompt"] == "consent"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 43
    # Only the hash of the state is kept.
    async with hub.hub.database.sessions() as session:
        row = await session.get(OAuthAuthorization, started["id"])
    assert row is not None
    assert params["state"] not in row.state_hash + row.request

    callback_url = await consent(browser, started["authorize_url"])
    answer = await browser.get(callback_url)
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    instance = answer.json()
    assert answer.headers["location"] == f"/v1/instances/{instance['id']}"
    assert instance["element"] == "oauthcrm"
    assert instance["name"] == "crm"
    assert instance["status"]["auth"]["state"] == "ok"
    assert "signing_secret" not in instance["events"]
    assert vendor.grants == ["authorization_code"]

    (issued,) = vendor.issued
    for secret in [*vendor.secrets_handed_out(), CLIENT_SECRET]:
        assert secret not in answer.text
    raw, credentials = await stored_credentials(hub, instance["id"])
    assert issued.access_token not in raw
    assert issued.refresh_token not in raw
    assert credentials["access_token"] == issued.access_token
    assert credentials["refresh_token"] == issued.refresh_token
    assert credentials["client_secret"] == CLIENT_SECRET
    assert abs(credentials["token_expires_at"] - (time.time() + vendor.access_ttl)) < 60

    described = (await api.get(f"/v1/instances/{instance['id']}")).json()
    assert described["config"] == {"base_url": vendor.url, "client_id": CLIENT_ID}
    flow = (await api.get(f"/v1/oauth/authorizations/{started['id']}")).json()
    assert flow["status"] == "completed"
    assert flow["instance_id"] == instance["id"]

    # A vendor call works on the access token from the exchange: no refresh.
    contacts = await api.get(f"/v1/instances/{instance['id']}/objects/contacts")
    assert contacts.status_code == 200, contacts.text
    assert [c["id"] for c in contacts.json()["data"]] == ["1", "2"]
    assert vendor.api_tokens == [issued.access_token]
    assert vendor.grants == ["authorization_code"]

    # Time passes: the token is about to expire (and the vendor no longer takes it).
    vendor.expire(issued.access_token)
    await _expire_soon(hub, instance["id"])
    for _ in range(2):
        contacts = await api.get(f"/v1/instances/{instance['id']}/objects/contacts")
        assert contacts.status_code == 200, contacts.text
    assert vendor.grants == ["authorization_code", "refresh_token"]  # renewed once, before use
    renewed = vendor.issued[-1]
    assert vendor.api_tokens[1:] == [renewed.access_token, renewed.access_token]
    _, credentials = await stored_credentials(hub, instance["id"])
    assert credentials["access_token"] == renewed.access_token
    assert credentials["refresh_token"] == renewed.refresh_token  # the rotated one

    hub_logs = hub_side(all_logs)
    assert "OAuth authorization completed" in hub_logs
    for secret in [*vendor.secrets_handed_out(), CLIENT_SECRET, params["state"]]:
        assert secret not in hub_logs


def hub_side(caplog: pytest.LogCaptureFixture) -> str:
    """The log lines of the hub (and its vendor client), not of the test's browser.

    The browser's own httpx client logs the URLs it visits, code and state included; the
    hub never requests the authorize URL nor its own callback, so those lines are the
    browser's."""
    browser_marks = ("/oauth/authorize", "/v1/oauth/callback?")
    lines = [
        record.getMessage()
        for record in caplog.records
        if not (
            record.name.startswith(("httpx", "httpcore"))
            and any(mark in record.getMessage() for mark in browser_marks)
        )
    ]
    return "\n".join(lines)


async def _expire_soon(hub: RunningHub, instance_id: str) -> None:
    async with hub.hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        stored = hub.hub.secrets.decrypt_json(instance.credentials)
        stored["token_expires_at"] = int(time.time()) + 5
        instance.credentials = hub.hub.secrets.encrypt_json(stored)


async def test_get_authorize_redirects_with_the_hubs_own_app_for_a_builtin_element(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    vendor: OAuthVendor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = catalog.builtin_elements()
    builtin = {**shipped, "oauthhub": load_definition(element_yaml("oauthhub"))}
    monkeypatch.setattr(catalog, "builtin_elements", lambda: builtin)

    secret_in_url = await api.get(
        "/v1/oauth/oauthhub/authorize",
        params={"name": "hub", "config.base_url": vendor.url, "config.client_secret": "x"},
    )
    assert secret_in_url.status_code == 422
    assert secret_in_url.json()["field"] == "config.client_secret"

    redirect = await api.get(
        "/v1/oauth/oauthhub/authorize", params={"name": "hub", "config.base_url": vendor.url}
    )
    assert redirect.status_code == 302, redirect.text
    location = redirect.headers["location"]
    assert location == redirect.json()["authorize_url"]
    assert httpx.URL(location).params["client_id"] == HUB_APP_ID
    assert HUB_APP_SECRET not in location

    answer = await browser.get(await consent(browser, location))
    assert answer.status_code == 201, answer.text
    _, credentials = await stored_credentials(hub, answer.json()["id"])
    assert credentials["client_secret"] == HUB_APP_SECRET
    assert answer.json()["config"]["client_id"] == HUB_APP_ID


async def test_custom_elements_never_get_the_hubs_app(
    api: httpx.AsyncClient, vendor: OAuthVendor
) -> None:
    # A tenant's element named like a configured app still needs its own client.
    registered = await api.post(
        "/v1/elements",
        content=element_yaml("oauthhub"),
        headers={"content-type": "application/yaml"},
    )
    assert registered.status_code == 201, registered.text
    refused = await api.post(
        "/v1/oauth/oauthhub/authorize", json={"name": "x", "config": {"base_url": vendor.url}}
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "config.client_id"


async def test_redirect_after_takes_the_browser_back_with_the_instance(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, vendor: OAuthVendor, element: str
) -> None:
    started = await start(api, vendor, redirect_after="https://app.example.com/done?x=1")
    answer = await browser.get(await consent(browser, started["authorize_url"]))
    assert answer.status_code == 302
    back = httpx.URL(answer.headers["location"])
    assert back.host == "app.example.com"
    assert back.params["x"] == "1"
    instance_id = back.params["instance_id"]
    assert (await api.get(f"/v1/instances/{instance_id}")).status_code == 200
    assert back.params["authorization_id"] == started["id"]


async def test_bad_missing_and_reused_state_create_nothing(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    vendor: OAuthVendor,
    element: str,
) -> None:
    unknown = await browser.get("/v1/oauth/callback", params={"code": "c", "state": "forged"})
    assert unknown.status_code == 400
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["title"] == "Unknown authorization"
    missing = await browser.get("/v1/oauth/callback", params={"code": "c"})
    assert missing.status_code == 400
    assert missing.json()["title"] == "Missing state"
    assert await instance_count(hub) == 0

    started = await start(api, vendor)
    callback_url = await consent(browser, started["authorize_url"])
    assert (await browser.get(callback_url)).status_code == 201
    again = await browser.get(callback_url)
    assert again.status_code == 400
    assert again.json()["title"] == "Authorization already used"
    assert await instance_count(hub) == 1


async def test_expired_state_creates_nothing(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    vendor: OAuthVendor,
    element: str,
) -> None:
    started = await start(api, vendor)
    callback_url = await consent(browser, started["authorize_url"])
    await set_flow(hub, started["id"], expires_at=utcnow() - timedelta(seconds=1))
    expired = await browser.get(callback_url)
    assert expired.status_code == 400
    assert expired.json()["title"] == "Authorization expired"
    assert vendor.grants == []  # the code was never sent to the vendor
    assert await instance_count(hub) == 0
    flow = (await api.get(f"/v1/oauth/authorizations/{started['id']}")).json()
    assert flow["status"] == "expired"


async def test_a_flow_cut_short_mid_exchange_shows_as_failed_once_it_cannot_be_running(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    vendor: OAuthVendor,
    element: str,
) -> None:
    started = await start(api, vendor)
    await consent(browser, started["authorize_url"])
    # What a hub killed after spending the state, before the exchange's outcome, leaves.
    spent_at = utcnow()
    await set_flow(hub, started["id"], used_at=spent_at, status="exchanging")
    url = f"/v1/oauth/authorizations/{started['id']}"
    running = (await api.get(url)).json()
    assert running["status"] == "exchanging"
    assert running["error"] is None

    bound = 4 * hub.hub.settings.vendor_timeout_seconds + 60
    await set_flow(hub, started["id"], used_at=spent_at - timedelta(seconds=bound + 1))
    cut_short = (await api.get(url)).json()
    assert cut_short["status"] == "failed"
    assert cut_short["error"].startswith("Exchange interrupted")
    assert "/v1/oauth/oauthcrm/authorize" in cut_short["error"]
    assert cut_short["instance_id"] is None
    assert await instance_count(hub) == 0


async def test_access_denied_is_a_clear_problem_and_creates_nothing(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    vendor: OAuthVendor,
    element: str,
) -> None:
    vendor.consent = "deny"
    started = await start(api, vendor)
    answer = await browser.get(await consent(browser, started["authorize_url"]))
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["title"] == "Authorization refused"
    assert problem["error"] == "access_denied"
    assert "The user denied the request" in problem["detail"]
    assert vendor.grants == []
    assert await instance_count(hub) == 0
    flow = (await api.get(f"/v1/oauth/authorizations/{started['id']}")).json()
    assert flow["status"] == "failed"
    assert flow["instance_id"] is None

    # With redirect_after, the browser goes back there with the error.
    started = await start(api, vendor, redirect_after="https://app.example.com/done")
    answer = await browser.get(await consent(browser, started["authorize_url"]))
    assert answer.status_code == 302
    assert httpx.URL(answer.headers["location"]).params["error"] == "access_denied"
    assert await instance_count(hub) == 0


async def test_a_code_from_another_flow_fails_the_vendors_pkce_check(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    vendor: OAuthVendor,
    element: str,
) -> None:
    # An intercepted code injected into another flow: that flow's verifier does not match.
    first, second = await start(api, vendor), await start(api, vendor)
    first_callback = httpx.URL(await consent(browser, first["authorize_url"]))
    second_state = httpx.URL(second["authorize_url"]).params["state"]
    injected = first_callback.copy_set_param("state", second_state)
    answer = await browser.get(str(injected))
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["title"] == "Authorization failed"
    assert "PKCE verification failed" in problem["detail"]
    assert first_callback.params["code"] not in answer.text
    assert vendor.grants == ["authorization_code"]
    assert vendor.issued == []
    assert await instance_count(hub) == 0


async def test_another_organization_cannot_use_the_flow_or_see_its_outcome(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    vendor: OAuthVendor,
    element: str,
    org: Org,
) -> None:
    other = await make_org(hub, "Other")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {other.key}"}, timeout=30
    ) as intruder:
        # Someone else's element is simply not found.
        refused = await intruder.post("/v1/oauth/oauthcrm/authorize", json=connect_body(vendor))
        assert refused.status_code == 404

        started = await start(api, vendor)
        callback_url = await consent(browser, started["authorize_url"])
        # Following the callback with another organization's key changes nothing: the
        # state decides the organization.
        answer = await intruder.get(callback_url)
        assert answer.status_code == 201, answer.text
        instance_id = answer.json()["id"]
        assert (await intruder.get(f"/v1/instances/{instance_id}")).status_code == 404
        assert (await intruder.get(f"/v1/oauth/authorizations/{started['id']}")).status_code == 404
        assert (await intruder.get("/v1/instances")).json()["data"] == []
    async with hub.hub.database.sessions() as session:
        owner = await session.scalar(
            select(Instance.organization_id).where(Instance.id == instance_id)
        )
    assert owner == org.id


async def test_authorize_checks_the_future_instance_before_sending_anyone_away(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, vendor: OAuthVendor, element: str
) -> None:
    no_key = await browser.get("/v1/oauth/oauthcrm/authorize", params={"name": "x"})
    assert no_key.status_code == 401
    tokens_given = await api.post(
        "/v1/oauth/oauthcrm/authorize",
        json=connect_body(vendor, config={"base_url": vendor.url, "refresh_token": "r"}),
    )
    assert tokens_given.status_code == 422
    assert tokens_given.json()["field"] == "config.refresh_token"
    no_oauth = await api.post("/v1/oauth/sandbox/authorize", json={"name": "x"})
    assert no_oauth.status_code == 422
    assert no_oauth.json()["field"] == "element"
    bad_redirect = await api.post(
        "/v1/oauth/oauthcrm/authorize", json=connect_body(vendor, redirect_after="javascript:x")
    )
    assert bad_redirect.status_code == 422
    assert bad_redirect.json()["field"] == "redirect_after"


async def test_authorize_accepts_an_idempotency_key(
    api: httpx.AsyncClient, vendor: OAuthVendor, element: str
) -> None:
    headers = {"Idempotency-Key": "connect-1"}
    body = connect_body(vendor)
    first = await api.post("/v1/oauth/oauthcrm/authorize", json=body, headers=headers)
    again = await api.post("/v1/oauth/oauthcrm/authorize", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_hub_apps_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINK_OAUTH_MY_CRM_CLIENT_ID", "id-1")
    monkeypatch.setenv("INTERLINK_OAUTH_MY_CRM_CLIENT_SECRET", "secret-1")
    monkeypatch.setenv("INTERLINK_OAUTH_HALF_CLIENT_ID", "only-an-id")
    settings = Settings()
    app = settings.oauth_app("my-crm")
    assert app is not None
    assert app.client_id == "id-1"
    assert app.client_secret.get_secret_value() == "secret-1"
    assert settings.oauth_app("half") is None


async def test_a_wrong_client_secret_is_refused_by_the_vendor_and_creates_nothing(
    hub: RunningHub,
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    vendor: OAuthVendor,
    element: str,
) -> None:
    body = connect_body(vendor)
    body["config"]["client_secret"] = "not-the-secret"
    started = await api.post("/v1/oauth/oauthcrm/authorize", json=body)
    assert started.status_code == 201, started.text
    answer = await browser.get(await consent(browser, started.json()["authorize_url"]))
    assert answer.status_code == 400
    assert answer.json()["title"] == "Authorization failed"
    assert "client authentication failed" in answer.json()["detail"]
    assert "not-the-secret" not in answer.text
    assert await instance_count(hub) == 0
