"""VK sandbox state: communities, their callback server and what they sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from easyflow.sandbox.kit import RetrySchedule, WebhookSender, Window

# VK resends an event that was not answered `ok` a few times [exact count and timeout are
# not published]; after several failures in a row it turns the server off.
DEFAULT_RETRY = RetrySchedule(delays=(1.0, 5.0, 15.0, 60.0), max_attempts=5)


@dataclass(frozen=True)
class VkCommunity:
    group_id: int
    access_token: str
    confirmation: str
    name: str = "Hub Sandbox Shop"
    screen_name: str = "hub_sandbox_shop"


@dataclass
class VkConfig:
    communities: list[VkCommunity] = field(default_factory=list)
    retry: RetrySchedule = DEFAULT_RETRY
    retry_delay_scale: float = 1.0
    disable_after_failures: int | None = 10
    requests_per_second: int | None = 20  # per token; over it: error 6
    messages_per_peer_per_minute: int | None = None  # flood control (error 9) when set
    max_text: int = 9000  # error 914 beyond
    api_version: str = "5.199"


@dataclass
class SentMessage:
    id: int
    peer_id: int
    random_id: int
    text: str
    keyboard: dict[str, Any] | None = None
    conversation_message_id: int = 0


@dataclass
class EventAnswer:
    event_id: str
    user_id: int
    peer_id: int
    event_data: dict[str, Any] | None


@dataclass
class CommunityState:
    community: VkCommunity
    sender: WebhookSender
    window: Window
    secret: str | None = None
    peers: set[int] = field(default_factory=set)  # allowed messages (wrote to the community)
    sent: list[SentMessage] = field(default_factory=list)
    by_random_id: dict[tuple[int, int], SentMessage] = field(default_factory=dict)
    open_events: dict[str, tuple[int, int]] = field(default_factory=dict)  # event_id -> user, peer
    answers: list[EventAnswer] = field(default_factory=list)
    flood: dict[int, Window] = field(default_factory=dict)


# Public demo credentials: they only open the sandbox.
DEMO_COMMUNITY = VkCommunity(
    group_id=229000111,
    access_token="vk1.a.sandbox-demo-community-token-0000",  # noqa: S106
    confirmation="5f1d0a9c",
)
