"""Periodic work run by beat: re-enqueue due or stuck deliveries; send digests; resolve timed-out
alerts; run escalation steps; prune old rows."""

from __future__ import annotations

from celery.utils.log import get_task_logger

from alertworker.delivery import deliveries, digests
from alertworker.paging import escalation, lifecycle
from alertworker.tenants import retention
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


@app.task(name="alertworker.send_digests")
def send_digests() -> dict[str, int]:
    """Send the digest emails whose period is over (each once, whatever runs concurrently)."""
    rt = runtime()
    outcomes = digests.send_due(rt.settings, rt.session_factory, rt.redis)
    if outcomes:
        log.info("digests: %s", dict(outcomes))
    return dict(outcomes)


@app.task(name="alertworker.auto_resolve")
def auto_resolve() -> int:
    """Resolve open alerts past their config's auto_resolve_minutes (SPEC §13); how many."""
    rt = runtime()
    resolved, pending = lifecycle.resolve_timed_out(rt.settings, rt.session_factory, rt.redis)
    enqueue_deliveries(pending)
    if resolved:
        log.info("auto-resolved %d notifications", len(resolved))
    return len(resolved)


@app.task(name="alertworker.escalate")
def escalate() -> int:
    """Run the escalation steps that are due (each once) and enqueue their deliveries."""
    rt = runtime()
    pending = escalation.run_due(rt.settings, rt.session_factory)
    enqueue_deliveries(pending)
    return len(pending)


@app.task(name="alertworker.prune")
def prune() -> dict[str, int]:
    """Delete notifications and rejected events past NOTIFICATION_RETENTION_DAYS and the trail
    past TRAIL_RETENTION_HOURS."""
    rt = runtime()
    deleted = retention.prune(rt.settings, rt.session_factory)
    log.info("retention pruned %s", deleted)
    return deleted
