"""The chaos counting itself: a lost, a doubled and a held-for-review reply are told apart."""

from __future__ import annotations

from chaos.ledger import (
    Observation,
    OutboxRow,
    Reply,
    StoredEvent,
    Written,
    customer_text,
    judge,
    render,
    token_for,
    tokens_in,
)


def _reply(chat: int, seq: int, date: int) -> Reply:
    return Reply(chat, f"I could not find order {token_for(seq)}. Please check the number.", date)


def _observation(replies: list[Reply], outbox: list[OutboxRow], acked: set[int]) -> Observation:
    written = [Written(token_for(seq), 10 + seq % 2, 100 + seq, 1000) for seq in range(1, 6)]
    return Observation(
        written=written,
        acked=acked,
        delivery_attempts=7,
        failed_attempts=2,
        replies=replies,
        events=[StoredEvent(w.update_id, "done", 1, None) for w in written if w.update_id in acked],
        outbox=outbox,
        api_unconfirmed=sum(row.status == "unconfirmed" for row in outbox),
    )


def test_the_reply_names_the_token_of_the_message_it_answers() -> None:
    assert tokens_in(f"I could not find order {token_for(42)}.") == ["K000042"]
    assert tokens_in(customer_text(7)) == ["K000007"]
    assert tokens_in("Order K0000420 is late") == []


def test_every_update_answered_once_is_clean() -> None:
    replies = [_reply(10 + seq % 2, seq, 1000 + seq) for seq in range(1, 6)]
    verdict = judge(_observation(replies, [], acked={101, 102, 103, 104, 105}))
    assert verdict.problems() == []
    assert (verdict.acknowledged, verdict.stored, verdict.ok) == (5, 5, 5)
    assert [d for d, _, _ in verdict.delays] == [5, 4, 3, 2, 1]


def test_lost_doubled_unconfirmed_and_unacknowledged_are_each_counted() -> None:
    replies = [_reply(11, 1, 1001), _reply(11, 1, 1090), _reply(10, 4, 1004)]
    outbox = [OutboxRow("unconfirmed", f"I could not find order {token_for(2)}.", None)]
    verdict = judge(_observation(replies, outbox, acked={101, 102, 103, 104}))
    assert verdict.doubled == ["K000001/chat 11 x2"]
    assert verdict.unconfirmed == ["K000002/chat 10"]
    assert verdict.lost == ["K000003/chat 11 (event done)"]
    assert verdict.unacknowledged == ["K000005/chat 11"]
    assert verdict.ok == 1
    # Chat 11: 2 acknowledged, 2 replies, but to one update: the per-update view catches it.
    assert len(verdict.problems()) == 3
    report = render(verdict, "unit", ["nothing"], verdict.problems())
    assert "lost 1 | doubled 1 | unconfirmed 1" in report


def test_an_acknowledged_update_missing_from_the_database_is_a_loss() -> None:
    observation = _observation([_reply(11, 1, 1001)], [], acked={101})
    observation.events = []
    verdict = judge(observation)
    assert verdict.acked_not_stored == ["K000001/chat 11"]
    assert any("not stored" in p for p in verdict.problems())


def test_a_reply_naming_no_update_cannot_be_vouched_for() -> None:
    stray = Reply(10, "Hello! I can tell you where your order is.", 1002)
    verdict = judge(_observation([stray], [], acked=set()))
    assert verdict.unattributed == ["chat 10: 'Hello! I can tell you where your order is.'"]
