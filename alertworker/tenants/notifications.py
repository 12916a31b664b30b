"""Reading notifications (SPEC §6): newest first, filtered, keyset-paginated; read and acknowledge.

Pages are keyset on ``id`` (descending), so a page boundary never shifts when notifications are
inserted concurrently: the cursor is the last id seen, base64-wrapped to stay opaque. Read state
is the tenant's (one ``read_at`` per notification); acknowledging records who and when and
implies read and moves a firing notification to ``acknowledged`` (SPEC §13; PagerDuty gets an
``acknowledge``); :func:`resolve` is the manual resolve. Every function takes the tenant id and
never returns another tenant's row. Functions that make deliveries return them to enqueue.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alertworker.core.db import utcnow
from alertworker.core.models import AlertConfig, AlertNotification, NotificationDelivery
from alertworker.core.scrub import redact, secrets_of
from alertworker.delivery.deliveries import Pending
from alertworker.paging import escalation, lifecycle
from alertworker.schemas import MAX_ID
from alertworker.tenants.configs import get_owned

log = logging.getLogger(__name__)
N = AlertNotification


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"n1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, value = raw.partition(":")
        last_id = int(value)
        if version != "n1" or not 0 < last_id <= MAX_ID + 1:
            raise ValueError(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"cursor": ["not a cursor this API returned"]}) from None
    return last_id


def list_notifications(
    session: Session,
    tenant_id: int,
    *,
    unread_only: bool = False,
    state: list[str] | None = None,
    alert_type: str | None = None,
    severity: str | None = None,
    config_id: int | None = None,
    since: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """``{"items": [...], "next_cursor": str | None}``, newest first."""
    query = select(N).where(N.tenant_id == tenant_id)
    if unread_only:
        query = query.where(N.read_at.is_(None))
    if state:
        query = query.where(N.state.in_(state))
    if alert_type is not None:
        query = query.where(N.alert_type == alert_type)
    if severity is not None:
        query = query.where(N.severity == severity)
    if config_id is not None:
        query = query.where(N.config_id == config_id)
    if since is not None:
        query = query.where(N.triggered_at >= since)
    if cursor is not None:
        query = query.where(N.id < decode_cursor(cursor))
    rows = list(session.scalars(query.order_by(N.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    items = rows[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1].id) if more else None}


def _get(session: Session, tenant_id: int, notification_id: int) -> AlertNotification:
    return get_owned(session, N, tenant_id, notification_id, "notification")


def get_notification(session: Session, tenant_id: int, notification_id: int) -> SimpleNamespace:
    """A notification with its deliveries; secrets of its config are scrubbed from errors."""
    row = _get(session, tenant_id, notification_id)
    config = session.get(AlertConfig, row.config_id) if row.config_id is not None else None
    secrets = secrets_of(config.channel_config) if config is not None else []

    def _secrets(d: NotificationDelivery) -> list[str]:  # an escalation target's own, too
        return secrets + secrets_of(d.escalation_target)

    deliveries = session.scalars(
        select(NotificationDelivery)
        .where(NotificationDelivery.notification_id == row.id)
        .order_by(NotificationDelivery.id)
    )
    return SimpleNamespace(
        **_columns(row),
        escalation=escalation.describe(row),
        deliveries=[
            SimpleNamespace(
                **_columns(d) | {"last_error": d.last_error and redact(d.last_error, _secrets(d))}
            )
            for d in deliveries
        ],
    )


def unread_count(session: Session, tenant_id: int) -> int:
    return (
        session.scalar(select(func.count()).where(N.tenant_id == tenant_id, N.read_at.is_(None)))
        or 0
    )


def mark_read(session: Session, tenant_id: int, notification_id: int) -> AlertNotification:
    """Mark read (idempotent: an earlier ``read_at`` is kept)."""
    row = _get(session, tenant_id, notification_id)
    if row.read_at is None:
        row.read_at = utcnow()
        session.commit()
    return row


def acknowledge(
    session: Session, tenant_id: int, notification_id: int, user_id: int, lease_seconds: int
) -> tuple[AlertNotification, list[Pending]]:
    """Record who acknowledged and when (the first acknowledgement stands); implies read. A
    firing notification becomes ``acknowledged`` and its PagerDuty deliveries get one
    ``acknowledge`` each, once."""
    row = _get(session, tenant_id, notification_id)
    now = utcnow()
    conn = session.connection()
    changed = conn.execute(
        update(N)
        .where(N.id == row.id, N.state == "firing")
        .values(state="acknowledged", acknowledged_at=func.coalesce(N.acknowledged_at, now),
                acknowledged_by=func.coalesce(N.acknowledged_by, user_id))
        .returning(N.id)
    ).all()  # fmt: skip
    acknowledged = [i for (i,) in changed]
    pending = lifecycle.follow_up(
        conn, acknowledged, "acknowledge", now, lease_seconds, ["pagerduty"]
    )
    escalation.stop(conn, acknowledged)  # no step due after this runs (SPEC §14)
    session.refresh(row)
    if row.acknowledged_at is None:  # already resolved: still record the acknowledgement
        row.acknowledged_at, row.acknowledged_by = now, user_id
    if row.read_at is None:
        row.read_at = now
    session.commit()
    log.info("notification %d acknowledged by user %d", row.id, row.acknowledged_by or 0)
    return row, pending


def resolve(
    session: Session, tenant_id: int, notification_id: int, user_id: int, lease_seconds: int
) -> tuple[AlertNotification, list[Any], list[Pending]]:
    """Resolve by hand (idempotent: a resolved notification stays as it was resolved).
    Returns the row, what was resolved (for ``lifecycle.after_commit``) and the deliveries."""
    row = _get(session, tenant_id, notification_id)
    now = utcnow()
    conn = session.connection()
    resolved = lifecycle.claim(conn, N.id == row.id, "manual", now, user_id=user_id)
    pending = lifecycle.follow_up(conn, [r.id for r in resolved], "resolve", now, lease_seconds)
    session.commit()
    session.refresh(row)
    if resolved:
        log.info("notification %d resolved by user %d", row.id, user_id)
    return row, resolved, pending


def mark_all_read(session: Session, tenant_id: int) -> int:
    """Mark every unread notification of the tenant read; returns how many changed."""
    changed = session.execute(
        update(N).where(N.tenant_id == tenant_id, N.read_at.is_(None)).values(read_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
    session.commit()
    return changed


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}
