"""`CredentialCipher`: Fernet encryption of integration credentials and webhook secrets at rest.

Keys come from settings, newest first. The first key encrypts; every key decrypts, so keys
are rotated by putting a new one in front, re-encrypting the stored tokens (`rotate`, or
`SqlIntegrationRepository.reencrypt_all`) and then dropping the old key.
Neither keys nor plaintexts ever appear in a repr or an error message.

`SecretKeyMismatch` is what start-up raises when the configured keys cannot read what is
stored (see `SqlIntegrationRepository.unreadable`): a hub with the wrong key would answer
every request about those rows with an error and encrypt new ones with a key the others lack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from easyflow.domain.errors import UnreadableSecretError


class UndecryptableError(UnreadableSecretError, ValueError):
    """A stored token was not made with any of the configured keys (or was altered)."""


class SecretKeyMismatch(RuntimeError):
    """The configured keys cannot decrypt stored rows: the process must not start."""

    def __init__(self, unreadable: int, total: int) -> None:
        super().__init__(
            f"EASYFLOW_SECRET_KEYS cannot decrypt the stored secrets of {unreadable} of "
            f"{total} integrations. Put the key they were encrypted with back into "
            "EASYFLOW_SECRET_KEYS (comma-separated, newest first), then run "
            "`easyflow keys reencrypt`, which also lists the rows it cannot read. If that key "
            "is lost, remove those integrations (`easyflow integrations remove`) and connect "
            "them again."
        )
        self.unreadable = unreadable
        self.total = total


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 text), for settings."""
    return Fernet.generate_key().decode("ascii")


class CredentialCipher:
    """Encrypts with the first key, decrypts with any of them."""

    __slots__ = ("_fernet", "_key_count")

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, str) or not keys:
            raise ValueError("CredentialCipher needs a non-empty sequence of Fernet keys")
        try:
            fernets = [Fernet(key.encode("ascii")) for key in keys]
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValueError("an encryption key is not a valid Fernet key") from exc
        self._fernet = MultiFernet(fernets)
        self._key_count = len(fernets)

    def __repr__(self) -> str:
        return f"CredentialCipher(<{self._key_count} keys>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise UndecryptableError(
                "stored secret cannot be decrypted with the configured keys"
            ) from None

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        plaintext = self.decrypt(token)
        try:
            value = json.loads(plaintext)
        except ValueError:
            raise UndecryptableError("stored credentials are not JSON") from None
        if not isinstance(value, dict):
            raise UndecryptableError("stored credentials are not a JSON object")
        return value

    def rotate(self, token: str) -> str:
        """The same plaintext encrypted with the first key (a no-op in meaning)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise UndecryptableError(
                "stored secret cannot be decrypted with the configured keys"
            ) from None
