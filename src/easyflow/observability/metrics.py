"""Every Prometheus metric of the hub, defined once.

Metrics live on a registry owned by the running app (not the global default) so that tests
and several apps in one process never collide. The first three names are the seed document's
and are kept as they are.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.api_calls = Counter(
            "integration_api_calls_total",
            "Calls to external platforms by outcome",
            ["platform", "method", "status"],
            registry=r,
        )
        self.api_response_seconds = Histogram(
            "integration_api_response_seconds",
            "Platform response time in seconds",
            ["platform", "method"],
            registry=r,
        )
        self.sync_success = Counter(
            "integration_sync_success_total",
            "Successful sync runs",
            ["platform", "sync_type"],
            registry=r,
        )
        self.api_retries = Counter(
            "integration_api_retries_total",
            "Retried platform calls by reason",
            ["platform", "method", "reason"],
            registry=r,
        )
        self.rate_limit_wait_seconds = Counter(
            "integration_rate_limit_wait_seconds_total",
            "Seconds spent waiting for a rate-limit budget before sending",
            ["platform"],
            registry=r,
        )
        self.webhooks = Counter(
            "webhook_requests_total",
            "Inbound webhook requests by outcome",
            ["platform", "outcome"],
            registry=r,
        )
        self.webhook_events = Counter(
            "webhook_events_stored_total",
            "Inbound events stored (duplicates excluded)",
            ["platform"],
            registry=r,
        )
        self.inbound_processed = Counter(
            "inbound_events_processed_total",
            "Inbound events processed by outcome",
            ["platform", "outcome"],
            registry=r,
        )
        self.outbox = Counter(
            "outbox_deliveries_total",
            "Outbox delivery attempts by outcome",
            ["platform", "outcome"],
            registry=r,
        )
        self.recovered = Counter(
            "recovery_requeued_total",
            "Rows re-enqueued by the recovery sweep",
            ["kind"],
            registry=r,
        )
        self.ai_tokens = Counter(
            "ai_tokens_total",
            "AI tokens used",
            ["provider", "kind"],
            registry=r,
        )
        self.ai_replies = Counter(
            "ai_replies_total",
            "Replies produced per provider and outcome",
            ["provider", "outcome"],
            registry=r,
        )
        self.integration_health = Gauge(
            "integration_healthy",
            "1 when the platform's last health check passed",
            ["platform"],
            registry=r,
        )
        # Sync (services/sync.py): integration_sync_success_total above counts the successes.
        self.sync_failures = Counter(
            "integration_sync_failures_total",
            "Sync runs that failed",
            ["platform", "sync_type"],
            registry=r,
        )
        self.sync_records = Counter(
            "integration_sync_records_total",
            "Records synced (upserted) per stream",
            ["platform", "stream"],
            registry=r,
        )
        self.sync_record_errors = Counter(
            "integration_sync_record_errors_total",
            "Records a sync could not map, recorded with their run",
            ["platform", "stream"],
            registry=r,
        )
        self.sync_duration = Histogram(
            "integration_sync_duration_seconds",
            "Duration of finished sync runs",
            ["platform", "stream"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
            registry=r,
        )
        self.sync_lag = Gauge(
            "integration_sync_lag_seconds",
            "Age of the oldest stream watermark: changes newer than this may not be synced",
            ["platform", "stream"],
            registry=r,
        )
