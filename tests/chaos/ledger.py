"""Counting after a chaos run: acknowledged vs stored vs replied, per update and per chat.

Every customer message carries a token (`K000042`) that the hub's reply repeats ("I could
not find order K000042"), so each reply is attributed to exactly one update. The verdict:

- lost: acknowledged (a 2xx reached the sandbox) but no reply and no `unconfirmed` row;
- doubled: two or more replies to one update;
- unconfirmed: no reply, but the hub holds the reply as `unconfirmed` for a person to review
  (a send was in flight when a process died; Telegram has no idempotency key) — not a loss,
  not a duplicate, reported separately;
- unacknowledged: the sandbox never got a 2xx for it (the hub never took it);
- acknowledged but not stored: acknowledged, yet no inbound event row holds it;
- unattributed: a reply that names no token (the harness cannot vouch for it).

Pure functions over plain records, so the counting itself is tested in test_ledger.py.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

TOKEN = re.compile(r"\bK(\d{6})\b")


def token_for(seq: int) -> str:
    return f"K{seq:06d}"


def customer_text(seq: int) -> str:
    # An order number that exists nowhere: the local responder answers it from the hub's data
    # ("not found") and repeats the number, which ties the reply to this update.
    return f"Where is my order {token_for(seq)}?"


def tokens_in(text: str) -> list[str]:
    return [f"K{digits}" for digits in TOKEN.findall(text)]


@dataclass(frozen=True)
class Written:
    token: str
    chat_id: int
    update_id: int
    date: int  # sandbox clock, whole seconds


@dataclass(frozen=True)
class Reply:
    chat_id: int
    text: str
    date: int  # sandbox clock, whole seconds


@dataclass(frozen=True)
class StoredEvent:
    update_id: int
    status: str
    attempts: int
    error: str | None


@dataclass(frozen=True)
class OutboxRow:
    status: str
    text: str
    last_error: str | None


@dataclass
class Observation:
    written: list[Written]
    acked: set[int]  # update ids the hub answered 2xx
    delivery_attempts: int
    failed_attempts: int
    replies: list[Reply]
    events: list[StoredEvent]
    outbox: list[OutboxRow]
    api_unconfirmed: int  # GET /api/v1/outbox?status=unconfirmed


@dataclass
class Verdict:
    written: int = 0
    acknowledged: int = 0
    stored: int = 0
    replied: int = 0
    ok: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    unconfirmed_but_delivered: list[str] = field(default_factory=list)
    unacknowledged: list[str] = field(default_factory=list)
    acked_not_stored: list[str] = field(default_factory=list)
    unattributed: list[str] = field(default_factory=list)
    chat_mismatches: list[str] = field(default_factory=list)
    event_status: Counter[str] = field(default_factory=Counter)
    outbox_status: Counter[str] = field(default_factory=Counter)
    event_errors: Counter[str] = field(default_factory=Counter)
    api_unconfirmed: int = 0
    delivery_attempts: int = 0
    failed_attempts: int = 0
    delays: list[tuple[int, str, int]] = field(default_factory=list)  # (seconds, token, chat)

    def problems(self) -> list[str]:
        found = []
        for label, items in (
            ("acknowledged updates with no reply (lost)", self.lost),
            ("updates answered more than once (doubled)", self.doubled),
            ("updates never acknowledged by the hub", self.unacknowledged),
            ("acknowledged updates not stored", self.acked_not_stored),
            ("replies naming no update", self.unattributed),
            ("chats whose counts disagree", self.chat_mismatches),
        ):
            if items:
                found.append(f"{len(items)} {label}: {', '.join(items[:10])}")
        return found


def judge(observation: Observation) -> Verdict:
    verdict = Verdict(
        written=len(observation.written),
        replied=len(observation.replies),
        api_unconfirmed=observation.api_unconfirmed,
        delivery_attempts=observation.delivery_attempts,
        failed_attempts=observation.failed_attempts,
    )
    events = {e.update_id: e for e in observation.events}
    verdict.stored = len(events)
    verdict.event_status = Counter(e.status for e in observation.events)
    verdict.event_errors = Counter(
        (e.error or "")[:120] for e in observation.events if e.status != "done" and e.error
    )
    verdict.outbox_status = Counter(row.status for row in observation.outbox)
    replies_to: dict[str, list[Reply]] = defaultdict(list)
    for reply in observation.replies:
        named = tokens_in(reply.text)
        if not named:
            verdict.unattributed.append(f"chat {reply.chat_id}: {reply.text[:60]!r}")
        for token in named:
            replies_to[token].append(reply)
    held = Counter(
        t for row in observation.outbox if row.status == "unconfirmed" for t in tokens_in(row.text)
    )
    for written in observation.written:
        _judge_update(verdict, written, observation, events, replies_to[written.token], held)
    held_only = {label.split("/")[0] for label in verdict.unconfirmed}
    verdict.chat_mismatches = _chat_mismatches(observation, events, held_only)
    verdict.delays.sort(reverse=True)
    return verdict


def _judge_update(
    verdict: Verdict,
    written: Written,
    observation: Observation,
    events: dict[int, StoredEvent],
    replies: list[Reply],
    held: Counter[str],
) -> None:
    label = f"{written.token}/chat {written.chat_id}"
    acked = written.update_id in observation.acked
    if not acked:
        verdict.unacknowledged.append(label)
    else:
        verdict.acknowledged += 1
        if written.update_id not in events:
            verdict.acked_not_stored.append(label)
    if len(replies) > 1:
        verdict.doubled.append(f"{label} x{len(replies)}")
    elif not replies and held[written.token]:
        verdict.unconfirmed.append(label)
    elif not replies and acked:
        event = events.get(written.update_id)
        state = f" (event {event.status})" if event else ""
        verdict.lost.append(label + state)
    elif len(replies) == 1:
        verdict.ok += 1
        if held[written.token]:
            verdict.unconfirmed_but_delivered.append(label)
    for reply in replies[:1]:
        verdict.delays.append((reply.date - written.date, written.token, written.chat_id))


def _chat_mismatches(
    observation: Observation, events: dict[int, StoredEvent], held_only: set[str]
) -> list[str]:
    """Per chat: acknowledged == stored == replied + held for review, else a line saying how."""
    acked: Counter[int] = Counter()
    stored: Counter[int] = Counter()
    for written in observation.written:
        if written.update_id in observation.acked:
            acked[written.chat_id] += 1
        if written.update_id in events:
            stored[written.chat_id] += 1
    replied = Counter(r.chat_id for r in observation.replies)
    held = Counter(w.chat_id for w in observation.written if w.token in held_only)
    lines = []
    for chat in sorted({w.chat_id for w in observation.written}):
        counts = (acked[chat], stored[chat], replied[chat], held[chat])
        if not counts[0] == counts[1] == counts[2] + counts[3]:
            lines.append(
                f"chat {chat}: acknowledged {counts[0]}, stored {counts[1]}, "
                f"replied {counts[2]}, unconfirmed {counts[3]}"
            )
    return lines


def percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0


def render(verdict: Verdict, title: str, events: list[str], problems: list[str]) -> str:
    """The human report: counts, injected faults, and the delay distribution (no limits)."""
    delays = [d for d, _, _ in verdict.delays]
    lines = [
        f"== chaos: {title}",
        "   injected: " + ("; ".join(events) or "nothing"),
        f"   written {verdict.written} | acknowledged {verdict.acknowledged} | "
        f"stored {verdict.stored} | replies {verdict.replied} | exactly one reply {verdict.ok}",
        f"   lost {len(verdict.lost)} | doubled {len(verdict.doubled)} | unconfirmed "
        f"{len(verdict.unconfirmed)} (+{len(verdict.unconfirmed_but_delivered)} delivered "
        f"anyway; API lists {verdict.api_unconfirmed}) | unacknowledged "
        f"{len(verdict.unacknowledged)} | unattributed {len(verdict.unattributed)}",
        f"   webhook attempts {verdict.delivery_attempts} ({verdict.failed_attempts} failed) | "
        f"events {dict(verdict.event_status)} | outbox {dict(verdict.outbox_status)}",
        f"   reply delay s (write -> reply, 1 s resolution): p50 {percentile(delays, 0.5)} "
        f"p90 {percentile(delays, 0.9)} p99 {percentile(delays, 0.99)} "
        f"max {max(delays, default=0)} (n={len(delays)})",
    ]
    if verdict.delays:
        slow = ", ".join(f"{t}/chat {c}: {d}s" for d, t, c in verdict.delays[:5])
        lines.append(f"   slowest: {slow}")
    for error, count in verdict.event_errors.most_common(3):
        lines.append(f"   event error x{count}: {error}")
    for problem in problems:
        lines.append(f"   PROBLEM {problem}")
    if verdict.unconfirmed:
        lines.append(f"   unconfirmed (for review): {', '.join(verdict.unconfirmed[:10])}")
    return "\n".join(lines)
