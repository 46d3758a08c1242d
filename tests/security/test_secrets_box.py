"""Credentials encrypted at rest: round trip, key rotation, and errors that leak no key."""

from __future__ import annotations

import pytest

from interlink.errors import ConfigurationError
from interlink.security.secrets_box import SecretBox, UndecryptableSecret

OLD_KEY = "old-key-0123456789-abcdefghijklmnop"
NEW_KEY = "new-key-0123456789-qrstuvwxyzABCDEF"
OTHER_KEY = "another-key-that-is-long-enough-to-use"
CREDENTIALS = {"api_key": "sk_live_123", "nested": {"scopes": ["read", "write"]}, "n": 1}


def test_json_round_trip() -> None:
    box = SecretBox([NEW_KEY])
    token = box.encrypt_json(CREDENTIALS)
    assert "sk_live_123" not in token
    assert box.decrypt_json(token) == CREDENTIALS


def test_text_round_trip_with_fresh_tokens() -> None:
    box = SecretBox([NEW_KEY])
    first, second = box.encrypt("pässwörd"), box.encrypt("pässwörd")
    assert first != second  # a random IV every time
    assert box.decrypt(first) == box.decrypt(second) == "pässwörd"


def test_the_same_key_string_decrypts_in_another_process() -> None:
    token = SecretBox([NEW_KEY]).encrypt_json(CREDENTIALS)
    assert SecretBox([NEW_KEY]).decrypt_json(token) == CREDENTIALS


def test_rotation_with_two_keys() -> None:
    old_token = SecretBox([OLD_KEY]).encrypt_json(CREDENTIALS)
    box = SecretBox([NEW_KEY, OLD_KEY])  # the first encrypts, all decrypt

    assert box.decrypt_json(old_token) == CREDENTIALS
    rotated = box.rotate(old_token)
    assert SecretBox([NEW_KEY]).decrypt_json(rotated) == CREDENTIALS
    with pytest.raises(UndecryptableSecret):
        SecretBox([OLD_KEY]).decrypt_json(rotated)
    # New secrets are encrypted with the first key only.
    assert SecretBox([NEW_KEY]).decrypt(box.encrypt("x")) == "x"


@pytest.mark.parametrize("token", ["not a token", "", "gAAAAABinvalid", "ünïcödé"])
def test_garbage_is_undecryptable(token: str) -> None:
    box = SecretBox([NEW_KEY])
    with pytest.raises(UndecryptableSecret):
        box.decrypt(token)
    with pytest.raises(UndecryptableSecret):
        box.rotate(token)


def test_wrong_key_is_a_clear_error_without_key_material() -> None:
    token = SecretBox([OLD_KEY]).encrypt_json(CREDENTIALS)
    with pytest.raises(UndecryptableSecret) as caught:
        SecretBox([OTHER_KEY, NEW_KEY]).decrypt_json(token)
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert "INTERLINK_SECRET_KEY" in str(error)
    for key in (OLD_KEY, NEW_KEY, OTHER_KEY):
        assert key not in str(error)
        assert key[:8] not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


@pytest.mark.parametrize("plaintext", ["[1, 2]", '"text"', "not json"])
def test_decrypt_json_wants_a_json_object(plaintext: str) -> None:
    box = SecretBox([NEW_KEY])
    with pytest.raises(UndecryptableSecret):
        box.decrypt_json(box.encrypt(plaintext))


@pytest.mark.parametrize("keys", [[], ["short-key"], [NEW_KEY, "x" * 31]])
def test_short_or_missing_keys_are_refused(keys: list[str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SecretBox(keys)
    for key in keys:
        assert key not in str(caught.value)


def test_a_bare_string_is_not_a_list_of_keys() -> None:
    with pytest.raises(TypeError):
        SecretBox(NEW_KEY)


def test_key_material_is_not_kept_or_shown() -> None:
    box = SecretBox([NEW_KEY])
    assert NEW_KEY not in repr(box)
    assert NEW_KEY not in repr(vars(box))
