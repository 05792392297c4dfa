"""SQL implementations of the repository ports; they run on a unit of work's connection."""

from easyflow.storage.repositories.ai import SqlAiCostRepository
from easyflow.storage.repositories.commerce import SqlAiUsageRepository, SqlOrderRepository
from easyflow.storage.repositories.conversations import (
    SqlContactRepository,
    SqlConversationRepository,
)
from easyflow.storage.repositories.inbound import SqlInboundEventRepository
from easyflow.storage.repositories.integrations import SqlIntegrationRepository
from easyflow.storage.repositories.messages import SqlMessageRepository
from easyflow.storage.repositories.outbox import SqlOutboxRepository
from easyflow.storage.repositories.tenants import SqlApiKeyRepository, SqlTenantRepository

__all__ = [
    "SqlAiCostRepository",
    "SqlAiUsageRepository",
    "SqlApiKeyRepository",
    "SqlContactRepository",
    "SqlConversationRepository",
    "SqlInboundEventRepository",
    "SqlIntegrationRepository",
    "SqlMessageRepository",
    "SqlOrderRepository",
    "SqlOutboxRepository",
    "SqlTenantRepository",
]
