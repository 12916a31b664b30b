"""The trail (SPEC §17), read: one event's outcomes, and the list, newest first.

An event's rows (a replayed event has one per batch that processed it) are found through
``event_ids`` (Postgres: ``@>`` on the GIN index; SQLite: the JSON text). What the worker did
not know when it wrote the trail is read here: each config's name, a notification's deliveries
with the recipient's preference decision (skipped: opted_out | below_min_severity, deferred:
quiet_hours until, digest), the notification a suppressed event was folded into (the latest of
its alert when the batch ran) with the cooldown's ``until``, and the hourly cap's ``count`` and
``until``. Every function takes the tenant id and never answers another tenant's rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from alertworker.core.models import AlertConfig, AlertNotification, EventTrail, NotificationDelivery
from alertworker.tenants.configs import NotFoundError
from alertworker.tenants.notifications import decode_cursor, encode_cursor

T, N, D, C = (
    EventTrail.__table__,
    AlertNotification.__table__,
    NotificationDelivery.__table__,
    AlertConfig.__table__,
)
_HAS = {
    "postgresql": text("event_trail.event_ids @> ARRAY[CAST(:eid AS uuid)]"),
    "sqlite": text("instr(event_trail.event_ids, :quoted) > 0"),
}
INTERNAL = ("fingerprint", "cooldown_minutes")


def get_event(session: Session, tenant_id: int, event_id: str) -> dict[str, Any]:
    """``{event_id, received_at, alert_type, title, outcomes}``; NotFoundError if unknown."""
    try:
        event_id = str(uuid.UUID(event_id))
    except ValueError:
        raise NotFoundError("event not found") from None
    has = _HAS[session.get_bind().dialect.name]
    rows = session.execute(
        select(T).where(T.c.tenant_id == tenant_id, has).order_by(T.c.id),
        {"eid": event_id, "quoted": f'"{event_id}"'},
    ).all()
    if not rows:
        raise NotFoundError("event not found")
    first = rows[0]
    outcomes = [
        {**o, "received_at": r.received_at} if len(rows) > 1 else o
        for r in rows
        for o in _explain(session, tenant_id, r)
    ]
    _name_configs(session, tenant_id, outcomes)
    return {
        "event_id": event_id,
        "received_at": first.received_at,
        "alert_type": first.alert_type,
        "title": first.title,
        "event_count": first.event_count,
        "outcomes": outcomes,
    }


def list_events(
    session: Session,
    tenant_id: int,
    *,
    since: datetime | None = None,
    outcome: str | None = None,
    alert_type: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """``{"items", "next_cursor"}``: trail rows newest first (a coalesced group is one item
    with its ``event_count``; ``event_id`` is its first event)."""
    query = select(T).where(T.c.tenant_id == tenant_id)
    if since is not None:
        query = query.where(T.c.received_at >= since)
    if outcome is not None:
        query = query.where(T.c.kinds.contains(f" {outcome} "))
    if alert_type is not None:
        query = query.where(T.c.alert_type == alert_type)
    if cursor is not None:
        query = query.where(T.c.id < decode_cursor(cursor))
    rows = session.execute(query.order_by(T.c.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    items = [
        {
            "event_id": r.event_id,
            "received_at": r.received_at,
            "alert_type": r.alert_type,
            "title": r.title,
            "event_count": r.event_count,
            "outcomes": [_public(o) for o in r.outcomes],
        }
        for r in rows[:limit]
    ]
    _name_configs(session, tenant_id, [o for i in items for o in i["outcomes"]])
    return {"items": items, "next_cursor": encode_cursor(rows[limit - 1].id) if more else None}


def _public(outcome: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outcome.items() if k not in INTERNAL}


def _name_configs(session: Session, tenant_id: int, outcomes: list[dict[str, Any]]) -> None:
    ids = {o["config_id"] for o in outcomes if o.get("config_id") is not None}
    names = dict(
        session.execute(
            select(C.c.id, C.c.name).where(C.c.tenant_id == tenant_id, C.c.id.in_(ids))
        ).all()
    ) if ids else {}  # fmt: skip
    for o in outcomes:
        o["config_name"] = names.get(o.get("config_id"))


def _explain(session: Session, tenant_id: int, row: Any) -> list[dict[str, Any]]:
    """The row's outcomes with what is read now: deliveries, folds, throttle times."""
    out = []
    for o in row.outcomes:
        o = dict(o)
        if o["outcome"] == "notified":
            o["deliveries"] = deliveries(session, tenant_id, o["notification_id"])
        elif o["outcome"] == "cooldown":
            latest = session.execute(
                select(N.c.id, N.c.triggered_at)
                .where(
                    N.c.tenant_id == tenant_id,
                    N.c.config_id == o["config_id"],
                    N.c.fingerprint == o["fingerprint"],
                    N.c.triggered_at <= row.received_at,
                )
                .order_by(N.c.id.desc())
                .limit(1)
            ).first()
            if latest is not None:
                o["notification_id"] = latest.id
                o["until"] = latest.triggered_at + timedelta(minutes=o["cooldown_minutes"])
        elif o["outcome"] == "hourly_cap":
            count, oldest = session.execute(
                select(func.count(), func.min(N.c.triggered_at)).where(
                    N.c.config_id == o["config_id"],
                    N.c.is_test.is_(False),
                    N.c.triggered_at > row.received_at - timedelta(hours=1),
                    N.c.triggered_at <= row.received_at,
                )
            ).one()
            o["count"] = count
            o["until"] = oldest + timedelta(hours=1) if oldest is not None else None
        out.append(_public(o))
    return out


def deliveries(session: Session, tenant_id: int, notification_id: int) -> list[dict[str, Any]]:
    """A notification's deliveries: channel, recipient, kind, status and the preference
    decision that held one (None when none did)."""
    rows = session.execute(
        select(
            D.c.id,
            D.c.channel,
            D.c.recipient,
            D.c.kind,
            D.c.status,
            D.c.last_error,
            D.c.next_attempt_at,
            D.c.digest_id,
        )  # fmt: skip
        .where(D.c.notification_id == notification_id, D.c.tenant_id == tenant_id)
        .order_by(D.c.id)
    ).all()
    return [
        {
            "delivery_id": r.id,
            "channel": r.channel,
            "recipient": r.recipient,
            "kind": r.kind,
            "status": r.status,
            "preference": _preference(r),
        }
        for r in rows
    ]


def _preference(r: Any) -> dict[str, Any] | None:
    if r.status == "skipped":
        why = "below_min_severity" if "min_severity" in (r.last_error or "") else "opted_out"
        return {"decision": "skipped", "reason": why}
    if r.status == "deferred":
        return {"decision": "deferred", "reason": "quiet_hours", "until": r.next_attempt_at}
    if r.status == "digested":
        return {"decision": "digest", "digest_id": r.digest_id}
    return None
