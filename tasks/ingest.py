"""``alertworker.ingest``: one broker message, a batch of events, through the pipeline."""

from __future__ import annotations

import gc
from typing import Any

from celery import signals
from celery.utils.log import get_task_logger
from sqlalchemy.exc import DBAPIError

from alertworker.core.catalog import INGEST_TASK
from alertworker.ingest.rejections import record_rejections, rejection
from tasks import db_retry
from tasks.app import app, runtime
from tasks.delivery import enqueue_deliveries

log = get_task_logger(__name__)

MAX_REDELIVERIES = 5  # a batch that keeps killing its worker is parked as rejected


@signals.worker_process_init.connect
def _freeze_heap(**_: Any) -> None:
    """Leave what the process holds after start (modules, Celery, SQLAlchemy) out of every
    garbage collection: a batch's garbage is young, and a full collection over the whole heap
    cost ingest ~20 % of its CPU (in-process measurement of the storm)."""
    gc.freeze()


@app.task(name=INGEST_TASK, bind=True, max_retries=None)  # a database outage of any length
def ingest(self: Any, *args: Any, **kwargs: Any) -> dict[str, int] | None:
    """Process a list of events (the one positional argument); anything else is rejected."""
    rt = runtime()
    events = args[0] if len(args) == 1 and not kwargs else kwargs.get("events")
    if isinstance(events, dict):
        events = [events]
    if not isinstance(events, list) or (args and kwargs):
        _reject([[args, kwargs]], "invalid: task arguments must be one list of events")
        return None
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    if redelivered and self.request.id and _redelivered_too_often(rt, self.request.id):
        _reject(events, f"poison: batch redelivered more than {MAX_REDELIVERIES} times")
        return None
    try:
        replay = redelivered or self.request.retries > 0
        result = rt.pipeline.process(events, replay=replay, on_commit=enqueue_deliveries)
    except DBAPIError as exc:
        if db_retry.should_retry(self, exc):
            raise db_retry.retry_later(self, exc, rt.settings.db_retry_max_seconds) from exc
        log.exception("batch of %d events failed in the database", len(events))
        _reject(events, f"database error: {type(exc.orig).__name__}: {exc.orig}")
        return None
    except Exception as exc:
        log.exception("batch of %d events failed in the pipeline", len(events))
        _reject(events, f"internal error: {type(exc).__name__}: {exc}")
        return None
    return {"received": result.received, "rejected": result.rejected, **result.outcomes}


@app.task(name="alertworker.record_rejected")
def record_rejected(
    payload: Any = None, reason: Any = "invalid message", *_: Any, **__: Any
) -> None:
    """Store a message the worker could not treat as a task (sent by the guarded consumer)."""
    _reject([payload], str(reason))


def _reject(items: list[Any], reason: str) -> None:
    with runtime().session_factory() as session:
        record_rejections(session, [rejection(item, reason) for item in items])
        session.commit()
    log.warning("rejected %d item(s): %s", len(items), reason[:200])


def _redelivered_too_often(rt: Any, task_id: str) -> bool:
    key = f"{rt.settings.redis_key_prefix}ingest-runs:{task_id}"
    try:
        pipe = rt.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 86400)
        runs = pipe.execute()[0]
    except Exception:  # Redis down: don't block ingest over a safety counter
        return False
    return runs > MAX_REDELIVERIES
