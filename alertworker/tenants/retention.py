"""Retention (NOTIFICATION_RETENTION_DAYS): delete old notifications (their deliveries go with
them, ON DELETE CASCADE), old digests and old rejected events, and the trail past
TRAIL_RETENTION_HOURS (SPEC §17), in bounded batches so no run holds long locks."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import sessionmaker

from alertworker.core.db import utcnow
from alertworker.core.models import AlertNotification, EventTrail, NotificationDigest, RejectedEvent
from alertworker.core.settings import Settings


def prune(
    settings: Settings,
    session_factory: sessionmaker,
    *,
    now: datetime | None = None,
    batch: int = 1000,
    max_batches: int = 100,
) -> dict[str, int]:
    """Delete rows older than the retention period; returns how many per table."""
    now = now or utcnow()
    old = now - timedelta(days=settings.notification_retention_days)
    deleted: dict[str, int] = {}
    for model, column, cutoff in (
        (AlertNotification, AlertNotification.triggered_at, old),
        (NotificationDigest, NotificationDigest.period_end, old),
        (RejectedEvent, RejectedEvent.received_at, old),
        (EventTrail, EventTrail.received_at, now - timedelta(hours=settings.trail_retention_hours)),
    ):
        total = 0
        for _ in range(max_batches):
            with session_factory() as session:
                ids = session.scalars(
                    select(model.id).where(column < cutoff).order_by(model.id).limit(batch)
                ).all()
                if ids:
                    session.execute(delete(model).where(model.id.in_(ids)))
                    session.commit()
            total += len(ids)
            if len(ids) < batch:
                break
        deleted[model.__tablename__] = total
    return deleted
