"""Connecting, pausing and removing platform accounts.

Adding an integration checks the credentials against the platform's documented format (a
malformed one is a 400 before any call: a token is part of a URL), then with the platform (a
bad token is a 400 with the platform's reason, and nothing is stored), then stores the
integration with a fresh webhook secret and registers the webhook. If registration fails the
row is removed again, so an integration either works or does not exist.

Settings can be changed later (`update_settings`), checked as at connection: what the
platform declares, and its adapter built with them. Credentials are not settings.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from easyflow.domain.errors import (
    ConflictError,
    InvalidRequestError,
    PlatformError,
    UnreadableSecretError,
)
from easyflow.domain.messaging import WebhookRegistration, WebhookSetup
from easyflow.domain.tenancy import Capability, Integration, IntegrationStatus
from easyflow.ports import Adapters, IntegrationCache, UnitOfWorkFactory

log = structlog.get_logger("easyflow.integrations")

WEBHOOK_PATH = "/api/v1/messaging/webhook/{platform}/{integration_id}"
# Settings the hub writes from what the platform says of the account (`_identify`): which
# account it is decides whether a second connection of it is refused, so no one edits them.
HUB_SETTINGS = ("account_id", "account_name", "webhook_setup")
# Raises InvalidRequestError (400, with the reason) unless the credentials are well-formed.
CredentialCheck = Callable[[str, dict[str, str]], None]


def webhook_url(public_url: str, platform: str, integration_id: int) -> str:
    path = WEBHOOK_PATH.format(platform=platform, integration_id=integration_id)
    return public_url.rstrip("/") + path


def new_webhook_secret() -> str:
    # token_urlsafe uses A-Z a-z 0-9 _ - only: within Telegram's secret_token alphabet.
    return secrets.token_urlsafe(32)


class IntegrationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        adapters: Adapters,
        check_credentials: CredentialCheck,
        public_url: str,
        secret_overlap: timedelta = timedelta(hours=1),
        cache: IntegrationCache | None = None,
    ) -> None:
        self._uow = uow
        # What webhook intake has cached of an integration is dropped after every change
        # committed here (every process's copy, where processes share state).
        self._cache = cache
        self._adapters = adapters
        self._check_credentials = check_credentials
        self._public_url = public_url
        self._overlap = secret_overlap

    async def add(
        self,
        tenant_id: int,
        platform: str,
        credentials: dict[str, str],
        *,
        name: str = "",
        settings: dict[str, Any] | None = None,
    ) -> Integration:
        kind = self._adapters.primary_capability(platform)
        self._check_credentials(platform, credentials)
        settings = dict(settings or {})
        _refuse_hub_settings(settings)
        self._adapters.check_settings(platform, settings)
        is_messenger = self._adapters.offers(platform, Capability.MESSENGER)
        if is_messenger:
            settings |= await self._identify(tenant_id, platform, credentials, settings)
        secret = new_webhook_secret() if is_messenger else None
        async with self._uow() as uow:
            await uow.tenants.get(tenant_id)
            integration = await uow.integrations.add(
                tenant_id, platform, kind, name or platform, credentials, settings, secret
            )
            try:
                if not secret:
                    await self._check_account(integration)
            except PlatformError as exc:
                raise InvalidRequestError(f"{platform} refused the integration: {exc}") from exc
            await uow.commit()
        await self._invalidate(integration.id)
        if secret:
            # After the commit: a platform may call the URL back while registering it (Viber's
            # set_webhook probe), and the webhook must find the integration to answer it.
            try:
                setup = await self._register_webhook(integration, secret)
            except PlatformError as exc:
                async with self._uow() as uow:
                    await uow.integrations.delete(tenant_id, integration.id)
                    await uow.commit()
                await self._invalidate(integration.id)
                raise InvalidRequestError(f"{platform} refused the integration: {exc}") from exc
            if setup is not None:
                # Shown once, in this answer: the seller pastes it in the platform's console.
                shown = {**integration.settings, "webhook_setup": setup.as_dict()}
                integration = replace(integration, settings=shown)
        return integration

    async def _check_account(self, integration: Integration) -> None:
        """One cheap call proving the credentials of a platform that sends no webhooks."""
        if self._adapters.offers(integration.platform, Capability.CHAT_MODEL):
            await self._adapters.chat_model(integration, integration.platform).check()
        elif self._adapters.offers(integration.platform, Capability.MARKETPLACE):
            await self._adapters.marketplace(integration).check()

    async def _identify(
        self, tenant_id: int, platform: str, credentials: dict[str, str], settings: dict[str, Any]
    ) -> dict[str, Any]:
        """Prove the credentials before anything is stored; refuse an account already in use.

        One bot has one webhook: connecting it twice would silently steal it from the first.
        """
        probe = Integration(
            id=0,
            tenant_id=tenant_id,
            platform=platform,
            kind=Capability.MESSENGER,
            name="",
            status=IntegrationStatus.ACTIVE,
            credentials=credentials,
            settings=settings,  # the adapter reads them: a malformed one is refused here
            created_at=datetime.now(UTC),
        )
        try:
            identity = await self._adapters.messenger(probe).identity()
        except PlatformError as exc:
            raise InvalidRequestError(f"{platform} refused the integration: {exc}") from exc
        async with self._uow() as uow:
            # Paused ones too: resuming one would take the webhook back from the other.
            holders = await uow.integrations.account_holders(platform, identity.id)
        account = identity.username or identity.id
        for holder_tenant, holder_id in holders:
            if holder_tenant == tenant_id:
                raise ConflictError(
                    f"{platform} account {account} is already connected as integration {holder_id}"
                )
        if holders:
            # Nothing about the other tenant: not who, not which integration.
            raise ConflictError(
                f"{platform} account {account} is already connected to another Easy Flow "
                "account; disconnect it there first"
            )
        return {"account_id": identity.id, "account_name": identity.username}

    async def _register_webhook(self, integration: Integration, secret: str) -> WebhookSetup | None:
        messenger = self._adapters.messenger(integration)
        url = webhook_url(self._public_url, integration.platform, integration.id)
        registration = WebhookRegistration(url=url, secret=secret, allowed_updates=())
        setup = await messenger.set_webhook(registration)
        log.info("webhook registered", integration_id=integration.id, by_seller=setup is not None)
        return setup

    async def list(self, tenant_id: int) -> list[Integration]:
        async with self._uow() as uow:
            return await uow.integrations.list(tenant_id)

    async def get(self, tenant_id: int, integration_id: int) -> Integration:
        async with self._uow() as uow:
            return await uow.integrations.get(tenant_id, integration_id)

    async def set_status(
        self, tenant_id: int, integration_id: int, status: IntegrationStatus
    ) -> Integration:
        """Pause or resume. A paused messenger's webhook is removed, so the platform keeps
        customers' messages (Telegram: 24 h) and delivers them once it is resumed."""
        integration = await self.get(tenant_id, integration_id)
        is_messenger = self._adapters.offers(integration.platform, Capability.MESSENGER)
        if is_messenger and status is IntegrationStatus.ACTIVE:
            try:  # first, so a resume the platform refuses leaves the integration paused
                await self._register_webhook(integration, integration.webhook_secrets[0])
            except PlatformError as exc:
                raise InvalidRequestError(f"{integration.platform} refused: {exc}") from exc
        async with self._uow() as uow:
            await uow.integrations.set_status(tenant_id, integration_id, status)
            await uow.commit()
        await self._invalidate(integration_id)
        if is_messenger and status is IntegrationStatus.PAUSED:
            try:
                await self._adapters.messenger(integration).delete_webhook()
            except PlatformError as exc:
                # Paused all the same: deliveries are acknowledged and dropped meanwhile.
                log.warning(
                    "could not remove webhook", integration_id=integration_id, error=str(exc)
                )
        return replace(integration, status=status)

    async def update_settings(
        self, tenant_id: int, integration_id: int, changes: Mapping[str, Any]
    ) -> Integration:
        """Set the given settings (a None value removes one) and keep the others.

        InvalidRequestError with the reason, and nothing written, for a change the platform
        cannot take (`Adapters.with_settings`) or one of the settings the hub keeps itself.
        Every process's cached copy of the integration is dropped, so the next webhook and
        the next send read the new settings.
        """
        if not changes:
            raise InvalidRequestError("no settings to change")
        _refuse_hub_settings(changes)
        async with self._uow() as uow:
            # Locked: two changes at once must both land, not the later overwrite the earlier.
            integration = await uow.integrations.get(tenant_id, integration_id, for_update=True)
            settings = self._adapters.with_settings(integration, changes)
            await uow.integrations.set_settings(tenant_id, integration_id, settings)
            await uow.commit()
        await self._invalidate(integration_id)
        log.info("settings changed", integration_id=integration_id, keys=sorted(changes))
        return replace(integration, settings=settings)

    async def rotate_webhook_secret(self, tenant_id: int, integration_id: int) -> None:
        """A new webhook secret; the old one stays valid for the overlap only.

        The new secret is committed before the platform learns it, so every delivery in
        between (queued ones carry the old secret, new ones the new) is accepted; if the
        platform refuses it, the old secret is made current again. After the overlap the old
        secret is refused: a leaked secret must stop working.
        """
        secret = new_webhook_secret()
        async with self._uow() as uow:
            integration = await uow.integrations.get(tenant_id, integration_id)
            if not self._adapters.offers(integration.platform, Capability.MESSENGER):
                raise InvalidRequestError(f"{integration.platform} receives no webhooks")
            await uow.integrations.set_webhook_secret(
                tenant_id,
                integration_id,
                secret,
                previous_expires_at=datetime.now(UTC) + self._overlap,
            )
            await uow.commit()
        await self._invalidate(integration_id)
        try:
            await self._register_webhook(integration, secret)
        except PlatformError as exc:
            # The platform still sends the old secret: make it current again, or a second
            # failed rotation would push it out and lock the bot out.
            async with self._uow() as uow:
                await uow.integrations.set_webhook_secret(
                    tenant_id,
                    integration_id,
                    integration.webhook_secrets[0],
                    # The refused secret was never the platform's: expired at once.
                    previous_expires_at=datetime.now(UTC),
                )
                await uow.commit()
            await self._invalidate(integration_id)
            raise InvalidRequestError(
                f"{integration.platform} refused the new secret: {exc}"
            ) from exc

    async def delete(self, tenant_id: int, integration_id: int) -> None:
        """Remove the webhook (best effort) and the row. A row the configured keys cannot
        decrypt can still be removed: that is the way out when its key is lost."""
        try:
            async with self._uow() as uow:
                integration: Integration | None = await uow.integrations.get(
                    tenant_id, integration_id
                )
        except UnreadableSecretError:
            log.warning("removing an unreadable integration", integration_id=integration_id)
            integration = None
        if integration is not None and self._adapters.offers(
            integration.platform, Capability.MESSENGER
        ):
            try:
                await self._adapters.messenger(integration).delete_webhook()
            except PlatformError as exc:
                # The row goes anyway: its deliveries will fail authentication from now on.
                log.warning(
                    "could not delete webhook", integration_id=integration_id, error=str(exc)
                )
        async with self._uow() as uow:
            await uow.integrations.delete(tenant_id, integration_id)
            await uow.commit()
        await self._invalidate(integration_id)

    async def _invalidate(self, integration_id: int) -> None:
        if self._cache is not None:
            await self._cache.invalidate(integration_id)


def _refuse_hub_settings(settings: Mapping[str, Any]) -> None:
    kept = sorted(set(settings) & set(HUB_SETTINGS))
    if kept:
        raise InvalidRequestError(
            f"{', '.join(kept)}: set by the hub from the platform's account, not changeable"
        )
