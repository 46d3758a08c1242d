"""Standard Webhooks v1 signatures for deliveries, the secrets in force, and rotation.

After a rotation the previous secret keeps signing for `ROTATION_OVERLAP`, so a receiver
can switch secrets without missing a delivery: both signatures travel, space-separated,
in one `webhook-signature` header, as the standard allows.
"""

from __future__ import annotations

import base64
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from standardwebhooks.webhooks import Webhook

from interlink.security.secrets_box import SecretBox
from interlink.storage.models import Instance

ROTATION_OVERLAP = timedelta(hours=24)


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def secrets_in_force(box: SecretBox, instance: Instance, now: datetime) -> list[str]:
    """The current secret, then the previous one while its overlap lasts."""
    in_force = [box.decrypt(instance.signing_secret)]
    expires = instance.previous_secret_expires_at
    if instance.previous_signing_secret and expires is not None and expires > now:
        in_force.append(box.decrypt(instance.previous_signing_secret))
    return in_force


def rotate_signing_secret(box: SecretBox, instance: Instance, now: datetime) -> str:
    """Give the instance a new secret; the current one signs too until now + 24 h.

    A second rotation within the overlap drops the oldest secret: only the two newest sign.
    """
    secret = new_signing_secret()
    instance.previous_signing_secret = instance.signing_secret  # stays encrypted as it is
    instance.previous_secret_expires_at = now + ROTATION_OVERLAP
    instance.signing_secret = box.encrypt(secret)
    return secret


@dataclass(frozen=True)
class Signer:
    """Signs delivery bodies with every secret in force (the newest first)."""

    webhooks: tuple[Webhook, ...]

    @classmethod
    def of(cls, secrets_: Sequence[str]) -> Signer:
        if not secrets_:
            raise ValueError("a signer needs at least one secret")
        return cls(tuple(Webhook(secret) for secret in secrets_))

    def headers(self, message_id: str, body: bytes, now: datetime) -> dict[str, str]:
        """`webhook-id`, `webhook-timestamp` and `webhook-signature` for this body.

        `message_id` is the delivery's id: the same on every attempt, so a receiver can
        drop a delivery it has already processed.
        """
        text = body.decode()
        signatures = " ".join(hook.sign(message_id, now, text) for hook in self.webhooks)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(math.floor(now.timestamp())),
            "webhook-signature": signatures,
        }
