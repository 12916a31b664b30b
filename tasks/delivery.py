"""``alertworker.deliver.<channel>``: one task per external channel, each on its own queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from celery.utils.log import get_task_logger
from sqlalchemy.exc import DBAPIError

from alertworker.core.catalog import EVENTS_QUEUE, EXTERNAL_CHANNELS, INGEST_TASK, delivery_task
from alertworker.delivery import deliveries
from alertworker.delivery.deliveries import Pending
from tasks import db_retry
from tasks.app import app, runtime

log = get_task_logger(__name__)

MAX_BATCH = 50  # deliveries per task: one claim and one record transaction for all of them


def _deliver(self: Any, delivery_ids: Any = None, *_: Any, **__: Any) -> dict[str, int]:
    """Deliver one id or a list of ids (one destination's); re-send short retries later."""
    ids = [delivery_ids] if isinstance(delivery_ids, int) else delivery_ids
    if not isinstance(ids, list) or not all(_is_id(i) for i in ids) or not ids:
        log.warning("ignored %s with delivery ids %r", self.name, delivery_ids)
        return {}
    rt = runtime()
    try:
        outcomes = deliveries.deliver(
            rt.settings, rt.delivery_sessions, rt.redis, ids[:MAX_BATCH], publish=publish_events
        )
    except DBAPIError as exc:  # the rows keep their state: try again, or leave it to the sweeper
        if not db_retry.should_retry(self, exc):
            raise
        raise db_retry.retry_later(self, exc, rt.settings.db_retry_max_seconds) from exc
    retries: dict[float, list[int]] = {}
    for delivery_id, outcome in outcomes.items():
        if outcome.retry_in is not None:
            retries.setdefault(round(outcome.retry_in, 1), []).append(delivery_id)
    for countdown, retry_ids in retries.items():
        self.apply_async((retry_ids,), countdown=countdown)
    if len(ids) > MAX_BATCH:
        self.apply_async((ids[MAX_BATCH:],))
    return dict(Counter(o.status for o in outcomes.values()))


def publish_events(events: list[dict[str, Any]]) -> None:
    """Put events alertworker emits itself (delivery_failing, SPEC §18) on alerts.events."""
    app.send_task(INGEST_TASK, args=[events], queue=EVENTS_QUEUE)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


DELIVERY_TASKS = {
    channel: app.task(name=delivery_task(channel), bind=True, max_retries=None)(_deliver)
    for channel in EXTERNAL_CHANNELS
}


def enqueue_deliveries(pending: Iterable[Pending]) -> None:
    """One task per destination (channel, config) and MAX_BATCH ids, over one producer.

    If the broker refuses, the rows stay pending and the sweeper enqueues them once their
    lease expires.
    """
    groups: dict[tuple[str, int | None], list[int]] = {}
    for channel, config_id, delivery_id in pending:
        groups.setdefault((channel, config_id), []).append(delivery_id)
    if not groups:
        return
    try:
        with app.producer_or_acquire() as producer:
            for (channel, _), ids in groups.items():
                for i in range(0, len(ids), MAX_BATCH):
                    batch = ids[i : i + MAX_BATCH]
                    DELIVERY_TASKS[channel].apply_async(
                        (batch,), producer=producer, argsrepr=repr([batch]), kwargsrepr="{}"
                    )  # our repr: Celery's saferepr costs ~0.1 ms per task
    except Exception as exc:
        count = sum(map(len, groups.values()))
        log.warning("could not enqueue %d deliveries, the sweeper will: %s", count, exc)
