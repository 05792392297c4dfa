"""Fernet encryption of secrets at rest, and key rotation with MultiFernet."""

from __future__ import annotations

import pytest

from easyflow.storage import CredentialCipher, UndecryptableError, generate_key

CREDENTIALS = {"token": "123456:AAH-plaintext-bot-token", "chat": "ёлка"}


def test_json_round_trip_and_the_token_hides_the_plaintext() -> None:
    cipher = CredentialCipher([generate_key()])

    token = cipher.encrypt_json(CREDENTIALS)

    assert "plaintext" not in token and "AAH" not in token
    assert cipher.decrypt_json(token) == CREDENTIALS


def test_new_key_first_still_reads_old_tokens_and_rotate_moves_them() -> None:
    old_key, new_key = generate_key(), generate_key()
    old_token = CredentialCipher([old_key]).encrypt("s3cret")
    both = CredentialCipher([new_key, old_key])

    assert both.decrypt(old_token) == "s3cret"
    rotated = both.rotate(old_token)

    assert CredentialCipher([new_key]).decrypt(rotated) == "s3cret"
    with pytest.raises(UndecryptableError):
        CredentialCipher([old_key]).decrypt(rotated)


def test_a_token_of_an_unknown_key_or_altered_fails_without_detail() -> None:
    token = CredentialCipher([generate_key()]).encrypt("s3cret")
    other = CredentialCipher([generate_key()])

    with pytest.raises(UndecryptableError) as caught:
        other.decrypt(token)
    with pytest.raises(UndecryptableError):
        other.rotate(token)
    with pytest.raises(UndecryptableError):
        other.decrypt("not-a-token")
    assert "s3cret" not in str(caught.value)


def test_repr_shows_no_key() -> None:
    key = generate_key()

    assert key not in repr(CredentialCipher([key, generate_key()]))
    assert repr(CredentialCipher([key])) == "CredentialCipher(<1 keys>)"


@pytest.mark.parametrize("keys", [[], ["not-a-fernet-key"], "a-string-not-a-list"])
def test_bad_keys_are_refused_at_construction(keys: list[str]) -> None:
    with pytest.raises(ValueError):
        CredentialCipher(keys)
