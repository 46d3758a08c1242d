"""Credential encryption at rest, with key rotation (INTERLINK_SECRET_KEY)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from interlink.errors import ConfigurationError
from interlink.settings import MIN_SECRET_LENGTH

# Fixed labels, so a key string used elsewhere too never yields the same Fernet key here;
# a new version of the scheme gets a new label.
_HKDF_SALT = b"interlink/secret-box"
_HKDF_INFO = b"interlink credentials at rest: fernet v1"


class UndecryptableSecret(ConfigurationError):
    """A stored secret that none of the configured keys decrypts."""


class SecretBox:
    """Encrypts with the first key and decrypts with any, so keys can be rotated."""

    def __init__(self, keys: Sequence[str]) -> None:
        # A bare string is a Sequence[str] too, of one-character keys: refuse it plainly.
        if isinstance(keys, str):
            raise TypeError("SecretBox takes a sequence of keys, not one string")
        if not keys:
            raise ConfigurationError("INTERLINK_SECRET_KEY: at least one key is needed")
        if any(len(key) < MIN_SECRET_LENGTH for key in keys):
            raise ConfigurationError(
                f"INTERLINK_SECRET_KEY: every key needs {MIN_SECRET_LENGTH}+ characters"
            )
        # Only the derived Fernet objects are kept: the key strings never sit on `self`.
        self._fernet = MultiFernet([Fernet(_derive_fernet_key(key)) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except (InvalidToken, ValueError, TypeError):
            raise _undecryptable() from None

    def encrypt_json(self, value: Mapping[str, Any]) -> str:
        return self.encrypt(json.dumps(dict(value), separators=(",", ":")))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        try:
            value = json.loads(self.decrypt(token))
        except json.JSONDecodeError:
            raise UndecryptableSecret("stored credentials are not valid JSON") from None
        if not isinstance(value, dict):
            raise UndecryptableSecret("stored credentials are not a JSON object")
        return value

    def rotate(self, token: str) -> str:
        """`token` re-encrypted with the first key (its original timestamp is kept)."""
        try:
            return self._fernet.rotate(token).decode("ascii")
        except (InvalidToken, ValueError, TypeError):
            raise _undecryptable() from None


def _derive_fernet_key(secret: str) -> bytes:
    # HKDF, not a password hash: the setting is key material (32+ characters of secret;
    # the generated one is 48 random bytes), not a password to stretch. HKDF only shapes
    # it into the 32 bytes Fernet wants, bound to this one use by salt and info.
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(raw)


def _undecryptable() -> UndecryptableSecret:
    # Raised `from None` by callers: the message and the traceback carry no key material.
    return UndecryptableSecret(
        "stored credentials cannot be decrypted with any configured INTERLINK_SECRET_KEY "
        "(was a key removed or changed?)"
    )
