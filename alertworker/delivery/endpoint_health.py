"""Endpoint health and the ``delivery_failing`` alert (SPEC §18).

A destination is (config, channel). :func:`record` runs in the delivery batch's write-back
transaction: one upsert counts the batch's finished deliveries per destination (a failed one
adds to ``consecutive_failures``, a delivered one resets it; retries are not finished). A
destination whose count reaches ``ENDPOINT_FAILURE_ALERT_AFTER`` is *claimed* by a conditional
update of ``last_alerted_at`` (at most once per destination per 24 h, whatever the workers),
and then, in the same transaction:

- when the tenant has an active ``delivery_failing`` config, the claim yields an event that the
  caller publishes to ``alerts.events`` after the commit: the ordinary pipeline routes it
  (conditions, throttling, any channel). If that publish fails, :func:`release` gives the claim
  back, so the next failed delivery tries again;
- otherwise an in-app notification (``config_id`` NULL, like one whose config was deleted) and
  its delivered in-app row are inserted right here, so the tenant hears of it anyway.

Nothing is ever disabled. A failing delivery *of* a delivery_failing notification counts for
its own destination like any other, so a chain is bounded by the same one-per-day claim.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from alertworker.core.catalog import ALERT_TYPES
from alertworker.core.models import (
    AlertConfig,
    AlertNotification,
    EndpointHealth,
    NotificationDelivery,
)
from alertworker.core.settings import Settings
from alertworker.delivery import stream
from alertworker.ingest.throttle import fingerprint
from alertworker.ingest.trail import Trail, entry

log = logging.getLogger(__name__)

ALERT_TYPE = "delivery_failing"
ALERT_EVERY = timedelta(hours=24)
GROUP_BY = ("config_id", "channel")
H = EndpointHealth.__table__
_EVENT_NS = uuid.UUID("6f1d3c3e-2a51-4f0e-9b0e-5c1f2d8a7e41")


@dataclass
class Failing:
    """What a batch's write-back decided to announce, for after its commit."""

    events: list[dict[str, Any]] = field(default_factory=list)  # for the pipeline
    notifications: list[dict[str, Any]] = field(default_factory=list)  # in-app, for the stream
    claims: list[tuple[int, str, datetime]] = field(default_factory=list)  # the events' claims


@dataclass(frozen=True)
class Finished:
    """One finished delivery of a destination, in the order the batch sent them."""

    config_id: int
    config_name: str
    tenant_slug: str
    channel: str
    delivered: bool
    error: str | None


@functools.cache
def _upsert(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(H)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["config_id", "channel"],
        set_={  # a success in this batch restarts the count from the failures after it
            "consecutive_failures": case(
                (new.last_success_at.is_not(None), new.consecutive_failures),
                else_=H.c.consecutive_failures + new.consecutive_failures,
            ),
            "last_failure_at": func.coalesce(new.last_failure_at, H.c.last_failure_at),
            "last_success_at": func.coalesce(new.last_success_at, H.c.last_success_at),
            "last_error": func.coalesce(new.last_error, H.c.last_error),
            "updated_at": new.updated_at,
        },
    ).returning(H.c.config_id, H.c.channel, H.c.consecutive_failures, H.c.last_alerted_at)


_CLAIM = (
    update(H)
    .where(
        H.c.config_id == bindparam("b_cfg"),
        H.c.channel == bindparam("b_ch"),
        or_(H.c.last_alerted_at.is_(None), H.c.last_alerted_at <= bindparam("b_cutoff")),
    )
    .values(last_alerted_at=bindparam("b_now"))
    .returning(H.c.consecutive_failures, H.c.last_error)
)


def record(
    session: Session, settings: Settings, finished: list[Finished], now: datetime
) -> Failing:
    """Count a batch's finished deliveries per destination (one upsert) and claim the alerts."""
    failing = Failing()
    if not finished:
        return failing
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for f in finished:
        row = rows.setdefault((f.config_id, f.channel), {
            "config_id": f.config_id, "channel": f.channel, "consecutive_failures": 0,
            "last_failure_at": None, "last_success_at": None, "last_error": None,
            "updated_at": now,
        })  # fmt: skip
        if f.delivered:
            row |= {"consecutive_failures": 0, "last_success_at": now}
        else:
            row["consecutive_failures"] += 1
            row |= {"last_failure_at": now, "last_error": f.error}
    conn = session.connection()
    ordered = [rows[key] for key in sorted(rows)]  # one lock order for every worker
    counted = conn.execute(_upsert(conn.dialect.name), ordered).all()
    cutoff = now - ALERT_EVERY
    by_key = {(f.config_id, f.channel): f for f in finished}
    for config_id, channel, failures, alerted_at in counted:
        if rows[(config_id, channel)]["last_failure_at"] is None:
            continue  # nothing failed in this batch: no news
        if failures < settings.endpoint_failure_alert_after:
            continue
        if alerted_at is not None and alerted_at > cutoff:
            continue
        claimed = conn.execute(
            _CLAIM, {"b_cfg": config_id, "b_ch": channel, "b_cutoff": cutoff, "b_now": now}
        ).first()
        if claimed is not None:
            _announce(session, failing, by_key[(config_id, channel)], claimed[0], claimed[1], now)
    return failing


