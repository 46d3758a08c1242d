"""The `interlink` command driven as a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

COMMAND = [sys.executable, "-m", "interlink"]
TIMEOUT = 120


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")}
    return {**clean, "INTERLINK_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1"}


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@pytest.fixture
def background(env: dict[str, str]) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def wait_for_line(process: subprocess.Popen[str], pattern: str) -> tuple[re.Match[str], str]:
    """Read the output until `pattern` shows (bounded by the deadline); the match and all
    output so far."""
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match, "".join(seen)
    raise AssertionError(f"{pattern!r} never appeared in: {''.join(seen)}")


def test_org_create_json_prints_exactly_one_line(env: dict[str, str]) -> None:
    result = run("org", "create", "Acme", "--json", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert set(body) == {"id", "api_key"}
    assert body["id"].startswith("org_")
    assert body["api_key"].startswith("il_")


def test_postgres_without_secret_key_is_a_clear_error(env: dict[str, str]) -> None:
    env = {**env, "INTERLINK_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test"}
    result = run("serve", "--port", "0", env=env)
    assert result.returncode == 2
    assert "INTERLINK_SECRET_KEY is required" in result.stderr


def test_migrate_and_elements_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert run("migrate", env=env).returncode == 0
    schema = json.loads(run("elements", "schema", env=env).stdout)
    assert "objects" in schema["properties"]
    listed = run("elements", "list", env=env)
    assert "sandbox" in listed.stdout

    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "key: shop\nname: Shop\nbase_url: https://x\nobjects:\n  orders:\n    pth: /o\n"
    )
    result = run("elements", "validate", str(broken), env=env)
    assert result.returncode == 1
    assert "objects.orders" in result.stderr
    assert "line" in result.stderr


def test_worker_on_sqlite_explains_itself(env: dict[str, str]) -> None:
    result = run("worker", env=env)
    assert result.returncode == 2
    assert "serve" in result.stderr


@pytest.mark.postgres
def test_worker_on_postgresql_runs_jobs_and_stops_on_sigterm(
    env: dict[str, str], background: list[subprocess.Popen[str]], postgres_url: str
) -> None:
    env = {
        **env,
        "INTERLINK_DATABASE_URL": postgres_url,
        "INTERLINK_SECRET_KEY": "worker-cli-secret-key-0123456789-abcdefgh",
        "INTERLINK_PUBLIC_URL": "https://hub.example",
    }
    worker = subprocess.Popen(
        [*COMMAND, "worker", "--concurrency", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    background.append(worker)
    wait_for_line(worker, r"Interlink worker running 2 jobs at a time")
    # Started means registered with procrastinate, scheduling polls, maintenance queued.
    wait_for_line(worker, r"procrastinate workers started")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


def test_serve_answers_the_api_with_a_key_from_org_create(
    env: dict[str, str], background: list[subprocess.Popen[str]]
) -> None:
    key = json.loads(run("org", "create", "Acme", "--json", env=env).stdout)["api_key"]
    server = subprocess.Popen(
        [*COMMAND, "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    background.append(server)
    match, output = wait_for_line(server, r"listening on (http://\S+)")
    url = match.group(1)
    # No INTERLINK_SECRET_KEY: one is generated into the data folder, readable by us alone.
    assert "INTERLINK_SECRET_KEY is not set" in output
    key_file = Path(env["INTERLINK_DATA_DIR"]) / "secret.key"
    assert key_file.stat().st_mode & 0o077 == 0
    deadline = time.monotonic() + 30
    while True:
        try:
            health = httpx.get(f"{url}/healthz", timeout=5)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "serve never answered"
            time.sleep(0.1)
    assert health.json()["status"] == "ok"
    listed = httpx.get(f"{url}/v1/instances", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200
    assert httpx.get(f"{url}/v1/instances").status_code == 401
    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=20) == 0


def test_sandbox_command_serves_seeded_records(
    env: dict[str, str], background: list[subprocess.Popen[str]]
) -> None:
    sandbox = subprocess.Popen(
        [*COMMAND, "sandbox", "--port", "0", "--seed", "30", "--api-key", "k"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    background.append(sandbox)
    url = wait_for_line(sandbox, r"listening on (http://\S+)")[0].group(1)
    page = httpx.get(f"{url}/api/contacts", headers={"Authorization": "Bearer k"}, timeout=10)
    assert len(page.json()["results"]) == 30
    assert httpx.get(f"{url}/api/contacts", timeout=10).status_code == 401


def test_demo_walks_the_product_and_exits_zero(env: dict[str, str]) -> None:
    result = run("demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Demo complete" in result.stdout
    assert "written through the hub" in result.stdout
