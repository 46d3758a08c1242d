"""An element's hooks module: optional functions that adjust the vendor client's defaults.

A built-in element may name a module (`hooks: interlink.elements.hooks.acme`) defining any
of `normalize_record`, `classify`, `prepare_request`, `batch_inputs`, `batch_answer` and
`prepare_export` (the body that starts a native bulk export); what it leaves out keeps
the default behaviour. A `classify` hook replaces the mapping; it can call
`interlink.vendor.errors.classify` for the cases it does not handle itself. Only modules
inside `interlink.elements.hooks` are ever imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass(frozen=True)
class ExportContext:
    """What a `prepare_export` hook knows about the native export being started."""

    element: ElementDefinition
    object_name: str
    updated_since: datetime | None


class PrepareExport(Protocol):
    """The JSON body that starts a native export (the element's generic one given), as
    the vendor takes it: e.g. a query in the vendor's own language (Salesforce's SOQL)."""

    def __call__(self, body: dict[str, Any], context: ExportContext, /) -> dict[str, Any]: ...


class NormalizeRecord(Protocol):
    def __call__(self, object_name: str, record: dict[str, Any], /) -> dict[str, Any]: ...


class Classify(Protocol):
    def __call__(
        self, response: httpx.Response, element: ElementDefinition, per_record: bool, /
    ) -> VendorError | None: ...


class PrepareRequest(Protocol):
    def __call__(self, request: httpx.Request, context: RequestContext, /) -> None: ...


class BatchInputs(Protocol):
    """The inputs of one batch chunk as the vendor takes them (HubSpot: `{"properties"}`
    with the id beside it), from the hub's flat records."""

    def __call__(
        self,
        object_name: str,
        action: str,
        inputs: list[dict[str, Any]],
        id_property: str | None,
        /,
    ) -> list[dict[str, Any]]: ...


class BatchAnswer(Protocol):
    """The vendor's answer to one batch chunk reshaped as the element's `batch` section
    reads it (a result per input, with its index), for vendors whose answers do not say
    which input each result is for; `inputs` are the chunk as sent (after `batch_inputs`)."""

    def __call__(
        self, object_name: str, action: str, answer: Any, inputs: list[dict[str, Any]], /
    ) -> Any: ...


def default_batch_inputs(
    object_name: str, action: str, inputs: list[dict[str, Any]], id_property: str | None, /
) -> list[dict[str, Any]]:
    return inputs


def default_batch_answer(
    object_name: str, action: str, answer: Any, inputs: list[dict[str, Any]], /
) -> Any:
    return answer


def default_normalize_record(object_name: str, record: dict[str, Any], /) -> dict[str, Any]:
    return record


def default_classify(
    response: httpx.Response, element: ElementDefinition, per_record: bool, /
) -> VendorError | None:
    return classify(response, element, per_record=per_record)


def default_prepare_request(request: httpx.Request, context: RequestContext, /) -> None:
    return None


def default_prepare_export(body: dict[str, Any], context: ExportContext, /) -> dict[str, Any]:
    return body


@dataclass(frozen=True)
class Hooks:
    normalize_record: NormalizeRecord = default_normalize_record
    classify: Classify = default_classify
    prepare_request: PrepareRequest = default_prepare_request
    batch_inputs: BatchInputs = default_batch_inputs
    batch_answer: BatchAnswer = default_batch_answer
    prepare_export: PrepareExport = default_prepare_export


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
    for name in (
        "normalize_record",
        "classify",
        "prepare_request",
        "batch_inputs",
        "batch_answer",
        "prepare_export",
    ):
        hook = getattr(module, name, None)
        if hook is None:
            continue
        if not callable(hook):
            raise ConfigurationError(f"hook {module_path}.{name} is not a function")
        found[name] = hook
    return Hooks(**found)
