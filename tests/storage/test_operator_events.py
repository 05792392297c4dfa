"""Operator webhook deliveries over the real repositories: claimed once, retried, dead on 410
or after the last attempt, and one tenant's unreadable secret never holds up another's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet
from sqlalchemy import text

from easyflow.domain.ai import AiProfile
from easyflow.domain.messaging import DeliveryStatus, HandoverRules, OperatorEventType
from easyflow.services.operator_events import OperatorWebhooks, new_secret, verify
from easyflow.services.retries import RetrySchedule
from easyflow.storage import CredentialCipher, SqlUnitOfWorkFactory


class RecordingPoster:
    """The WebhookPoster port answering from a table of statuses by URL."""

    def __init__(self, statuses: Mapping[str, int]) -> None:
        self.statuses = statuses
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.posts.append((url, body, dict(headers)))
        return self.statuses[url]


async def _tenant_with_event(uow_factory: SqlUnitOfWorkFactory, url: str) -> tuple[int, str]:
    secret = new_secret()
    async with uow_factory() as uow:
        tenant = await uow.tenants.add(url, AiProfile())
        await uow.handover.set_rules(tenant.id, HandoverRules(webhook_url=url))
        await uow.handover.set_webhook_secret(tenant.id, secret)
        await uow.handover.add_event(
            tenant.id, None, OperatorEventType.HANDOVER, {"n": 1}, deliver=True
        )
        await uow.commit()
    return tenant.id, secret


async def _delivery(uow_factory: SqlUnitOfWorkFactory, tenant_id: int) -> tuple[object, ...]:
    async with uow_factory() as uow:
        [event] = await uow.handover.events(tenant_id)
    return event.delivery, event.attempts, event.last_error


async def test_deliveries_are_signed_retried_and_given_up(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    ok, ok_secret = await _tenant_with_event(uow_factory, "https://ok.example/h")
    gone, _ = await _tenant_with_event(uow_factory, "https://gone.example/h")
    flaky, _ = await _tenant_with_event(uow_factory, "https://flaky.example/h")
    poster = RecordingPoster(
        {"https://ok.example/h": 204, "https://gone.example/h": 410, "https://flaky.example/h": 503}
    )
    webhooks = OperatorWebhooks(uow_factory, poster, RetrySchedule(0, max_attempts=2))

    assert await webhooks.deliver_due() == 1
    assert await _delivery(uow_factory, ok) == (DeliveryStatus.SENT, 1, None)
    assert await _delivery(uow_factory, gone) == (DeliveryStatus.DEAD, 1, "HTTP 410")
    assert await _delivery(uow_factory, flaky) == (DeliveryStatus.FAILED, 1, "HTTP 503")
    [(_, body, headers)] = [p for p in poster.posts if p[0] == "https://ok.example/h"]
    assert verify(ok_secret, headers, body)
    assert not verify(new_secret(), headers, body)
    assert not verify(ok_secret, headers, body + b" ")

    assert await webhooks.deliver_due() == 0  # only the flaky one was due again
    assert await _delivery(uow_factory, flaky) == (
        DeliveryStatus.DEAD,
        2,
        "gave up after 2 attempts: HTTP 503",
    )
    assert len(poster.posts) == 4
    assert await webhooks.deliver_due() == 0
    assert len(poster.posts) == 4


async def test_a_held_event_is_not_posted_twice_and_a_lapsed_lease_frees_it(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    tenant, _ = await _tenant_with_event(uow_factory, "https://ok.example/h")
    now = datetime.now(UTC)
    async with uow_factory() as uow:
        [held] = await uow.handover.claim_due(now, now + timedelta(seconds=60), 10)
        assert await uow.handover.claim_due(now, now + timedelta(seconds=60), 10) == []
        later = now + timedelta(seconds=61)
        [again] = await uow.handover.claim_due(later, later + timedelta(seconds=60), 10)
        await uow.commit()
    assert (held.id, again.id, again.attempts) == (held.id, held.id, 2)
    assert tenant == held.tenant_id


async def test_an_unreadable_secret_holds_up_no_other_tenant(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    ok, _ = await _tenant_with_event(uow_factory, "https://ok.example/h")
    lost, _ = await _tenant_with_event(uow_factory, "https://lost.example/h")
    stranger = CredentialCipher([Fernet.generate_key().decode()])
    async with uow_factory.engine.begin() as conn:
        await conn.execute(
            text("UPDATE handover_rules SET webhook_secret_encrypted = :t WHERE tenant_id = :id"),
            {"t": stranger.encrypt(new_secret()), "id": lost},
        )
    poster = RecordingPoster({"https://ok.example/h": 200})
    assert await OperatorWebhooks(uow_factory, poster).deliver_due() == 1
    assert await _delivery(uow_factory, ok) == (DeliveryStatus.SENT, 1, None)
    status, attempts, error = await _delivery(uow_factory, lost)
    assert (status, attempts) == (DeliveryStatus.DEAD, 1)
    assert "unreadable" in str(error)


async def test_key_rotation_rewrites_webhook_secrets(
    uow_factory: SqlUnitOfWorkFactory, encryption_key: str
) -> None:
    tenant, secret = await _tenant_with_event(uow_factory, "https://ok.example/h")
    new_key = Fernet.generate_key().decode()
    rotating = SqlUnitOfWorkFactory(uow_factory.engine, CredentialCipher([new_key, encryption_key]))
    async with rotating() as uow:
        await uow.reencrypt_secrets()
        await uow.commit()
    only_new = SqlUnitOfWorkFactory(uow_factory.engine, CredentialCipher([new_key]))
    async with only_new() as uow:
        assert await uow.handover.webhook_secret(tenant) == secret
