"""The credential registry of one emulator: accounts by their id and by their token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from easyflow.sandbox.base import AlreadyExists, UnknownObject

A = TypeVar("A")


class Accounts(Generic[A]):
    """Accounts of type `A`; `key` names one (its id), `token` is what authenticates it."""

    def __init__(self, kind: str, key: Callable[[A], str], token: Callable[[A], str]) -> None:
        self._kind = kind
        self._key = key
        self._token = token
        self._by_key: dict[str, A] = {}

    def add(self, account: A) -> A:
        key = self._key(account)
        if key in self._by_key:
            raise AlreadyExists(f"{self._kind} {key} is already registered")
        self._by_key[key] = account
        return account

    def get(self, key: str) -> A:
        account = self._by_key.get(key)
        if account is None:
            raise UnknownObject(f"no sandbox {self._kind} {key}")
        return account

    def by_token(self, token: str | None) -> A | None:
        """The account this token opens, or None (the platform's auth error follows)."""
        if not token:
            return None
        return next((a for a in self._by_key.values() if self._token(a) == token), None)

    def clear(self) -> None:
        self._by_key.clear()

    def __iter__(self) -> Iterator[A]:
        return iter(list(self._by_key.values()))


class SendingAccounts:
    """Lifecycle of an emulator whose accounts each deliver webhooks through a `sender`
    (a kit `WebhookSender`): busy while any delivers, reset to the seeds, closed together."""

    @property
    def _registry(self) -> Accounts[Any]:
        raise NotImplementedError

    def _seed(self) -> None:
        raise NotImplementedError

    def busy(self) -> bool:
        return any(account.sender.busy() for account in self._registry)

    async def reset(self) -> None:
        await self.aclose()
        self._registry.clear()
        self._seed()

    async def aclose(self) -> None:
        for account in self._registry:
            await account.sender.aclose()
