"""Every signature scheme: good, forged, missing, stale and wrong-secret posts, against
signatures computed here independently (and the vendors' documented examples)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

import pytest

from interlink.elements.definition import WebhookSignature
from interlink.errors import ConfigurationError
from interlink.eventing.webhooks.signatures import (
    SCHEMES,
    SignatureError,
    SignedRequest,
    verify_signature,
)

NOW = 1_714_564_800  # 2024-05-01T12:00:00Z
BODY = b'{"id":"evt_1","type":"contact.created","object":{"id":"c_1"}}'
URL = "https://hub.example.com/v1/hooks/inst_1/tok"

Headers = dict[str, str]


def hmac_hex(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algorithm)).hexdigest()


def hmac_b64(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, message, getattr(hashlib, algorithm)).digest()).decode()


def sandbox_headers(secret: str, body: bytes, at: int) -> Headers:
    return {"X-Sandbox-Signature": f"t={at},v1={hmac_hex(secret, f'{at}.'.encode() + body)}"}


def stripe_headers(secret: str, body: bytes, at: int) -> Headers:
    signature = hmac_hex(secret, f"{at}.".encode() + body)
    # Stripe's documented shape: t, then v1 (and a v0 test-mode value we must ignore).
    return {"Stripe-Signature": f"t={at},v1={signature},v0={'0' * 64}"}


def github_headers(secret: str, body: bytes, at: int) -> Headers:
    return {"X-Hub-Signature-256": f"sha256={hmac_hex(secret, body)}"}


def shopify_headers(secret: str, body: bytes, at: int) -> Headers:
    return {"X-Shopify-Hmac-Sha256": hmac_b64(secret, body)}


def hubspot_headers(secret: str, body: bytes, at: int) -> Headers:
    millis = str(at * 1000)
    source = f"POST{URL}".encode() + body + millis.encode()
    return {
        "X-HubSpot-Signature-v3": hmac_b64(secret, source),
        "X-HubSpot-Request-Timestamp": millis,
    }


def standard_headers(secret: str, body: bytes, at: int) -> Headers:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = hmac_b64(key, f"msg_1.{at}.".encode() + body)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(at),
        "webhook-signature": f"v1,{signature}",
    }


def generic_headers(secret: str, body: bytes, at: int) -> Headers:
    signature = hmac_b64(secret, f"{at}:".encode() + body, "sha512")
    return {"X-Acme-Signature": signature, "X-Acme-Time": str(at)}


@dataclass(frozen=True)
class Case:
    options: WebhookSignature
    sign: Callable[[str, bytes, int], Headers]
    secret: str = "s3cret-for-tests"
    other_secret: str = "another-secret"
    timestamped: bool = True

    def __str__(self) -> str:
        return self.options.scheme


SW_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SW_OTHER = "whsec_" + base64.b64encode(b"j" * 32).decode()
CASES = [
    Case(WebhookSignature(scheme="sandbox"), sandbox_headers),
    Case(WebhookSignature(scheme="stripe"), stripe_headers, secret="whsec_stripe_test"),
    Case(WebhookSignature(scheme="github"), github_headers, timestamped=False),
    Case(WebhookSignature(scheme="shopify"), shopify_headers, timestamped=False),
    Case(WebhookSignature(scheme="hubspot_v3"), hubspot_headers),
    Case(WebhookSignature(scheme="standard_webhooks"), standard_headers, SW_SECRET, SW_OTHER),
    Case(
        WebhookSignature(
            scheme="hmac",
            header="X-Acme-Signature",
            timestamp_header="X-Acme-Time",
            algorithm="sha512",
            encoding="base64",
            signed_payload="{timestamp}:{body}",
        ),
        generic_headers,
    ),
]


def check(
    case: Case, headers: Headers, body: bytes = BODY, secret: str | None = None, **kw: Any
) -> None:
    request = SignedRequest.of(body, headers, method="POST", url=URL)
    verify_signature(case.options, secret or case.secret, request, now=kw.get("now", NOW))


def reason_of(call: Callable[[], None]) -> str:
    with pytest.raises(SignatureError) as caught:
        call()
    return caught.value.reason


def test_every_scheme_of_the_definition_format_has_a_verifier() -> None:
    schemes = get_args(WebhookSignature.model_fields["scheme"].annotation)
    assert set(SCHEMES) == set(schemes)
    assert {case.options.scheme for case in CASES} == set(schemes)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_good_signature_verifies(case: Case) -> None:
    check(case, case.sign(case.secret, BODY, NOW))
    # Header names are not case-sensitive.
    check(case, {name.upper(): value for name, value in case.sign(case.secret, BODY, NOW).items()})


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_forged_body_is_invalid(case: Case) -> None:
    headers = case.sign(case.secret, BODY, NOW)
    forged = BODY.replace(b"c_1", b"c_2")
    assert reason_of(lambda: check(case, headers, forged)) == "invalid"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_wrong_secret_is_invalid(case: Case) -> None:
    headers = case.sign(case.other_secret, BODY, NOW)
    assert reason_of(lambda: check(case, headers)) == "invalid"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_missing_signature_headers_are_missing(case: Case) -> None:
    assert reason_of(lambda: check(case, {})) == "missing"
    for name in case.sign(case.secret, BODY, NOW):
        partial = {k: v for k, v in case.sign(case.secret, BODY, NOW).items() if k != name}
        assert reason_of(functools.partial(check, case, partial)) == "missing"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_garbled_signature_is_invalid(case: Case) -> None:
    headers = {name: "garbage" for name in case.sign(case.secret, BODY, NOW)}
    assert reason_of(lambda: check(case, headers)) == "invalid"


@pytest.mark.parametrize("case", [c for c in CASES if c.timestamped], ids=str)
@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_a_timestamp_outside_the_tolerance_is_stale(case: Case, offset: int) -> None:
    headers = case.sign(case.secret, BODY, NOW + offset)
    assert reason_of(lambda: check(case, headers)) == "stale"
    check(case, case.sign(case.secret, BODY, NOW - 299))


@pytest.mark.parametrize("case", [c for c in CASES if c.timestamped], ids=str)
def test_the_tolerance_comes_from_the_element(case: Case) -> None:
    strict = Case(case.options.model_copy(update={"tolerance_seconds": 10}), case.sign, case.secret)
    assert reason_of(lambda: check(strict, case.sign(case.secret, BODY, NOW - 11))) == "stale"


GITHUB_EXAMPLE = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_example() -> None:
    # From GitHub's "Validating webhook deliveries".
    request = SignedRequest.of(
        b"Hello, World!",
        {"X-Hub-Signature-256": "sha256=" + GITHUB_EXAMPLE},
    )
    verify_signature(
        WebhookSignature(scheme="github"), "It's a Secret to Everybody", request, now=NOW
    )


def test_standard_webhooks_reference_vector() -> None:
    # The test vector of the Standard Webhooks reference libraries.
    request = SignedRequest.of(
        b'{"test": 2432232314}',
        {
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "webhook-timestamp": "1614265330",
            "webhook-signature": "v1,bogus v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        },
    )
    options = WebhookSignature(scheme="standard_webhooks")
    verify_signature(options, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", request, now=1614265330)
    assert (
        reason_of(
            lambda: verify_signature(
                options, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", request, now=1614265330 + 301
            )
        )
        == "stale"
    )


def test_stripe_accepts_any_of_several_v1_and_ignores_v0() -> None:
    case = CASES[1]
    good = hmac_hex(case.secret, f"{NOW}.".encode() + BODY)
    rolled = {"Stripe-Signature": f"t={NOW},v1={'ab' * 32},v1={good}"}
    check(case, rolled)
    only_v0 = {"Stripe-Signature": f"t={NOW},v0={good}"}
    assert reason_of(lambda: check(case, only_v0)) == "invalid"


def test_hubspot_signs_the_public_url_and_method() -> None:
    case = CASES[4]
    headers = hubspot_headers(case.secret, BODY, NOW)
    elsewhere = SignedRequest.of(BODY, headers, url="http://10.0.0.5:8000/v1/hooks/inst_1/tok")
    assert (
        reason_of(lambda: verify_signature(case.options, case.secret, elsewhere, now=NOW))
        == "invalid"
    )
    as_put = SignedRequest.of(BODY, headers, method="PUT", url=URL)
    assert (
        reason_of(lambda: verify_signature(case.options, case.secret, as_put, now=NOW)) == "invalid"
    )


def test_hubspot_decodes_url_encoded_characters_of_the_uri() -> None:
    case = CASES[4]
    millis = str(NOW * 1000)
    decoded = f"{URL}?portal=a:b"
    source = f"POST{decoded}".encode() + BODY + millis.encode()
    headers = {
        "X-HubSpot-Signature-v3": hmac_b64(case.secret, source),
        "X-HubSpot-Request-Timestamp": millis,
    }
    request = SignedRequest.of(BODY, headers, url=f"{URL}?portal=a%3Ab")
    verify_signature(case.options, case.secret, request, now=NOW)


def test_generic_hmac_hex_with_prefix_and_no_timestamp() -> None:
    options = WebhookSignature(scheme="hmac", header="X-Sig", algorithm="sha1", encoding="hex")
    good = {"X-Sig": "sha1=" + hmac_hex("k", BODY, "sha1")}
    verify_signature(options, "k", SignedRequest.of(BODY, good), now=NOW)
    bare = {"X-Sig": hmac_hex("k", BODY, "sha1")}
    verify_signature(options, "k", SignedRequest.of(BODY, bare), now=NOW)
    wrong = {"X-Sig": hmac_hex("k", BODY, "sha256")}
    assert (
        reason_of(lambda: verify_signature(options, "k", SignedRequest.of(BODY, wrong), now=NOW))
        == "invalid"
    )


def test_generic_hmac_reads_millisecond_timestamps() -> None:
    options = WebhookSignature(
        scheme="hmac",
        header="X-Sig",
        timestamp_header="X-Time",
        signed_payload="{timestamp}.{body}",
    )
    millis = str(NOW * 1000)
    headers = {"X-Sig": hmac_hex("k", f"{millis}.".encode() + BODY), "X-Time": millis}
    verify_signature(options, "k", SignedRequest.of(BODY, headers), now=NOW)
    assert (
        reason_of(
            lambda: verify_signature(options, "k", SignedRequest.of(BODY, headers), now=NOW + 400)
        )
        == "stale"
    )


def test_generic_hmac_signs_bodies_that_are_not_utf8() -> None:
    body = b"\xff\xfe{}"
    options = WebhookSignature(scheme="hmac", header="X-Sig", signed_payload="v0:{body}")
    headers = {"X-Sig": hmac_hex("k", b"v0:" + body)}
    verify_signature(options, "k", SignedRequest.of(body, headers), now=NOW)


@pytest.mark.parametrize(
    "options",
    [
        WebhookSignature(scheme="hmac"),
        WebhookSignature(scheme="hmac", header="X-Sig", signed_payload="{timestamp}.{body}"),
    ],
)
def test_generic_hmac_misconfigured_is_a_configuration_error(options: WebhookSignature) -> None:
    with pytest.raises(ConfigurationError):
        verify_signature(options, "k", SignedRequest.of(BODY, {"X-Sig": "00"}), now=NOW)


def test_errors_never_show_the_secret_or_the_expected_digest() -> None:
    case = CASES[0]
    headers = sandbox_headers("wrong", BODY, NOW)
    with pytest.raises(SignatureError) as caught:
        check(case, headers)
    expected = hmac_hex(case.secret, f"{NOW}.".encode() + BODY)
    assert case.secret not in str(caught.value)
    assert expected not in str(caught.value)


def test_the_sandbox_scheme_matches_the_sandbox_itself() -> None:
    from interlink.sandbox.signing import sign

    headers = {"X-Sandbox-Signature": sign("shh", BODY, NOW)}
    verify_signature(
        WebhookSignature(scheme="sandbox"), "shh", SignedRequest.of(BODY, headers), now=NOW
    )
