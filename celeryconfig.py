"""Celery configuration, built from alertworker's settings (SPEC §12, FIELD-NOTES.md).

At-least-once delivery: late acks, requeue when a worker process is lost, prefetch 1, JSON only,
no results. One queue per concern so ops can run workers per queue and a slow SMTP server never
delays webhooks. Broker keys on Redis carry REDIS_KEY_PREFIX, like every other key.
"""

from alertworker.client import broker_queues
from alertworker.client import broker_transport_options as _transport_options
from alertworker.core.catalog import (
    EVENTS_QUEUE,
    EXTERNAL_CHANNELS,
    INGEST_TASK,
    MAINTENANCE_QUEUE,
    delivery_queue,
    delivery_task,
)
from alertworker.core.settings import load
from alertworker.delivery.retry import SHORT_RETRY_SECONDS

_settings = load()
# 45 s with the default countdowns (at most 30 s): half as long again as the longest.
VISIBILITY_TIMEOUT_SECONDS = 1.5 * max(SHORT_RETRY_SECONDS, _settings.db_retry_max_seconds)

# Empty BROKER_URL: `alertworker run` sets it to its own broker before it imports this; any
# other process without one (a test calling tasks directly) gets Celery's in-process broker.
broker_url = _settings.broker_url or "memory://"
if broker_url.startswith(("redis://", "rediss://")):
    broker_transport = "tasks.transport:GuardedRedisTransport"
broker_connection_retry_on_startup = True
broker_connection_timeout = 5
broker_transport_options = _transport_options(
    broker_url, _settings.redis_key_prefix, timeout=10
) | {
    # Redis: a dead worker's unacked messages come back after this (+ one restore scan, every
    # 5 s in every worker), so a killed worker's batch resumes within a minute. Every countdown
    # stays well below it (a delivery retry later than 30 s waits on its row; a database retry
    # at most DB_RETRY_MAX_SECONDS). A task still running past it runs again: ingest is
    # idempotent, and a delivery's second run finds its rows under the first run's lease.
    "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
}

task_serializer = "json"
accept_content = ["json"]
result_backend = None
task_ignore_result = True
task_acks_late = True
task_reject_on_worker_lost = True  # prefork (the worker service): a lost child requeues
worker_prefetch_multiplier = 1  # per pool slot: the delivery service's 8 threads take 8
# A lost broker connection cancels unacked running tasks: prefork kills the child. The threads
# pool (the delivery service) cannot, so the task finishes while its message comes back; the
# second run finds the rows under the first one's lease and sends nothing (not_claimed).
worker_cancel_long_running_tasks_on_connection_loss = True
worker_consumer = "tasks.consumer:GuardedConsumer"
worker_hijack_root_logger = False

task_queues = broker_queues(broker_url)  # quorum queues on RabbitMQ
task_default_queue = EVENTS_QUEUE
task_routes = {
    INGEST_TASK: {"queue": EVENTS_QUEUE},
    "alertworker.record_rejected": {"queue": EVENTS_QUEUE},
    "alertworker.sweep": {"queue": MAINTENANCE_QUEUE},
    "alertworker.prune": {"queue": MAINTENANCE_QUEUE},
    "alertworker.send_digests": {"queue": MAINTENANCE_QUEUE},
    "alertworker.auto_resolve": {"queue": MAINTENANCE_QUEUE},
    "alertworker.escalate": {"queue": MAINTENANCE_QUEUE},
    **{delivery_task(c): {"queue": delivery_queue(c)} for c in EXTERNAL_CHANNELS},
}

beat_schedule = {
    "sweep-deliveries": {
        "task": "alertworker.sweep",
        "schedule": _settings.sweeper_interval_seconds,
        "options": {"expires": _settings.sweeper_interval_seconds},
    },
    "send-digests": {
        "task": "alertworker.send_digests",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    "auto-resolve": {  # SPEC §13: at least once a minute (as often as the sweeper if sooner)
        "task": "alertworker.auto_resolve",
        "schedule": min(60.0, _settings.sweeper_interval_seconds),
        "options": {"expires": min(60.0, _settings.sweeper_interval_seconds)},
    },
    "run-escalations": {
        "task": "alertworker.escalate",
        "schedule": _settings.escalation_interval_seconds,
        # A page must not be starved: a run that waited behind a busy worker still runs (each
        # is cheap when nothing is due); only runs older than a minute are dropped.
        "options": {"expires": max(60.0, _settings.escalation_interval_seconds)},
    },
    "prune-old-rows": {
        "task": "alertworker.prune",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
}
