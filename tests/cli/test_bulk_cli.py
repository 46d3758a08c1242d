"""`interlink bulk …` driven as a subprocess against a hub on loopback whose workers run
the jobs while the command waits, and a live sandbox behind it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from interlink.server import RunningHub, running_hub
from interlink.settings import Settings
from tests.hub_fixtures import make_org

COMMAND = [sys.executable, "-m", "interlink", "bulk"]
TIMEOUT = 120  # seconds one command may take, at most
SANDBOX_KEY = "cli-tests-sandbox-key"
SEED = 120
JOB_ID = re.compile(r"bulk_[0-9a-f]+")


def base_env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")}
    return {**clean, "NO_COLOR": "1"}


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*COMMAND, *args], env=env, cwd=cwd, capture_output=True, timeout=TIMEOUT, check=False
    )


@dataclass
class Setup:
    """A running hub with workers, an organization, a sandbox instance, and the CLI."""

    hub: RunningHub
    sandbox: RunningSandbox
    api: httpx.AsyncClient
    instance_id: str
    env: dict[str, str]
    cwd: Path

    async def cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """The command in a thread, so the hub keeps serving in this event loop."""
        return await asyncio.to_thread(run_cli, *args, env=self.env, cwd=self.cwd)

    def contacts(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: dict(r) for r in self.sandbox.store.contacts.snapshot()}


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    config = SandboxConfig(api_key=SANDBOX_KEY, seed=SEED, random_seed=7)
    async with running_sandbox(config) as running:
        yield running


@pytest.fixture
async def setup(
    hub_settings: Settings, sandbox: RunningSandbox, tmp_path: Path
) -> AsyncIterator[Setup]:
    async with running_hub(hub_settings, workers=True) as hub:
        org = await make_org(hub)
        headers = {"Authorization": f"Bearer {org.key}"}
        async with httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=30) as api:
            answer = await api.post(
                "/v1/instances",
                json={
                    "element": "sandbox",
                    "name": "crm",
                    "config": {"base_url": sandbox.url, "api_key": SANDBOX_KEY},
                },
            )
            assert answer.status_code == 201, answer.text
            cwd = tmp_path / "work"
            cwd.mkdir()
            env = {**base_env(), "INTERLINK_URL": hub.url, "INTERLINK_API_KEY": org.key}
            yield Setup(hub, sandbox, api, answer.json()["id"], env, cwd)


def ok(result: subprocess.CompletedProcess[bytes]) -> str:
    """The stdout of a command that must have succeeded."""
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def ndjson_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


async def test_export_to_an_ndjson_file(setup: Setup) -> None:
    target = setup.cwd / "contacts.ndjson"
    result = await setup.cli(
        "export", setup.instance_id, "select * from contacts", "--output", str(target)
    )
    summary = ok(result)
    records = ndjson_lines(target.read_bytes())
    expected = setup.contacts()
    assert sorted(r["id"] for r in records) == sorted(expected)
    assert all(record == expected[record["id"]] for record in records)
    assert len(summary.splitlines()) == 1
    assert f"{SEED} records of contacts" in summary
    assert str(target) in summary
    assert JOB_ID.search(summary)


async def test_export_to_csv_named_after_the_job(setup: Setup) -> None:
    result = await setup.cli(
        "export",
        setup.instance_id,
        "select email, first_name from contacts",
        "--format",
        "csv",
        "--no-native",
    )
    summary = ok(result)
    match = JOB_ID.search(summary)
    assert match
    written = setup.cwd / f"{match.group()}.csv"
    rows = list(csv.reader(io.StringIO(written.read_text(encoding="utf-8"))))
    assert rows[0] == ["id", "email", "first_name"]
    expected = setup.contacts()
    assert sorted(row[0] for row in rows[1:]) == sorted(expected)
    for record_id, email, first_name in rows[1:]:
        assert (email, first_name) == (
            expected[record_id]["email"],
            expected[record_id]["first_name"],
        )


async def test_export_to_stdout_leaves_only_the_data_there(setup: Setup) -> None:
    result = await setup.cli(
        "export", setup.instance_id, "select id, email from contacts", "--output", "-"
    )
    assert result.returncode == 0, result.stderr.decode()
    records = ndjson_lines(result.stdout)
    expected = setup.contacts()
    assert sorted(r["id"] for r in records) == sorted(expected)
    assert all(r == {"id": r["id"], "email": expected[r["id"]]["email"]} for r in records)
    stderr = result.stderr.decode()
    assert "written to stdout" in stderr
    assert "\x1b" not in stderr  # not a terminal: no control codes


async def test_no_wait_then_status_and_download(setup: Setup) -> None:
    queued = ok(await setup.cli("export", setup.instance_id, "select * from contacts", "--no-wait"))
    job_id = queued.strip()
    assert JOB_ID.fullmatch(job_id), queued

    watched = ok(await setup.cli("status", job_id, "--watch", "--json"))
    job = json.loads(watched)  # exactly one JSON document
    assert job["id"] == job_id
    assert job["status"] == "completed"
    assert job["records"] == SEED

    again = json.loads(ok(await setup.cli("status", job_id, "--json")))
    assert again == (await setup.api.get(f"/v1/bulk/{job_id}")).json()

    table = ok(await setup.cli("status", job_id))
    assert job_id in table
    assert "completed" in table
    assert "select * from contacts" in table

    target = setup.cwd / "all.json"
    summary = ok(await setup.cli("download", job_id, "--format", "json", "-o", str(target)))
    assert str(target) in summary
    records = json.loads(target.read_bytes())
    assert sorted(r["id"] for r in records) == sorted(setup.contacts())

    default = ok(await setup.cli("download", job_id))
    assert f"{job_id}.ndjson" in default
    assert len(ndjson_lines((setup.cwd / f"{job_id}.ndjson").read_bytes())) == SEED

    refused = await setup.cli("download", job_id, "--errors")
    assert refused.returncode == 2
    assert b"is an export" in refused.stderr


async def test_a_bad_query_exits_1_with_the_hubs_detail(setup: Setup) -> None:
    q = "select * from nothing"
    answer = await setup.api.post(f"/v1/instances/{setup.instance_id}/bulk/query", json={"q": q})
    assert answer.status_code == 400
    problem = answer.json()

    result = await setup.cli("export", setup.instance_id, q)
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.decode().strip() == f"interlink: {problem['title']}: {problem['detail']}"


async def test_a_failed_job_exits_1_with_its_error(setup: Setup) -> None:
    answer = await setup.api.post(
        "/v1/instances",
        json={
            "element": "sandbox",
            "name": "wrong key",
            "config": {"base_url": setup.sandbox.url, "api_key": "not-the-key"},
        },
    )
    assert answer.status_code == 201, answer.text
    result = await setup.cli(
        "export", answer.json()["id"], "select * from contacts", "--no-native", "-o", "out.ndjson"
    )
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert re.search(r"interlink: bulk job bulk_[0-9a-f]+ failed: \S", stderr), stderr
    assert not (setup.cwd / "out.ndjson").exists()


async def test_an_unknown_job_exits_1_not_found(setup: Setup) -> None:
    for command in (["status", "bulk_000000000000000000000000"], ["download", "bulk_0"]):
        result = await setup.cli(*command)
        assert result.returncode == 1
        assert result.stderr.decode().startswith("interlink: Not found: ")


async def test_a_wrong_key_exits_1_unauthorized(setup: Setup) -> None:
    result = await setup.cli("status", "bulk_0", "--api-key", "il_wrong")
    assert result.returncode == 1
    assert result.stderr.decode().startswith("interlink: Unauthorized")


def test_a_missing_api_key_exits_2(tmp_path: Path) -> None:
    result = run_cli("status", "bulk_0", env=base_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert b"INTERLINK_API_KEY" in result.stderr
    assert b"Traceback" not in result.stderr


def test_an_unreachable_hub_exits_2(tmp_path: Path) -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        env = {**base_env(), "INTERLINK_URL": url, "INTERLINK_API_KEY": "il_any"}
        for command in (["status", "bulk_0"], ["export", "inst_0", "select * from contacts"]):
            result = run_cli(*command, env=env, cwd=tmp_path)
            assert result.returncode == 2
            stderr = result.stderr.decode()
            assert stderr.startswith(f"interlink: cannot reach the hub at {url}")
            assert "Traceback" not in stderr


async def test_upload_with_a_bad_row(setup: Setup) -> None:
    upload = setup.cwd / "new.csv"
    upload.write_text(
        "email,first_name,last_name\n"
        "ada.new@cli.example.com,Ada,New\n"
        "not-an-email,Bad,Row\n"
        "alan.new@cli.example.com,Alan,New\n",
        encoding="utf-8",
    )
    result = await setup.cli(
        "upload",
        setup.instance_id,
        "contacts",
        str(upload),
        "--action",
        "create",
        "--errors",
        "errors.ndjson",
        "--results",
        "results.ndjson",
    )
    summary = ok(result)
    assert "2 ok, 1 failed" in summary
    assert "errors.ndjson" in summary

    errors = ndjson_lines((setup.cwd / "errors.ndjson").read_bytes())
    assert len(errors) == 1
    assert errors[0]["row"] == 2
    assert errors[0]["record"]["email"] == "not-an-email"
    assert errors[0]["error"]

    results = ndjson_lines((setup.cwd / "results.ndjson").read_bytes())
    assert sorted(r["row"] for r in results) == [1, 3]
    assert {r["outcome"] for r in results} == {"created"}
    stored = setup.contacts()
    assert {stored[r["id"]]["email"] for r in results} == {
        "ada.new@cli.example.com",
        "alan.new@cli.example.com",
    }

    match = JOB_ID.search(summary)
    assert match
    job = json.loads(ok(await setup.cli("status", match.group(), "--json")))
    assert job["direction"] == "upload"
    assert (job["records"], job["failed"]) == (2, 1)
    again = await setup.cli("download", match.group(), "--errors", "-o", "-")
    assert again.returncode == 0, again.stderr.decode()
    assert ndjson_lines(again.stdout) == errors
