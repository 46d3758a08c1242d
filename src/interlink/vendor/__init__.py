"""The vendor HTTP client: every call Interlink makes to an element's API goes through it."""

from interlink.vendor.auth import build_auth
from interlink.vendor.batch import BatchOutcome
from interlink.vendor.client import Page, VendorClient
from interlink.vendor.errors import (
    FatalVendorError,
    PaginationError,
    RecordNotFound,
    RecordRejected,
    RetryableVendorError,
    VendorAuthError,
    VendorError,
    classify,
)
from interlink.vendor.exports import ExportState
from interlink.vendor.hooks import Hooks, RequestContext, load_hooks
from interlink.vendor.paginators import PageRequest, Paginator, make_paginator
from interlink.vendor.ratelimit import RateLimiter, RateLimiterRegistry
from interlink.vendor.retry import Retrier
from interlink.vendor.times import format_time, parse_time

__all__ = [
    "BatchOutcome",
    "ExportState",
    "FatalVendorError",
    "Hooks",
    "Page",
    "PageRequest",
    "PaginationError",
    "Paginator",
    "RateLimiter",
    "RateLimiterRegistry",
    "RecordNotFound",
    "RecordRejected",
    "RequestContext",
    "Retrier",
    "RetryableVendorError",
    "VendorAuthError",
    "VendorClient",
    "VendorError",
    "build_auth",
    "classify",
    "format_time",
    "load_hooks",
    "make_paginator",
    "parse_time",
]
