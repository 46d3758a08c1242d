"""The Sandbox CRM: a small, fast, realistic vendor API for the demo, tests and benchmarks."""

from interlink.sandbox.app import build_store, create_app
from interlink.sandbox.config import SandboxConfig
from interlink.sandbox.server import RunningSandbox, running_sandbox, serve_sandbox
from interlink.sandbox.signing import SIGNATURE_HEADER, sign, verify
from interlink.sandbox.store import SandboxStore

__all__ = [
    "SIGNATURE_HEADER",
    "RunningSandbox",
    "SandboxConfig",
    "SandboxStore",
    "build_store",
    "create_app",
    "running_sandbox",
    "serve_sandbox",
    "sign",
    "verify",
]
