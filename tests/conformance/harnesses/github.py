"""GitHub's harness: the simulator of one repository on loopback, changed through its data."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any, ClassVar

from tests.conformance.harness import Harness, Rejection
from tests.simulators.github import (
    GitHubSimulator,
    running_github,
    signature,
    verify_signature,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"


class GitHubHarness(Harness):
    element_key: ClassVar[str] = "github"
    auth_failure_message: ClassVar[str] = "Bad credentials"

    def __init__(self) -> None:
        # Random and long: a leak of it into an error message cannot be a coincidence.
        self._token = f"github_pat_conformance_{secrets.token_hex(16)}"
        self._run = secrets.token_hex(4)
        self._serial = itertools.count(1)
        self._stack = AsyncExitStack()
        self._simulator: GitHubSimulator | None = None

    async def start(self) -> None:
        self._simulator = await self._stack.enter_async_context(running_github(self._token))

    async def stop(self) -> None:
        self._simulator = None
        await self._stack.aclose()

    @property
    def github(self) -> GitHubSimulator:
        if self._simulator is None:
            raise RuntimeError("the github harness is not started")
        return self._simulator

    @property
    def config(self) -> dict[str, Any]:
        github = self.github
        return {
            "base_url": github.url,
            "token": self._token,
            "owner": github.owner,
            "repo": github.repo,
        }

    def wrong_credentials(self) -> dict[str, Any]:
        return {**self.config, "token": f"github_pat_wrong_{secrets.token_hex(16)}"}

    # --- records to write ---------------------------------------------------------------

    def new_record(self, object_name: str) -> dict[str, Any]:
        self._writable(object_name)
        number = next(self._serial)
        # Characters a query string or JSON must carry intact.
        return {
            "title": f"Conformance & Söhne {self._run} #{number}",
            "body": f"Found by the suite: 'quotes', + signs, ümlauts ({number})",
        }

    def record_update(self, object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
        self._writable(object_name)
        return {"body": f"Updated {self._run} {next(self._serial)}"}

    def invalid_record(self, object_name: str) -> Rejection:
        self._writable(object_name)
        # GitHub's own example of a validation error: an issue without its title.
        return Rejection({"body": "an issue without a title"}, "Validation Failed")

    # --- the vendor, bypassing the client -----------------------------------------------

    async def vendor_records(self, object_name: str) -> list[dict[str, Any]]:
        github = self.github
        if object_name == "issues":  # pull requests are issues too, as GitHub lists them
            return [github.issue_view(item) for item in github.live()]
        if object_name == "pulls":
            return [github.pull_view(item) for item in github.live("pull")]
        raise KeyError(f"the github harness knows no object {object_name!r}")

    async def vendor_create(self, object_name: str) -> dict[str, Any]:
        record = self.new_record(object_name)
        return self.github.create_issue(record["title"], record["body"])

    async def vendor_update(self, object_name: str, record_id: str) -> dict[str, Any]:
        github = self.github
        if object_name == "pulls":
            return github.pull_view(github.edit(int(record_id), {"body": self._fresh()}))
        changes = self.record_update(object_name, {})
        return github.issue_view(github.edit(int(record_id), changes))

    async def vendor_delete(self, object_name: str, record_id: str) -> None:
        self._writable(object_name)
        self.github.delete_issue(int(record_id))

    async def vendor_now(self) -> datetime:
        return self.github.now()

    async def tick(self) -> None:
        # GitHub's times are whole seconds: move the simulator's clock on by one instead
        # of waiting a second for it.
        self.github.advance(1.0)

    # --- webhooks -----------------------------------------------------------------------

    async def subscribe_webhook(self, url: str, secret: str) -> None:
        # GitHub's registration body nests the URL and secret under `config`, which the
        # definition format cannot express: subscribed as a user does in the settings.
        self.github.subscribe(url, secret)

    def sign_webhook(self, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
        return {SIGNATURE_HEADER: signature(secret, body)}  # GitHub signs no time

    def verify_webhook(
        self, secret: str, body: bytes, headers: Mapping[str, str], *, tolerance_seconds: float
    ) -> bool:
        return verify_signature(secret, body, headers.get(SIGNATURE_HEADER))

    def _fresh(self) -> str:
        return f"Updated {self._run} {next(self._serial)}"

    def _writable(self, object_name: str) -> None:
        if object_name != "issues":
            raise KeyError(f"the github harness writes issues only, not {object_name!r}")