def _announce(
    session: Session, failing: Failing, f: Finished, failures: int, error: str | None, now: datetime
) -> None:
    context = {"config_id": f.config_id, "channel": f.channel, "failures": failures,
               "last_error": error or "", "config_name": f.config_name}  # fmt: skip
    event_id = str(uuid.uuid5(_EVENT_NS, f"{f.config_id}:{f.channel}:{now.isoformat()}"))
    title = f"Deliveries to {f.config_name[:120]} ({f.channel}) are failing"
    message = f"{failures} deliveries in a row failed. Last error: {error or 'none recorded'}"
    tenant_id = session.scalar(select(AlertConfig.tenant_id).where(AlertConfig.id == f.config_id))
    if tenant_id is None:
        return  # the config was deleted meanwhile: nobody to tell
    routed = session.scalar(
        select(func.count())
        .select_from(AlertConfig)
        .where(
            AlertConfig.tenant_id == tenant_id,
            AlertConfig.alert_type == ALERT_TYPE,
            AlertConfig.is_active.is_(True),
        )
    )
    log.warning("destination config %s %s: %d failed deliveries in a row; delivery_failing %s",
                f.config_id, f.channel, failures, "routed" if routed else "in-app")  # fmt: skip
    if routed:
        failing.events.append({
            "event_id": event_id, "tenant_id": f.tenant_slug, "alert_type": ALERT_TYPE,
            "title": title, "message": message[:4000], "context": context,
            "occurred_at": now.isoformat(),
        })  # fmt: skip
        failing.claims.append((f.config_id, f.channel, now))
        return
    severity = ALERT_TYPES[ALERT_TYPE]
    notification = AlertNotification(
        tenant_id=tenant_id, config_id=None, event_id=event_id, alert_type=ALERT_TYPE,
        severity=severity, title=title, message=message[:4000], context=context,
        fingerprint=fingerprint(ALERT_TYPE, GROUP_BY, context), occurred_at=now,
        last_occurred_at=now, triggered_at=now,
    )  # fmt: skip
    session.add(notification)
    session.flush()
    session.add(NotificationDelivery(
        notification_id=notification.id, tenant_id=tenant_id, channel="in_app",
        status="delivered", attempts=1, delivered_at=now,
    ))  # fmt: skip
    trail = Trail()  # §17: why it notified without a config
    trail.event(tenant_id, {"event_id": event_id, "alert_type": ALERT_TYPE, "title": title})
    trail.add(event_id, entry(None, "notified", _IN_APP, notification_id=notification.id))
    trail.write(session.connection(), now)
    failing.notifications.append({
        "id": notification.id, "tenant_id": tenant_id, "config_id": None,
        "alert_type": ALERT_TYPE, "severity": severity, "title": title,
        "occurrence_count": 1, "triggered_at": now.isoformat(), "is_test": False,
    })  # fmt: skip


_IN_APP = "notified in-app: the tenant has no active delivery_failing config (SPEC §18)"


def after_commit(
    settings: Settings,
    session_factory: sessionmaker,
    redis: Any,
    failing: Failing,
    publish: Callable[[list[dict[str, Any]]], None] | None,
) -> None:
    """Publish the events (``publish``: to alerts.events) and push in-app ones to the stream."""
    if failing.notifications:
        stream.publish_notifications(redis, settings, failing.notifications)
    if not failing.events:
        return
    try:
        if publish is None:
            raise RuntimeError("no publisher for delivery_failing events")
        publish(failing.events)
    except Exception as exc:
        log.error("could not publish %d delivery_failing event(s), claims released: %s",
                  len(failing.events), exc)  # fmt: skip
        release(session_factory, failing.claims)


def release(session_factory: sessionmaker, claims: list[tuple[int, str, datetime]]) -> None:
    """Give claims back (their event was not published): the next failure claims again."""
    with session_factory() as session:
        session.execute(
            update(H)
            .where(
                tuple_(H.c.config_id, H.c.channel, H.c.last_alerted_at).in_(
                    bindparam("claims", expanding=True)
                )
            )
            .values(last_alerted_at=None),
            {"claims": claims},
        )
        session.commit()
