"""Replay of failed deliveries (SPEC §18): one, or in bulk by config, channel and time range.

A replayed delivery keeps its id, so it carries the same ``Idempotency-Key`` and a receiver can
drop a copy it already has. It goes back to ``pending`` with its attempt count reset (it gets
the whole retry policy again; the attempt log keeps the old attempts, numbered from 1 again)
and a pending lease, so the sweeper enqueues it if the caller's enqueue is lost. Only
``failed`` rows are replayed: anything else is in flight, done or held on purpose. A bulk call
takes at most :data:`MAX_BULK` rows, the oldest first, and says when more were left
(``truncated``): the same call again takes the next ones, as the first are no longer failed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alertworker.core.catalog import delivery_queue, delivery_task
from alertworker.core.db import utcnow
from alertworker.core.models import AlertConfig, AlertNotification, NotificationDelivery
from alertworker.core.settings import Settings
from alertworker.delivery.deliveries import Pending
from alertworker.schemas import MAX_ID
from alertworker.tenants.configs import NotFoundError

log = logging.getLogger(__name__)

C, D, N = AlertConfig, NotificationDelivery, AlertNotification
MAX_BULK = 10_000
TASK_BATCH = 50  # ids per delivery task, as the worker's own enqueue does


class NotFailedError(Exception):
    """The delivery is not ``failed``: there is nothing to replay."""


def retry_one(session: Session, settings: Settings, tenant_id: int, delivery_id: int) -> Pending:
    """Put one failed delivery of the tenant back to pending (committed); what to enqueue."""
    replayed = _replay(session, settings, [delivery_id], tenant_id) if delivery_id <= MAX_ID else []
    if replayed:
        return replayed[0]
    status = session.scalar(select(D.status).where(D.id == delivery_id, D.tenant_id == tenant_id))
    if status is None:
        raise NotFoundError(f"no delivery {delivery_id}")
    raise NotFailedError(f"delivery {delivery_id} is {status}, not failed: nothing to retry")


def retry_many(
    session: Session,
    settings: Settings,
    tenant_id: int,
    *,
    since: datetime,
    until: datetime | None = None,
    config_id: int | None = None,
    channel: str | None = None,
) -> tuple[list[Pending], bool]:
    """Replay the tenant's failed deliveries created in [since, until), at most MAX_BULK
    (committed); what to enqueue, and whether more were left."""
    if config_id is not None and not session.scalar(
        select(C.id).where(C.id == config_id, C.tenant_id == tenant_id)
    ):
        raise ValidationError({"config_id": [f"no alert config {config_id} in this tenant"]})
    query = (
        select(D.id)
        .join(N, D.notification_id == N.id)
        .where(D.tenant_id == tenant_id, D.status == "failed", D.created_at >= since)
    )
    if until is not None:
        query = query.where(D.created_at < until)
    if config_id is not None:
        query = query.where(N.config_id == config_id)
    if channel is not None:
        query = query.where(D.channel == channel)
    ids = list(session.scalars(query.order_by(D.id).limit(MAX_BULK + 1)))
    return _replay(session, settings, ids[:MAX_BULK], tenant_id), len(ids) > MAX_BULK


def _replay(session: Session, settings: Settings, ids: list[int], tenant_id: int) -> list[Pending]:
    if not ids:
        return []
    lease = utcnow() + timedelta(seconds=settings.delivery_lease_seconds)
    changed = session.execute(
        update(D)
        .where(D.id.in_(ids), D.tenant_id == tenant_id, D.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=None, lease_expires_at=lease)
        .returning(D.id, D.channel, D.notification_id)
        .execution_options(synchronize_session=False)
    ).all()
    configs = dict(
        session.execute(
            select(N.id, N.config_id).where(N.id.in_({nid for _, _, nid in changed}))
        ).all()
    ) if changed else {}  # fmt: skip
    session.commit()
    log.info("replayed %d failed deliveries of tenant %d", len(changed), tenant_id)
    return sorted((Pending(ch, configs.get(nid), did) for did, ch, nid in changed), key=_id)


def _id(pending: Pending) -> int:
    return pending.delivery_id


def enqueue(celery_app: Any, pending: Iterable[Pending]) -> None:
    """Send delivery tasks, one per destination and TASK_BATCH ids. If the broker refuses,
    the rows stay pending and the sweeper enqueues them when their lease expires."""
    groups: dict[tuple[str, int | None], list[int]] = {}
    for channel, config_id, delivery_id in pending:
        groups.setdefault((channel, config_id), []).append(delivery_id)
    try:
        with celery_app.producer_or_acquire() as producer:
            for (channel, _), ids in groups.items():
                for i in range(0, len(ids), TASK_BATCH):
                    celery_app.send_task(
                        delivery_task(channel), args=[ids[i : i + TASK_BATCH]],
                        queue=delivery_queue(channel), producer=producer,
                    )  # fmt: skip
    except Exception as exc:
        log.warning("could not enqueue replayed deliveries, the sweeper will: %s", exc)
