"""Periodic work run by beat: re-enqueue due or stuck deliveries; prune old rows."""

from __future__ import annotations

from celery.utils.log import get_task_logger

from alertworker import deliveries, retention
from tasks.app import app, runtime
from tasks.delivery import enqueue_deliveries

log = get_task_logger(__name__)


@app.task(name="alertworker.sweep")
def sweep() -> int:
    """Enqueue deliveries that are due again or whose lease expired; returns how many."""
    rt = runtime()
    due = deliveries.due(rt.settings, rt.session_factory)
    enqueue_deliveries(due)
    if due:
        log.info("sweeper re-enqueued %d deliveries", len(due))
    return len(due)


@app.task(name="alertworker.prune")
def prune() -> dict[str, int]:
    """Delete notifications and rejected events past NOTIFICATION_RETENTION_DAYS."""
    rt = runtime()
    deleted = retention.prune(rt.settings, rt.session_factory)
    log.info("retention pruned %s", deleted)
    return deleted
