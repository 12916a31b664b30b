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

CHANNELS: tuple[str, ...] = ("in_app", "email", "slack", "webhook", "pagerduty", "sms")
# others: the name, capitalised
CHANNEL_LABELS: dict[str, str] = {"in_app": "In-app (bell)", "pagerduty": "PagerDuty", "sms": "SMS"}
EXTERNAL_CHANNELS: tuple[str, ...] = ("email", "slack", "webhook", "pagerduty", "sms")

# SPEC §13: a notification's lifecycle, why it was resolved, and what a delivery carries
NOTIFICATION_STATES: tuple[str, ...] = ("firing", "acknowledged", "resolved")
RESOLVE_REASONS: tuple[str, ...] = ("event", "recovery_pair", "manual", "timeout")
DELIVERY_KINDS: tuple[str, ...] = ("trigger", "resolve", "acknowledge", "escalation")
# a recovery event type -> the alert type whose open notifications it resolves
RECOVERY_PAIRS: dict[str, str] = {
    "circuit_breaker_closed": "circuit_breaker_opened",
    "provider_recovered": "provider_unhealthy",
}

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
