"""Contacts, conversations and messages: upserts, history, idempotence, tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.domain.errors import NotFoundError
from easyflow.domain.messaging import (
    ConversationStatus,
    DeliveryStatus,
    MessageAuthor,
    MessageDirection,
    Sender,
    StoredMessage,
)
from easyflow.storage import SqlUnitOfWork, SqlUnitOfWorkFactory
from easyflow.storage.tables import contacts, conversations

from .helpers import T0, Tenancy, inbound_message

ANN = Sender(external_id="42", display_name="Ann", username="ann", language="ru")


async def _conversation(uow: SqlUnitOfWork, tenancy: Tenancy, chat_id: str = "42") -> int:
    contact = await uow.contacts.upsert(tenancy.tenant_a, tenancy.integration_a, ANN)
    conversation = await uow.conversations.upsert(
        tenancy.tenant_a, tenancy.integration_a, contact.id, chat_id, T0
    )
    return conversation.id


async def _say(uow: SqlUnitOfWork, tenant_id: int, conversation_id: int, text: str) -> int:
    message = await uow.messages.add(
        tenant_id,
        conversation_id,
        direction=MessageDirection.INBOUND,
        author=MessageAuthor.CUSTOMER,
        text=text,
        status=DeliveryStatus.RECEIVED,
    )
    return message.id


async def _remember(
    uow: SqlUnitOfWork, tenant_id: int, conversation_id: int, event_id: int, text: str
) -> StoredMessage:
    return await uow.messages.add(
        tenant_id,
        conversation_id,
        direction=MessageDirection.INBOUND,
        author=MessageAuthor.CUSTOMER,
        text=text,
        status=DeliveryStatus.RECEIVED,
        inbound_event_id=event_id,
    )


async def test_contact_upsert_keeps_one_row_and_known_profile(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a, integration = tenancy.tenant_a, tenancy.integration_a
    async with uow_factory() as uow:
        first = await uow.contacts.upsert(a, integration, ANN)
        renamed = await uow.contacts.upsert(a, integration, Sender("42", "Anna"))
        silent = await uow.contacts.upsert(a, integration, Sender("42"))
        other = await uow.contacts.upsert(a, integration, Sender("43", "Bob"))
        await uow.commit()

    assert first.id == renamed.id == silent.id != other.id
    assert (renamed.display_name, renamed.username) == ("Anna", "ann")
    assert silent.display_name == "Anna"


async def test_conversation_upsert_keeps_one_row_and_only_moves_forward(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a, integration = tenancy.tenant_a, tenancy.integration_a
    async with uow_factory() as uow:
        contact = await uow.contacts.upsert(a, integration, ANN)
        first = await uow.conversations.upsert(a, integration, contact.id, "42", T0)
        later = await uow.conversations.upsert(
            a, integration, contact.id, "42", T0 + timedelta(minutes=5)
        )
        late_event = await uow.conversations.upsert(
            a, integration, contact.id, "42", T0 + timedelta(minutes=1)
        )
        await uow.commit()

    assert first.id == later.id == late_event.id
    assert first.status is ConversationStatus.OPEN and first.last_message_at == T0
    assert late_event.last_message_at == T0 + timedelta(minutes=5)


async def test_upsert_with_contact_is_both_upserts_in_one(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    """What the inbound path records per message (one statement on PostgreSQL): the same rows
    and rules as the contact's upsert followed by the conversation's."""
    a, integration = tenancy.tenant_a, tenancy.integration_a
    later = T0 + timedelta(minutes=5)
    async with uow_factory() as uow:
        contact, conversation = await uow.conversations.upsert_with_contact(
            a, integration, ANN, "-100", later
        )
        renamed, again = await uow.conversations.upsert_with_contact(
            a, integration, Sender("42", "Anna"), "-100", T0
        )
        # A group chat: another member writes in the same chat.
        bob, shared = await uow.conversations.upsert_with_contact(
            a, integration, Sender("43", "Bob"), "-100", later + timedelta(minutes=1)
        )
        await uow.commit()

    assert (contact.tenant_id, contact.integration_id) == (a, integration)
    assert contact.external_id == "42"
    assert (contact.display_name, contact.username) == ("Ann", "ann")
    assert (conversation.contact_id, conversation.chat_id) == (contact.id, "-100")
    assert conversation.status is ConversationStatus.OPEN and conversation.last_message_at == later
    assert renamed.id == contact.id and (renamed.display_name, renamed.username) == ("Anna", "ann")
    assert again.id == conversation.id and again.last_message_at == later  # only forward
    assert bob.id != contact.id and bob.display_name == "Bob"
    assert shared.id == conversation.id and shared.contact_id == contact.id
    assert shared.last_message_at == later + timedelta(minutes=1)
    async with uow_factory() as uow:
        assert await uow.contacts.get(a, bob.id) == bob
        assert await uow.conversations.get(a, conversation.id) == shared
        assert [c.id for c in await uow.conversations.list(a)] == [conversation.id]


async def test_upsert_with_contact_refuses_another_tenants_integration_whole(
    uow_factory: SqlUnitOfWorkFactory, db_engine: AsyncEngine, tenancy: Tenancy
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(NotFoundError):
            await uow.conversations.upsert_with_contact(
                tenancy.tenant_b, tenancy.integration_a, ANN, "42", T0
            )
        await uow.commit()

    async with db_engine.connect() as connection:
        for table in (contacts, conversations):
            written = await connection.scalar(select(func.count()).select_from(table))
            assert written == 0, table.name


async def test_conversation_status_list_and_filters(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a = tenancy.tenant_a
    async with uow_factory() as uow:
        older = await _conversation(uow, tenancy, "41")
        newer = await uow.conversations.upsert(
            a,
            tenancy.integration_a,
            (await uow.conversations.get(a, older)).contact_id,
            "42",
            T0 + timedelta(hours=1),
        )
        await uow.conversations.set_status(a, older, ConversationStatus.HANDOVER)
        await uow.commit()

    async with uow_factory() as uow:
        listed = await uow.conversations.list(a)
        handover = await uow.conversations.list(a, status=ConversationStatus.HANDOVER)
        page = await uow.conversations.list(a, integration_id=tenancy.integration_a, offset=1)
        none = await uow.conversations.list(a, integration_id=tenancy.integration_b)

    assert [c.id for c in listed] == [newer.id, older]
    assert [c.id for c in handover] == [older]
    assert [c.id for c in page] == [older]
    assert none == []


async def test_history_is_the_last_n_oldest_first_and_list_pages_on(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a = tenancy.tenant_a
    async with uow_factory() as uow:
        conversation = await _conversation(uow, tenancy)
        for n in range(15):
            await _say(uow, a, conversation, f"m{n}")
        await uow.commit()

    async with uow_factory() as uow:
        history = await uow.messages.history(a, conversation, 10)
        first_page = await uow.messages.list(a, conversation, limit=4)
        next_page = await uow.messages.list(a, conversation, limit=4, after_id=first_page[-1].id)

    assert [m.text for m in history] == [f"m{n}" for n in range(5, 15)]
    assert [m.text for m in first_page + next_page] == [f"m{n}" for n in range(8)]


async def test_message_add_is_idempotent_on_the_inbound_event(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a = tenancy.tenant_a
    async with uow_factory() as uow:
        conversation = await _conversation(uow, tenancy)
        (event_id,) = await uow.inbound.add_many(
            a, tenancy.integration_a, "telegram", [("1", "42", inbound_message("1"))], {}
        )
        first = await _remember(uow, a, conversation, event_id, "hello")
        await uow.commit()
    async with uow_factory() as uow:
        again = await _remember(uow, a, conversation, event_id, "hello (again)")
        history = await uow.messages.history(a, conversation, 10)

    assert again == first
    assert [m.id for m in history] == [first.id]


async def test_an_inbound_message_comes_back_with_its_history_once_per_event(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a = tenancy.tenant_a
    async with uow_factory() as uow:
        conversation = await _conversation(uow, tenancy)
        for n in range(4):
            await _say(uow, a, conversation, f"m{n}")
        (event_id,) = await uow.inbound.add_many(
            a, tenancy.integration_a, "telegram", [("1", "42", inbound_message("1"))], {}
        )
        stored, first = await uow.messages.add_inbound_with_history(
            a, conversation, text="where is my order?", inbound_event_id=event_id, limit=3
        )
        await uow.commit()
    async with uow_factory() as uow:  # the same event again (a retry): no second row
        stored_again, again = await uow.messages.add_inbound_with_history(
            a, conversation, text="(again)", inbound_event_id=event_id, limit=3
        )
        everything = await uow.messages.history(a, conversation, 100)

    assert [m.text for m in first] == ["m2", "m3", "where is my order?"]
    assert again == first
    assert stored == stored_again == first[-1]
    assert len(everything) == 5
    async with uow_factory() as uow:  # another tenant's conversation: nothing stored
        with pytest.raises(NotFoundError):
            await uow.messages.add_inbound_with_history(
                tenancy.tenant_b, conversation, text="x", inbound_event_id=event_id, limit=3
            )


async def test_delivery_state_is_recorded(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a = tenancy.tenant_a
    async with uow_factory() as uow:
        conversation = await _conversation(uow, tenancy)
        reply = await uow.messages.add(
            a,
            conversation,
            direction=MessageDirection.OUTBOUND,
            author=MessageAuthor.ASSISTANT,
            text="Your order ships today",
            status=DeliveryStatus.PENDING,
        )
        await uow.messages.set_delivery(a, reply.id, status=DeliveryStatus.FAILED, error="503")
        await uow.messages.set_delivery(
            a, reply.id, status=DeliveryStatus.SENT, platform_message_id="77", sent_at=T0
        )
        await uow.commit()

    async with uow_factory() as uow:
        (stored,) = await uow.messages.history(a, conversation, 1)
    assert (stored.status, stored.platform_message_id, stored.sent_at) == (
        DeliveryStatus.SENT,
        "77",
        T0,
    )
    assert stored.error is None


async def test_another_tenant_cannot_reach_conversations_or_messages(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a, b = tenancy.tenant_a, tenancy.tenant_b
    async with uow_factory() as uow:
        conversation = await _conversation(uow, tenancy)
        message = await _say(uow, a, conversation, "private")
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(NotFoundError):
            await uow.conversations.get(b, conversation)
        with pytest.raises(NotFoundError):
            await uow.conversations.set_status(b, conversation, ConversationStatus.CLOSED)
        with pytest.raises(NotFoundError):
            await _say(uow, b, conversation, "injected")
        with pytest.raises(NotFoundError):
            await uow.messages.set_delivery(b, message, status=DeliveryStatus.DEAD)
        with pytest.raises(NotFoundError):
            await uow.contacts.upsert(b, tenancy.integration_a, ANN)
        with pytest.raises(NotFoundError):
            await uow.conversations.upsert(b, tenancy.integration_a, 1, "42", T0)
        assert await uow.messages.history(b, conversation, 10) == []
        assert await uow.messages.list(b, conversation) == []
        assert await uow.conversations.list(b) == []
        await uow.commit()

    async with uow_factory() as uow:
        (kept,) = await uow.messages.history(a, conversation, 10)
        assert (await uow.conversations.get(a, conversation)).status is ConversationStatus.OPEN
    assert (kept.text, kept.status) == ("private", DeliveryStatus.RECEIVED)
