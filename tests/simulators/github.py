"""A GitHub REST API simulator: one repository's issues and pull requests, on loopback.

It answers the parts the `github` element uses as GitHub documents them
(https://docs.github.com/en/rest): the repository's issues (pull requests included, with
their `pull_request` key) and pull requests, listed with `state`, `sort`, `direction`,
`since` (issues) and `per_page`/`page` with a `Link` header (rel first/prev/next/last);
get, create and update (PATCH) of issues; `Bad credentials` (401), `Not Found` (404),
`This issue was deleted` (410) and `Validation Failed` (422, with GitHub's `errors`
array) bodies; `x-ratelimit-*` headers on every answer, and a switch to answer the primary
limit (403/429, remaining 0 and the reset time) or a secondary one (403/429, retry-after).
Subscribed URLs get `issues` and `pull_request` deliveries signed with
`X-Hub-Signature-256`, in the order of the changes.

OAuth apps (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps,
the web application flow), registered with `register_app`:
- `GET /login/oauth/authorize`: `client_id`, `redirect_uri` (the app's callback URL or a
  path below it; otherwise back to the callback URL with `error=redirect_uri_mismatch`),
  `scope` (space-separated), `state`, and PKCE's `code_challenge` with
  `code_challenge_method=S256` (optional, as GitHub has it since July 2025). The user
  answers as `consent` says: back with `code` and `state`, or with `error=access_denied`.
  Codes expire after ten minutes and work once.
- `POST /login/oauth/access_token`: `client_id`, `client_secret`, `code`, `redirect_uri`
  and `code_verifier` in the form (or the query). The answer is form-encoded
  (`access_token=…&scope=…&token_type=bearer`) unless `Accept: application/json`
  asks for JSON; errors come with status 200 as well (`bad_verification_code`,
  `incorrect_client_credentials`, `redirect_uri_mismatch`). OAuth app tokens (`gho_…`)
  neither expire nor come with a refresh token; they authenticate the REST API like a
  personal access token. Simplified: a PKCE mismatch answers `bad_verification_code`.

Times are whole seconds, as GitHub writes them, on a clock tests can move forward
(`advance`) instead of waiting for it; rate-limit resets use the real clock, as clients
compare them with the answer's `Date`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import math
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving

API_DOCS = "https://docs.github.com/rest"
RATE_LIMIT = 5000
RATE_WINDOW_SECONDS = 3600
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
Limit = Literal["primary", "secondary"]
OAUTH_CODE_TTL_SECONDS = 600
OAUTH_ERRORS_DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"


def github_time(moment: datetime) -> str:
    """`2011-04-22T13:33:48Z`: how GitHub writes its times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signature(secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256`'s value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(signature(secret, body), header)


@dataclass
class Item:
    """An issue, or a pull request (which GitHub also shows as an issue)."""

    number: int
    kind: Literal["issue", "pull"]
    title: str
    body: str | None
    created_at: datetime
    updated_at: datetime
    state: Literal["open", "closed"] = "open"
    closed_at: datetime | None = None
    head: str = ""
    base: str = "main"
    deleted: bool = False


@dataclass
class Subscription:
    url: str
    secret: str
    hook_id: int


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    callback_url: str


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str | None
    expires_at: float
    used: bool = False


@dataclass
class _Switch:
    kind: Limit
    status: int
    count: int
    wait_seconds: int


@dataclass
class GitHubSimulator:
    token: str
    owner: str = "octo-org"
    repo: str = "hello-world"
    url: str = ""  # set once serving
    items: dict[int, Item] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _offset: float = 0.0
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _subscriptions: list[Subscription] = field(default_factory=list)
    _deliveries: asyncio.Queue[tuple[Subscription, str, bytes]] | None = None
    _switch: _Switch | None = None
    _window_start: int = field(default_factory=lambda: int(time.time()))
    _used: int = 0
    # OAuth apps: the user's answer at the consent screen, what was issued and asked.
    consent: Literal["allow", "deny"] = "allow"
    answer_form_always: bool = False  # ignore `Accept: application/json` (older servers)
    oauth_apps: dict[str, OAuthApp] = field(default_factory=dict)
    oauth_codes: dict[str, _Code] = field(default_factory=dict)
    oauth_tokens: dict[str, str] = field(default_factory=dict)  # token → granted scope
    token_requests: list[tuple[dict[str, str], str]] = field(default_factory=list)

    # --- the clock ------------------------------------------------------------------------

    def now(self) -> datetime:
        moment = datetime.now(UTC) + timedelta(seconds=self._offset)
        return moment.replace(microsecond=0)

    def advance(self, seconds: float = 1.0) -> None:
        self._offset += seconds

    # --- data -----------------------------------------------------------------------------

    def seed(self, issues: int, pulls: int) -> None:
        """Issues and pull requests interleaved (they share numbers), a third closed, made
        over the past weeks in creation order."""
        start = self.now() - timedelta(days=30)
        total = issues + pulls
        step = max(total // max(pulls, 1), 1)
        kinds: list[Literal["issue", "pull"]] = []
        for position in range(total):
            pulls_left = pulls - kinds.count("pull")
            issues_left = issues - kinds.count("issue")
            wants_pull = position % step == step - 1 or issues_left == 0
            kinds.append("pull" if pulls_left > 0 and wants_pull else "issue")
        for position, kind in enumerate(kinds):
            created = start + timedelta(hours=position)
            item = self._new(kind, f"Seeded {kind} {position}", f"Body {position}", created)
            item.updated_at = created + timedelta(minutes=position % 7)
            if position % 3 == 2:
                item.state, item.closed_at = "closed", item.updated_at

    def _new(
        self, kind: Literal["issue", "pull"], title: str, body: str | None, at: datetime
    ) -> Item:
        number = next(self._numbers)
        item = Item(number, kind, title, body, at, at)
        if kind == "pull":
            item.head = f"feature-{number}"
        self.items[number] = item
        return item

    def create_issue(self, title: str, body: str | None = None) -> dict[str, Any]:
        item = self._new("issue", title, body, self.now())
        self._notify(item, "opened")
        return self.issue_view(item)

    def create_pull(self, title: str, body: str | None = None) -> dict[str, Any]:
        item = self._new("pull", title, body, self.now())
        self._notify(item, "opened")
        return self.pull_view(item)

    def edit(self, number: int, changes: Mapping[str, Any]) -> Item:
        item = self.items[number]
        if "title" in changes:
            item.title = str(changes["title"])
        if "body" in changes:
            item.body = None if changes["body"] is None else str(changes["body"])
        action = "edited"
        state = changes.get("state")
        if state in ("open", "closed") and state != item.state:
            item.state = state
            item.closed_at = self.now() if state == "closed" else None
            action = "closed" if state == "closed" else "reopened"
        item.updated_at = self.now()
        self._notify(item, action)
        return item

    def delete_issue(self, number: int) -> None:
        """What a repository admin does in the web UI (the REST API cannot)."""
        item = self.items[number]
        if item.kind != "issue":
            raise ValueError("pull requests cannot be deleted")
        view = self.issue_view(item)
        item.deleted = True
        self._notify(item, "deleted", view)

    def live(self, kind: Literal["issue", "pull"] | None = None) -> list[Item]:
        return [
            item
            for item in self.items.values()
            if not item.deleted and (kind is None or item.kind == kind)
        ]

    # --- records as GitHub shows them -------------------------------------------------------

    def _repo_url(self) -> str:
        return f"{self.url}/repos/{self.owner}/{self.repo}"

    def _user(self) -> dict[str, Any]:
        return {"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User"}

    def issue_view(self, item: Item) -> dict[str, Any]:
        html = f"https://github.com/{self.owner}/{self.repo}"
        view: dict[str, Any] = {
            "url": f"{self._repo_url()}/issues/{item.number}",
            "repository_url": self._repo_url(),
            "html_url": f"{html}/{'pull' if item.kind == 'pull' else 'issues'}/{item.number}",
            "id": 1_000_000 + item.number,
            "node_id": f"I_sim{item.number}",
            "number": item.number,
            "title": item.title,
            "user": self._user(),
            "labels": [],
            "state": item.state,
            "state_reason": "completed" if item.state == "closed" else None,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": 0,
            "created_at": github_time(item.created_at),
            "updated_at": github_time(item.updated_at),
            "closed_at": github_time(item.closed_at) if item.closed_at else None,
            "author_association": "OWNER",
            "body": item.body,
        }
        if item.kind == "pull":
            view["pull_request"] = {
                "url": f"{self._repo_url()}/pulls/{item.number}",
                "html_url": f"{html}/pull/{item.number}",
                "diff_url": f"{html}/pull/{item.number}.diff",
                "patch_url": f"{html}/pull/{item.number}.patch",
                "merged_at": None,
            }
        return view

    def pull_view(self, item: Item) -> dict[str, Any]:
        def branch(ref: str) -> dict[str, Any]:
            sha = hashlib.sha1(ref.encode()).hexdigest()  # a made-up commit id
            return {"label": f"{self.owner}:{ref}", "ref": ref, "sha": sha, "user": self._user()}

        return {
            "url": f"{self._repo_url()}/pulls/{item.number}",
            "id": 2_000_000 + item.number,
            "node_id": f"PR_sim{item.number}",
            "html_url": f"https://github.com/{self.owner}/{self.repo}/pull/{item.number}",
            "number": item.number,
            "state": item.state,
            "locked": False,
            "title": item.title,
            "user": self._user(),
            "body": item.body,
            "labels": [],
            "milestone": None,
            "created_at": github_time(item.created_at),
            "updated_at": github_time(item.updated_at),
            "closed_at": github_time(item.closed_at) if item.closed_at else None,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "draft": False,
            "head": branch(item.head),
            "base": branch(item.base),
            "author_association": "OWNER",
        }

    # --- rate limits ----------------------------------------------------------------------

    def limit_next(
        self, kind: Limit, *, count: int = 1, status: int = 403, wait_seconds: int = 2
    ) -> None:
        """The next `count` requests answer a primary or secondary rate limit."""
        self._switch = _Switch(kind, status, count, wait_seconds)

    def _rate_headers(self, remaining: int | None = None) -> dict[str, str]:
        now = int(time.time())
        if now >= self._window_start + RATE_WINDOW_SECONDS:
            self._window_start, self._used = now, 0
        left = max(RATE_LIMIT - self._used, 0) if remaining is None else remaining
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(left),
            "x-ratelimit-used": str(RATE_LIMIT - left),
            "x-ratelimit-reset": str(self._window_start + RATE_WINDOW_SECONDS),
            "x-ratelimit-resource": "core",
        }

    def _limited(self) -> Response | None:
        switch = self._switch
        if switch is None or switch.count <= 0:
            return None
        switch.count -= 1
        if switch.kind == "primary":
            headers = self._rate_headers(remaining=0)
            headers["x-ratelimit-reset"] = str(math.ceil(time.time()) + switch.wait_seconds)
            message = "API rate limit exceeded for user ID 1."
            docs = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
        else:
            headers = {**self._rate_headers(), "retry-after": str(switch.wait_seconds)}
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before "
                "you try again."
            )
            docs = (
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                "#about-secondary-rate-limits"
            )
        return _error(switch.status, message, docs, headers)

    # --- webhooks -------------------------------------------------------------------------

    def subscribe(self, url: str, secret: str) -> int:
        """A repository webhook for the issues and pull_request events (JSON content)."""
        hook_id = len(self._subscriptions) + 1
        self._subscriptions.append(Subscription(url, secret, hook_id))
        return hook_id

    def _notify(self, item: Item, action: str, view: dict[str, Any] | None = None) -> None:
        if not self._subscriptions or self._deliveries is None:
            return
        if item.kind == "pull" and action != "deleted":
            event, key, record = "pull_request", "pull_request", self.pull_view(item)
            extra: dict[str, Any] = {"number": item.number}
        else:
            event, key, record, extra = "issues", "issue", view or self.issue_view(item), {}
        payload = {
            "action": action,
            **extra,
            key: record,
            "repository": {
                "id": 42,
                "name": self.repo,
                "full_name": f"{self.owner}/{self.repo}",
                "owner": self._user(),
            },
            "sender": self._user(),
        }
        for subscription in self._subscriptions:
            self._deliveries.put_nowait((subscription, event, orjson.dumps(payload)))

    async def _deliver(self) -> None:
        assert self._deliveries is not None
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
            while True:
                subscription, event, body = await self._deliveries.get()
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "GitHub-Hookshot/simulator",
                    "X-GitHub-Event": event,
                    "X-GitHub-Delivery": str(uuid.uuid4()),
                    "X-GitHub-Hook-ID": str(subscription.hook_id),
                    "X-Hub-Signature-256": signature(subscription.secret, body),
                }
                with contextlib.suppress(httpx.HTTPError):
                    await http.post(subscription.url, content=body, headers=headers)

    # --- the HTTP API ---------------------------------------------------------------------

    # --- OAuth apps -----------------------------------------------------------------------

    def register_app(self, client_id: str, client_secret: str, callback_url: str) -> OAuthApp:
        app = OAuthApp(client_id, client_secret, callback_url)
        self.oauth_apps[client_id] = app
        return app

    def expire_codes(self) -> None:
        """Every authorization code issued so far is past its ten minutes."""
        for code in self.oauth_codes.values():
            code.expires_at = 0.0

    async def _oauth_authorize(self, request: Request) -> Response:
        query = request.query_params
        app = self.oauth_apps.get(query.get("client_id", ""))
        if app is None:
            return Response("Not Found", status_code=404, media_type="text/html")
        state = query.get("state")

        def back(target: str, **params: str) -> Response:
            if state is not None:
                params["state"] = state
            joined = "&" if "?" in target else "?"
            return Response(
                status_code=302, headers={"Location": f"{target}{joined}{urlencode(params)}"}
            )

        redirect_uri = query.get("redirect_uri") or app.callback_url
        if not _below(redirect_uri, app.callback_url):
            return back(
                app.callback_url,
                error="redirect_uri_mismatch",
                error_description="The redirect_uri MUST match the registered callback URL "
                "for this application.",
                error_uri=OAUTH_ERRORS_DOCS,
            )
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method", "S256") != "S256":
            return back(
                redirect_uri,
                error="invalid_request",
                error_description="Only S256 is supported",
            )
        if self.consent == "deny":
            return back(
                redirect_uri,
                error="access_denied",
                error_description="The user has denied your application access.",
                error_uri=OAUTH_ERRORS_DOCS,
            )
        code = secrets.token_hex(10)
        self.oauth_codes[code] = _Code(
            app.client_id,
            redirect_uri,
            query.get("scope", ""),
            challenge,
            time.time() + OAUTH_CODE_TTL_SECONDS,
        )
        return back(redirect_uri, code=code)

    async def _oauth_access_token(self, request: Request) -> Response:
        form = {name: value for name, value in request.query_params.items()}
        form.update(
            (name, value)
            for name, value in (await request.form()).items()
            if isinstance(value, str)
        )
        accept = request.headers.get("accept", "")
        self.token_requests.append((form, accept))
        as_json = "application/json" in accept and not self.answer_form_always

        def answer(**body: str) -> Response:
            if as_json:
                return Response(orjson.dumps(body), media_type="application/json; charset=utf-8")
            return Response(
                urlencode(body), media_type="application/x-www-form-urlencoded; charset=utf-8"
            )

        def refused(error: str, description: str) -> Response:
            return answer(error=error, error_description=description, error_uri=OAUTH_ERRORS_DOCS)

        app = self.oauth_apps.get(form.get("client_id", ""))
        if app is None or not hmac.compare_digest(
            form.get("client_secret", "").encode(), app.client_secret.encode()
        ):
            return refused(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            )
        code = self.oauth_codes.get(form.get("code", ""))
        if (
            code is None
            or code.used
            or code.expires_at < time.time()
            or code.client_id != app.client_id
        ):
            return refused("bad_verification_code", "The code passed is incorrect or expired.")
        if "redirect_uri" in form and form["redirect_uri"] != code.redirect_uri:
            return refused(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            )
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not hmac.compare_digest(computed, code.challenge):
                return refused("bad_verification_code", "The code passed is incorrect or expired.")
        code.used = True
        token = f"gho_{secrets.token_hex(18)}"
        self.oauth_tokens[token] = code.scope
        return answer(access_token=token, scope=code.scope, token_type="bearer")

    # --- the HTTP API ---------------------------------------------------------------------

    def app(self) -> Starlette:
        base = "/repos/{owner}/{repo}"
        return Starlette(
            routes=[
                Route("/login/oauth/authorize", self._oauth_authorize, methods=["GET"]),
                Route("/login/oauth/access_token", self._oauth_access_token, methods=["POST"]),
                Route(f"{base}/issues", self._issues, methods=["GET", "POST"]),
                Route(f"{base}/issues/{{number:int}}", self._issue, methods=["GET", "PATCH"]),
                Route(f"{base}/pulls", self._pulls, methods=["GET"]),
                Route(f"{base}/pulls/{{number:int}}", self._pull, methods=["GET"]),
            ]
        )

    def _guard(self, request: Request) -> Response | None:
        """Auth, rate limits and the repository: the answer that stops a request, if any."""
        self.requests.append(request)
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        known = hmac.compare_digest(token.encode(), self.token.encode()) or any(
            hmac.compare_digest(token.encode(), issued.encode()) for issued in self.oauth_tokens
        )
        if scheme.lower() not in ("bearer", "token") or not known:
            return _error(401, "Bad credentials", API_DOCS, self._rate_headers())
        limited = self._limited()
        if limited is not None:
            return limited
        self._used += 1
        params = request.path_params
        if (params.get("owner"), params.get("repo")) != (self.owner, self.repo):
            return _error(404, "Not Found", API_DOCS, self._rate_headers())
        return None

    def _json(self, content: Any, status: int = 200, **headers: str) -> Response:
        return Response(
            orjson.dumps(content),
            status_code=status,
            media_type="application/json; charset=utf-8",
            headers={
                **self._rate_headers(),
                "X-GitHub-Api-Version-Selected": "2022-11-28",
                **headers,
            },
        )

    async def _issues(self, request: Request) -> Response:
        stop = self._guard(request)
        if stop is not None:
            return stop
        if request.method == "POST":
            return await self._create_issue(request)
        return self._list(request, self.live(), self.issue_view, with_since=True)

    async def _pulls(self, request: Request) -> Response:
        stop = self._guard(request)
        if stop is not None:
            return stop
        return self._list(request, self.live("pull"), self.pull_view, with_since=False)

    def _list(
        self, request: Request, items: list[Item], view: Any, *, with_since: bool
    ) -> Response:
        query = request.query_params
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            return self._validation("state", "invalid")
        if state != "all":
            items = [item for item in items if item.state == state]
        since = query.get("since") if with_since else None
        if since:
            try:
                moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
            except ValueError:
                return self._validation("since", "invalid")
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            items = [item for item in items if item.updated_at >= moment]
        sort = query.get("sort", "created")
        key = {
            "created": lambda item: (item.created_at, item.number),
            "updated": lambda item: (item.updated_at, item.number),
        }.get(sort, lambda item: (item.created_at, item.number))
        items = sorted(items, key=key, reverse=query.get("direction", "desc") != "asc")
        try:
            per_page = min(max(int(query.get("per_page", DEFAULT_PER_PAGE)), 1), MAX_PER_PAGE)
            page = max(int(query.get("page", 1)), 1)
        except ValueError:
            per_page, page = DEFAULT_PER_PAGE, 1
        last = max(math.ceil(len(items) / per_page), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        links = self._links(request, page, last)
        headers = {"Link": links} if links else {}
        return self._json([view(item) for item in chunk], **headers)

    def _links(self, request: Request, page: int, last: int) -> str:
        def link(number: int, rel: str) -> str:
            url = httpx.URL(str(request.url)).copy_merge_params({"page": str(number)})
            return f'<{url}>; rel="{rel}"'

        rels: list[tuple[int, str]] = []
        if page > 1:
            rels += [(page - 1, "prev")]
        if page < last:
            rels += [(page + 1, "next"), (last, "last")]
        if page > 1:
            rels += [(1, "first")]
        return ", ".join(link(number, rel) for number, rel in rels)

    def _find(self, request: Request, kind: Literal["issue", "pull"] | None) -> Item | Response:
        item = self.items.get(int(request.path_params["number"]))
        if item is None or (kind == "pull" and item.kind != "pull"):
            return _error(404, "Not Found", API_DOCS, self._rate_headers())
        if item.deleted:
            return _error(410, "This issue was deleted", API_DOCS, self._rate_headers())
        return item

    async def _issue(self, request: Request) -> Response:
        stop = self._guard(request)
        if stop is not None:
            return stop
        found = self._find(request, None)
        if isinstance(found, Response):
            return found
        if request.method == "GET":
            return self._json(self.issue_view(found))
        changes = await self._body(request)
        if changes is None:
            return _error(400, "Problems parsing JSON", API_DOCS, self._rate_headers())
        if "title" in changes and not _text(changes["title"]):
            return self._validation("title", "invalid", resource="Issue")
        if "state" in changes and changes["state"] not in ("open", "closed"):
            return self._validation("state", "invalid", resource="Issue")
        return self._json(self.issue_view(self.edit(found.number, changes)))

    async def _create_issue(self, request: Request) -> Response:
        record = await self._body(request)
        if record is None:
            return _error(400, "Problems parsing JSON", API_DOCS, self._rate_headers())
        title = record.get("title")
        if title is None:
            return self._validation("title", "missing_field", resource="Issue")
        if not _text(title):
            return self._validation("title", "invalid", resource="Issue")
        created = self.create_issue(str(title), record.get("body"))
        return self._json(created, 201, Location=created["url"])

    async def _pull(self, request: Request) -> Response:
        stop = self._guard(request)
        if stop is not None:
            return stop
        found = self._find(request, "pull")
        if isinstance(found, Response):
            return found
        return self._json(self.pull_view(found))

    async def _body(self, request: Request) -> dict[str, Any] | None:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        return body if isinstance(body, dict) else None

    def _validation(self, field_name: str, code: str, *, resource: str = "Issue") -> Response:
        return _error(
            422,
            "Validation Failed",
            "https://docs.github.com/rest/issues/issues",
            self._rate_headers(),
            errors=[{"resource": resource, "code": code, "field": field_name}],
        )


def _below(uri: str, callback_url: str) -> bool:
    """GitHub takes a redirect_uri with the callback URL's host and port, and its path or
    a subdirectory of it."""
    given, registered = httpx.URL(uri), httpx.URL(callback_url)
    if (given.scheme, given.host, given.port) != (
        registered.scheme,
        registered.host,
        registered.port,
    ):
        return False
    base = registered.path.rstrip("/")
    return given.path == registered.path or given.path.startswith(f"{base}/")


def _text(value: Any) -> bool:
    return isinstance(value, str | int) and str(value).strip() != ""


def _error(
    status: int,
    message: str,
    documentation_url: str,
    headers: Mapping[str, str],
    **extra: Any,
) -> Response:
    body = {"message": message, **extra, "documentation_url": documentation_url}
    body["status"] = str(status)
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers=dict(headers),
    )


@contextlib.asynccontextmanager
async def running_github(
    token: str, *, issues: int = 23, pulls: int = 11, owner: str = "octo-org"
) -> AsyncIterator[GitHubSimulator]:
    """A seeded simulator serving on a free loopback port for the block's length."""
    simulator = GitHubSimulator(token=token, owner=owner)
    simulator.seed(issues, pulls)
    simulator._deliveries = asyncio.Queue()
    deliverer = asyncio.create_task(simulator._deliver(), name="github deliveries")
    try:
        async with serving(simulator.app()) as url:
            simulator.url = url
            yield simulator
    finally:
        deliverer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await deliverer
