"""The harness of every element: a new element adds its harness class here."""

from __future__ import annotations

from tests.conformance.harness import Harness
from tests.conformance.harnesses.github import GitHubHarness
from tests.conformance.harnesses.hubspot import HubSpotHarness
from tests.conformance.harnesses.salesforce import SalesforceHarness
from tests.conformance.harnesses.sandbox import SandboxHarness
from tests.conformance.harnesses.shopify import ShopifyHarness
from tests.conformance.harnesses.stripe import StripeHarness

HARNESSES: dict[str, type[Harness]] = {
    harness.element_key: harness
    for harness in (
        SandboxHarness,
        ShopifyHarness,
        GitHubHarness,
        StripeHarness,
        HubSpotHarness,
        SalesforceHarness,
    )
}
