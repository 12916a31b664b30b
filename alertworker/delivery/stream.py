"""Live notifications over Redis pub/sub: the worker publishes, the API's SSE endpoint relays.

One channel per tenant, ``<REDIS_KEY_PREFIX>stream:<tenant id>``; each message is one JSON
object ``{"type": "notification", "notification": {...summary...}}`` (a new notification) or
``{"type": "notification.resolved", ...}`` (one was resolved, SPEC §13). Pub/sub is best effort:
a client that was not listening reads the API instead, and a Redis outage never blocks ingest.
A client that reconnects gets the new notifications it missed from Postgres
(:func:`created_after`, the SSE ``Last-Event-ID``); missed resolves are not replayed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alertworker.core.models import AlertNotification
from alertworker.core.settings import Settings

log = logging.getLogger(__name__)


def channel(settings: Settings, tenant_id: int) -> str:
    return f"{settings.redis_key_prefix}stream:{tenant_id}"


def created_after(
    session: Session, tenant_id: int, after_id: int, limit: int
) -> list[dict[str, Any]]:
    """The summaries of the tenant's notifications with an id above ``after_id``, oldest first
    (at most ``limit``): what a reconnecting stream missed."""
    N = AlertNotification
    rows = session.scalars(
        select(N).where(N.tenant_id == tenant_id, N.id > after_id).order_by(N.id).limit(limit)
    )
    return [summary(row) for row in rows]


def summary(row: AlertNotification) -> dict[str, Any]:
    """A new notification as the stream carries it (the pipeline's summary, from the row)."""
    return {
        "id": row.id, "tenant_id": row.tenant_id, "config_id": row.config_id,
        "alert_type": row.alert_type, "severity": row.severity, "title": row.title,
        "occurrence_count": row.occurrence_count, "triggered_at": row.triggered_at.isoformat(),
        "is_test": row.is_test,
    }  # fmt: skip


def publish_notifications(
    redis: Any, settings: Settings, summaries: Iterable[dict[str, Any]]
) -> None:
    """Publish one message per new notification's summary (each has ``tenant_id``)."""
    publish(redis, settings, "notification", summaries)


def publish(redis: Any, settings: Settings, kind: str, summaries: Iterable[dict[str, Any]]) -> None:
    """Publish one ``kind`` message per notification summary (each has ``tenant_id``), pipelined."""
    try:
        pipe = redis.pipeline(transaction=False)
        add(pipe, settings, kind, summaries)
        pipe.execute()
    except Exception as exc:  # the stream is best effort; never fail ingest over it
        log.warning("could not publish to the live stream: %s", exc)


def add(pipe: Any, settings: Settings, kind: str, summaries: Iterable[dict[str, Any]]) -> None:
    """Queue the ``kind`` messages on a Redis pipeline that someone else sends (the pipeline
    sends them with its throttle settlements, in one round trip)."""
    for summary in summaries:
        message = json.dumps({"type": kind, "notification": summary}, default=str)
        pipe.publish(channel(settings, summary["tenant_id"]), message)
