"""Serving: the blocking CLI entry point in a subprocess, and the in-process context manager."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time

import httpx

from interlink.sandbox import running_sandbox

from .helpers import API_KEY, client_for, make_config

SERVE = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
from interlink.sandbox import SandboxConfig, serve_sandbox
serve_sandbox(SandboxConfig(api_key=sys.argv[2], seed=2000), port=int(sys.argv[1]))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_sandbox_opens_the_port_seeded_and_stops_on_ctrl_c() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port), API_KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        counts = _first_health(port, process)
        assert counts == {"contacts": 2000, "companies": 200}  # seeded before the port opened
        with httpx.Client(trust_env=False) as client:
            listed = client.get(
                f"http://127.0.0.1:{port}/api/contacts",
                headers={"Authorization": f"Bearer {API_KEY}"},
            )
        assert listed.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0, stderr
    # One line, once the port is open; uvicorn's own chatter stays below WARNING.
    assert stderr.splitlines() == [
        f"interlink.sandbox Sandbox CRM listening on http://127.0.0.1:{port} "
        "(2000 contacts, 200 companies)"
    ]


def _first_health(port: int, process: subprocess.Popen[str]) -> object:
    deadline = time.monotonic() + 20
    with httpx.Client(trust_env=False, timeout=5) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the sandbox exited early"
            try:
                return client.get(f"http://127.0.0.1:{port}/healthz").json()["counts"]
            except httpx.TransportError:
                time.sleep(0.05)
    raise AssertionError("the sandbox never opened its port")


async def test_running_sandbox_leaves_nothing_behind() -> None:
    before = asyncio.all_tasks()
    async with running_sandbox(make_config(seed=10)) as sandbox:
        assert sandbox.url.startswith("http://127.0.0.1:")
        assert sandbox.config.seed == 10
        async with client_for(sandbox) as client:
            await client.post("/api/webhooks", json={"url": "http://127.0.0.1:9/", "secret": "s"})
            await client.post("/api/exports", json={"object": "contacts"})
            await client.post("/api/companies", json={"name": "Pending delivery"})
        port = int(sandbox.url.rsplit(":", 1)[1])
    assert asyncio.all_tasks() == before
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the port is closed
