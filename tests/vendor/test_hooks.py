"""An element's hooks module: found by name, each hook optional, defaults otherwise."""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path

import pytest

import interlink.elements.hooks
from interlink.elements.definition import HOOKS_PACKAGE
from interlink.errors import ConfigurationError
from interlink.vendor import FatalVendorError, load_hooks
from interlink.vendor.hooks import DEFAULT_HOOKS, default_classify

from .fake_vendor import FakeVendor, vendor_element
from .support import FakeClock, make_client

HOOKS_MODULE = """
from interlink.vendor.errors import FatalVendorError, classify as default_classify


def normalize_record(object_name, record):
    return {**record, "shout": record["name"].upper(), "object": object_name}


def prepare_request(request, context):
    request.headers["X-Operation"] = f"{context.operation}:{context.object_name}"


def classify(response, element, per_record):
    if response.status_code == 429:
        return FatalVendorError("this vendor's 429 means the quota is gone for the day")
    return default_classify(response, element, per_record=per_record)
"""


@pytest.fixture
def hooks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder that is part of the `interlink.elements.hooks` package for one test."""
    package = interlink.elements.hooks
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    return tmp_path


def write_module(directory: Path, source: str) -> str:
    """A new hooks module in `directory`; its full name, inside the hooks package."""
    name = f"hooks_{uuid.uuid4().hex}"
    (directory / f"{name}.py").write_text(source)
    importlib.invalidate_caches()
    return f"{HOOKS_PACKAGE}.{name}"


@pytest.fixture
def hooks_module(hooks_dir: Path) -> str:
    return write_module(hooks_dir, HOOKS_MODULE)


async def test_hooks_normalize_prepare_and_classify(
    vendor: FakeVendor, clock: FakeClock, hooks_module: str
) -> None:
    element = vendor_element(hooks=hooks_module)
    async with make_client(element, vendor.base_url, clock) as client:
        page = await client.list_page("contacts", page_size=1)
        with pytest.raises(FatalVendorError, match="quota is gone"):
            await client.list_page("throttled")
    assert page.records[0]["shout"] == "CONTACT 1"
    assert page.records[0]["id"] == "1"
    assert vendor.seen[0].headers["x-operation"] == "list:contacts"
    assert vendor.calls["throttled"] == 1  # the hook made it fatal: not retried


def test_missing_hooks_keep_the_defaults(hooks_dir: Path) -> None:
    name = write_module(
        hooks_dir, "def normalize_record(object_name, record):\n    return record\n"
    )
    hooks = load_hooks(name)
    assert hooks.classify is default_classify
    assert hooks.prepare_request is DEFAULT_HOOKS.prepare_request
    assert load_hooks(None) is DEFAULT_HOOKS


def test_a_broken_hooks_module_is_a_configuration_error(hooks_dir: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_hooks(f"{HOOKS_PACKAGE}.no_such_module_{uuid.uuid4().hex}")
    with pytest.raises(ConfigurationError, match="not a function"):
        load_hooks(write_module(hooks_dir, "classify = 42\n"))


def test_modules_outside_the_hooks_package_are_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = tmp_path / "imported"
    name = f"stray_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    importlib.invalidate_caches()
    for module_path in [name, "os", HOOKS_PACKAGE, f"{HOOKS_PACKAGE}x.{name}"]:
        with pytest.raises(ConfigurationError, match="hooks modules live in"):
            load_hooks(module_path)
    assert not marker.exists()


async def test_a_hook_that_loses_the_id_is_caught(
    vendor: FakeVendor, clock: FakeClock, hooks_dir: Path
) -> None:
    name = write_module(hooks_dir, "def normalize_record(object_name, record):\n    return {}\n")
    async with make_client(vendor_element(hooks=name), vendor.base_url, clock) as client:
        with pytest.raises(ConfigurationError, match="string 'id'"):
            await client.list_page("contacts")
