"""An element's hooks module: optional functions that adjust the vendor client's defaults.

A built-in element may name a module (`hooks: interlink.elements.hooks.acme`) defining any
of `normalize_record`, `classify` and `prepare_request`; what it leaves out keeps the
default behaviour. A `classify` hook replaces the mapping; it can call
`interlink.vendor.errors.classify` for the cases it does not handle itself. Only modules
inside `interlink.elements.hooks` are ever imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import httpx

from interlink.elements.definition import HOOKS_PACKAGE, ElementDefinition, is_hooks_module
from interlink.errors import ConfigurationError
from interlink.vendor.errors import VendorError, classify


@dataclass(frozen=True)
class RequestContext:
    """What a `prepare_request` hook knows about the call being made."""

    element: ElementDefinition
    operation: str  # list, get, create, update, delete, deleted, batch, call
    object_name: str | None
    config: Mapping[str, Any] = field(repr=False)  # with secrets, for request signing


class NormalizeRecord(Protocol):
    def __call__(self, object_name: str, record: dict[str, Any], /) -> dict[str, Any]: ...


class Classify(Protocol):
    def __call__(
        self, response: httpx.Response, element: ElementDefinition, per_record: bool, /
    ) -> VendorError | None: ...


class PrepareRequest(Protocol):
    def __call__(self, request: httpx.Request, context: RequestContext, /) -> None: ...


def default_normalize_record(object_name: str, record: dict[str, Any], /) -> dict[str, Any]:
    return record


def default_classify(
    response: httpx.Response, element: ElementDefinition, per_record: bool, /
) -> VendorError | None:
    return classify(response, element, per_record=per_record)


def default_prepare_request(request: httpx.Request, context: RequestContext, /) -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    normalize_record: NormalizeRecord = default_normalize_record
    classify: Classify = default_classify
    prepare_request: PrepareRequest = default_prepare_request


DEFAULT_HOOKS = Hooks()


@cache
def load_hooks(module_path: str | None) -> Hooks:
    """The hooks of the module at `module_path` (imported once), defaults where it has none."""
    if module_path is None:
        return DEFAULT_HOOKS
    if not is_hooks_module(module_path):
        # The definition format refuses these already; this is the second lock.
        raise ConfigurationError(f"hooks modules live in {HOOKS_PACKAGE}, not {module_path!r}")
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import the hooks module {module_path!r}") from exc
    found: dict[str, Any] = {}
    for name in ("normalize_record", "classify", "prepare_request"):
        hook = getattr(module, name, None)
        if hook is None:
            continue
        if not callable(hook):
            raise ConfigurationError(f"hook {module_path}.{name} is not a function")
        found[name] = hook
    return Hooks(**found)
