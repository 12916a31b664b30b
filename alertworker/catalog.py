"""The fixed vocabulary of SPEC §2 and §7: alert types, severities, channels and queues."""

from __future__ import annotations

SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}

# alert_type -> default severity (SPEC §2)
ALERT_TYPES: dict[str, str] = {
    "circuit_breaker_opened": "error",
    "circuit_breaker_closed": "info",
    "provider_unhealthy": "warning",
    "provider_recovered": "info",
    "cost_limit_warning": "warning",
    "cost_limit_exceeded": "error",
    "rate_limit_warning": "warning",
    "rate_limit_exceeded": "error",
    "high_error_rate": "warning",
    "high_latency": "warning",
    "quota_exhausted": "critical",
    "delivery_failing": "error",  # emitted by alertworker itself (SPEC §18)
}

CHANNELS: tuple[str, ...] = ("in_app", "email", "slack", "webhook")
CHANNEL_LABELS: dict[str, str] = {"in_app": "In-app (bell)"}  # others: the name, capitalised
EXTERNAL_CHANNELS: tuple[str, ...] = ("email", "slack", "webhook")

ATTEMPT_OUTCOMES: tuple[str, ...] = ("delivered", "retry", "failed")

DELIVERY_STATUSES: tuple[str, ...] = (
    "pending",
    "sending",
    "delivered",
    "failed",
    "deferred",
    "skipped",
    "digested",
)

EVENTS_QUEUE = "alerts.events"
MAINTENANCE_QUEUE = "alerts.maintenance"
INGEST_TASK = "alertworker.ingest"


def delivery_queue(channel: str) -> str:
    return f"alerts.deliver.{channel}"


def delivery_task(channel: str) -> str:
    return f"alertworker.deliver.{channel}"


def all_queues() -> tuple[str, ...]:
    return (EVENTS_QUEUE, MAINTENANCE_QUEUE, *(delivery_queue(c) for c in EXTERNAL_CHANNELS))
