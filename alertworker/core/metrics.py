"""Prometheus metrics of the pipeline and the deliveries (SPEC §4: every outcome is counted)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_RECEIVED = Counter("alertworker_events_received_total", "Events taken off the broker")
EVENTS_REJECTED = Counter(
    "alertworker_events_rejected_total", "Events or messages rejected", ["reason"]
)
EVALUATIONS = Counter(
    "alertworker_evaluations_total",
    "Outcomes of (event, config) evaluations",
    ["outcome"],  # matched, condition_not_met, duplicate, throttled_cooldown, ... notified
)
THROTTLE_FAIL_OPEN = Counter(
    "alertworker_throttle_fail_open_total",
    "Notifications let through with Redis down and no recent send known to Postgres",
)
THROTTLE_POSTGRES = Counter(
    "alertworker_throttle_postgres_suppressed_total",
    "Decisions Redis allowed (or could not take) that Postgres's memory suppressed",
    ["reason"],  # cooldown, hourly_cap
)
THROTTLE_SETTLE_FAILED = Counter(
    "alertworker_throttle_settle_failed_total",
    "Committed decisions Redis could not be told of (their provisional hold lapses)",
)
DELIVERY_ATTEMPTS = Counter(
    "alertworker_delivery_attempts_total", "Delivery attempts", ["channel", "outcome"]
)
DELIVERIES_FINISHED = Counter(
    "alertworker_deliveries_total", "Deliveries reaching a final status", ["channel", "status"]
)
DELIVERY_LATENCY = Histogram(
    "alertworker_delivery_latency_seconds",
    "From the event's occurred_at to the delivery's success",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
PREFERENCE_DECISIONS = Counter(
    "alertworker_preference_decisions_total",
    "Users' preferences applied to email deliveries (SPEC §8)",
    ["decision", "reason"],  # send (allowed, critical, not_a_user), skip, defer, digest
)
DIGESTS = Counter("alertworker_digests_total", "Digest emails by outcome", ["outcome"])
RESOLVES = Counter(
    "alertworker_resolves_total", "Notifications resolved (SPEC §13)", ["reason"]
)  # event, recovery_pair, manual, timeout
ESCALATIONS = Counter(
    "alertworker_escalation_steps_total",
    "Escalation (SPEC §14): steps run, escalations finished or stopped",
    ["outcome"],  # step_run, finished, stopped
)
ESCALATION_TARGETS = Counter(
    "alertworker_escalation_targets_total",
    "Escalation targets: delivery rows made, or why none",
    ["outcome"],  # delivery, nobody_on_call, unknown_user
)
TRAIL_ROWS = Counter(
    "alertworker_trail_rows_total",
    "Rows written to the trail (SPEC §17): one per batch and set of events with equal outcomes",
)
TRAIL_EVENTS = Counter("alertworker_trail_events_total", "Events recorded in the trail (§17)")
