"""``alertworker.deliver.<channel>``: one task per external channel, each on its own queue."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery.utils.log import get_task_logger

from alertworker import deliveries
from alertworker.catalog import EXTERNAL_CHANNELS, delivery_task
from tasks.app import app, runtime

log = get_task_logger(__name__)


def _deliver(self: Any, delivery_id: Any = None, *_: Any, **__: Any) -> str:
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int):
        log.warning("ignored %s with delivery id %r", self.name, delivery_id)
        return "invalid"
    rt = runtime()
    outcome = deliveries.deliver(rt.settings, rt.session_factory, rt.redis, delivery_id)
    if outcome.retry_in is not None:
        self.apply_async((delivery_id,), countdown=outcome.retry_in)
    return outcome.status


DELIVERY_TASKS = {
    channel: app.task(name=delivery_task(channel), bind=True)(_deliver)
    for channel in EXTERNAL_CHANNELS
}


def enqueue_deliveries(pending: Iterable[tuple[str, int]]) -> None:
    """Send one delivery task per (channel, id), over one producer; the sweeper covers failures."""
    pending = list(pending)
    if not pending:
        return
    try:
        with app.producer_or_acquire() as producer:
            for channel, delivery_id in pending:
                DELIVERY_TASKS[channel].apply_async((delivery_id,), producer=producer)
    except Exception as exc:
        log.warning("could not enqueue %d deliveries, the sweeper will: %s", len(pending), exc)
