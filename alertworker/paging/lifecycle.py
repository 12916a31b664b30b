"""The alert lifecycle (SPEC §13): firing -> acknowledged -> resolved, and what a resolve does.

A notification is resolved by a resolve event, a recovery pair, a user or a timeout; each way
ends in :func:`claim`, a conditional ``UPDATE … WHERE state != 'resolved' RETURNING``: the one
transaction that changes the row owns the resolve, so its effects happen exactly once however
often the resolving event is processed. In that transaction the escalation (SPEC §14) stops
and :func:`follow_up` adds one ``kind: resolve`` delivery per external delivery that carried
the firing notification (when the config has ``notify_on_resolve``); after the commit,
:func:`after_commit` clears the cooldown the resolved notification still holds and publishes
``notification.resolved``.

A trigger racing a resolve is kept safe by :func:`reopen`: a trigger suppressed by the
cooldown of an alert that is resolved by the time it is recorded is decided again (its
cooldown cleared, the hourly cap applied), so it never folds into a closed alert unnotified;
``statements.fold`` folds only into open notifications.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, or_, select, tuple_, update

from alertworker.core import metrics, statements
from alertworker.core.catalog import RECOVERY_PAIRS
from alertworker.core.models import (
    AlertConfig,
    AlertNotification,
    AlertThrottle,
    NotificationDelivery,
)
from alertworker.core.settings import Settings
from alertworker.delivery import stream
from alertworker.delivery.deliveries import Pending
from alertworker.ingest import throttle_pg
from alertworker.ingest.config_cache import ConfigView
from alertworker.ingest.throttle import Decision, Throttle, fingerprint
from alertworker.ingest.trail import Trail, entry
from alertworker.paging import escalation

log = logging.getLogger(__name__)

N = AlertNotification.__table__
D = NotificationDelivery.__table__
C = AlertConfig.__table__
T = AlertThrottle.__table__
CARRIED = ("pending", "sending", "delivered", "deferred")  # sent, or still on its way
_ESCALATED_PAGE = and_(D.c.kind == escalation.KIND, D.c.channel == "pagerduty")


@dataclass(frozen=True)
class Resolved:
    id: int
    tenant_id: int
    config_id: int | None
    fingerprint: str
    event_id: str  # the notification's own event: the holder of its cooldown
    title: str
    alert_type: str
    severity: str
    resolved_at: datetime
    reason: str

    def summary(self) -> dict[str, Any]:
        """What the live stream carries for it."""
        return {
            "id": self.id, "tenant_id": self.tenant_id, "config_id": self.config_id,
            "alert_type": self.alert_type, "severity": self.severity, "title": self.title,
            "state": "resolved", "resolved_at": self.resolved_at.isoformat(),
            "resolve_reason": self.reason,
        }  # fmt: skip


def claim(
    conn: Any, where: Any, reason: str, now: datetime, *, event_id: str | None = None,
    user_id: int | None = None, locked: bool = False,
) -> list[Resolved]:  # fmt: skip
    """Resolve the open notifications ``where`` selects; the ones this call resolved. Their
    alerts' summary rows are locked first, the order every batch takes them in (``locked``:
    the caller has locked them already, as the pipeline does)."""
    pairs = [] if locked else conn.execute(
        select(N.c.config_id, N.c.fingerprint)
        .where(where, N.c.state != "resolved", N.c.config_id.is_not(None))
        .distinct()
    ).all()  # fmt: skip
    if pairs:
        conn.execute(
            select(T.c.config_id)
            .where(tuple_(T.c.config_id, T.c.fingerprint).in_(sorted(map(tuple, pairs))))
            .order_by(T.c.config_id, T.c.fingerprint)
            .with_for_update()
        )
    rows = conn.execute(
        update(N)
        .where(where, N.c.state != "resolved")
        .values(
            state="resolved",
            resolved_at=now,
            resolve_reason=reason,
            resolved_by_event_id=event_id,
            resolved_by=user_id,
        )  # fmt: skip
        .returning(
            N.c.id,
            N.c.tenant_id,
            N.c.config_id,
            N.c.fingerprint,
            N.c.event_id,
            N.c.title,
            N.c.alert_type,
            N.c.severity,
        )  # fmt: skip
    ).all()
    metrics.RESOLVES.labels(reason=reason).inc(len(rows))
    resolved = [Resolved(**row._asdict(), resolved_at=now, reason=reason) for row in rows]
    escalation.stop(conn, [r.id for r in resolved])  # no step runs after a resolve (SPEC §14)
    _forget_last_sends(conn, resolved)
    return resolved


def _forget_last_sends(conn: Any, resolved: Sequence[Resolved]) -> None:
    """Clear ``alert_throttles.last_sent_at`` of the alerts left with nothing open, so that
    Postgres's review of the throttle (``throttle_pg``) lets the next trigger through too."""
    pairs = sorted({(r.config_id, r.fingerprint) for r in resolved if r.config_id is not None})
    if not pairs:
        return
    still_open = (
        select(N.c.id)
        .where(
            N.c.config_id == T.c.config_id,
            N.c.fingerprint == T.c.fingerprint,
            N.c.state != "resolved",
        )
        .exists()
    )
    conn.execute(
        update(T)
        .where(tuple_(T.c.config_id, T.c.fingerprint).in_(pairs), ~still_open)
        .values(last_sent_at=None)
    )


def follow_up(
    conn: Any, notification_ids: Sequence[int], kind: str, now: datetime, lease_seconds: int,
    channels: Sequence[str] | None = None,
) -> list[Pending]:  # fmt: skip
    """One delivery of ``kind`` for each external trigger delivery that carried these
    notifications (``resolve``: only for configs with ``notify_on_resolve``), and for each
    PagerDuty incident an escalation step opened (on the step target's routing key, once
    however many steps paged it): PagerDuty keeps paging an incident nobody closes."""
    if not notification_ids:
        return []
    query = (
        select(
            D.c.notification_id,
            D.c.tenant_id,
            D.c.channel,
            D.c.recipient,
            N.c.config_id,
            D.c.escalation_target,
        )
        .join(N, N.c.id == D.c.notification_id)
        .join(C, C.c.id == N.c.config_id)
        .where(
            D.c.notification_id.in_(list(notification_ids)),
            or_(D.c.kind == "trigger", _ESCALATED_PAGE),
            D.c.channel != "in_app",
            D.c.status.in_(CARRIED),
        )
        .order_by(D.c.id)
    )
    if kind == "resolve":
        query = query.where(C.c.notify_on_resolve)
    if channels is not None:
        query = query.where(D.c.channel.in_(list(channels)))
    rows = conn.execute(query).all()
    if not rows:
        return []
    once = {(r[0], r[2], r[3], json.dumps(r[5], sort_keys=True)): r for r in rows}
    rows = list(once.values())
    lease = now + timedelta(seconds=lease_seconds)
    config_of = {nid: cfg for nid, _, _, _, cfg, _ in rows}
    inserted = conn.execute(
        D.insert().returning(D.c.id, D.c.channel, D.c.notification_id),
        [
            {
                "notification_id": nid,
                "tenant_id": tenant_id,
                "channel": channel,
                "recipient": recipient,
                "kind": kind,
                "status": "pending",
                "attempts": 0,
                "lease_expires_at": lease,
                "created_at": now,
                "updated_at": now,
                "escalation_target": target,  # the step's channel config, for its own ones
            }  # fmt: skip
            for nid, tenant_id, channel, recipient, _, target in rows
        ],
    ).all()
    return [Pending(channel, config_of[nid], did) for did, channel, nid in inserted]


def after_commit(redis: Any, settings: Settings, resolved: Sequence[Resolved]) -> None:
    """The effects outside the database: clear the cooldowns the resolved notifications hold
    (so the next trigger notifies at once) and publish ``notification.resolved``."""
    if not resolved:
        return
    Throttle(redis, settings.redis_key_prefix).clear_cooldown(
        [(r.config_id, r.fingerprint, r.event_id) for r in resolved if r.config_id is not None]
    )
    stream.publish(redis, settings, "notification.resolved", [r.summary() for r in resolved])


# --- resolving by event and by recovery pair (in the pipeline's transaction) ------------------


class Closing(NamedTuple):
    """What one resolve event, or recovery event of a pair, closes."""

    event: dict[str, Any]
    alert_type: str
    reason: str  # "event" | "recovery_pair"
    tenant_id: int
    pairs: list[tuple[int, str]]  # (config, fingerprint) of the tenant's configs of the type


def closings(
    events: Sequence[dict[str, Any]], tenants: dict[str, tuple[int, int]],
    configs: dict[int, dict[str, list[ConfigView]]],
) -> list[Closing]:  # fmt: skip
    """The batch's resolve and recovery events, each with the alerts it may close: their
    fingerprints with each config's group_by over the event's context. The pipeline locks
    their summary rows first (``throttle_pg.lock_first``), then runs :func:`resolve_events`."""
    out = []
    for e in events:
        if e["action"] == "resolve":
            alert_type, reason = e["alert_type"], "event"
        elif e["alert_type"] in RECOVERY_PAIRS:
            alert_type, reason = RECOVERY_PAIRS[e["alert_type"]], "recovery_pair"
        else:
            continue
        tenant_id = tenants[e["tenant_id"]][0]
        pairs = [
            (c.id, fingerprint(c.alert_type, c.group_by, e["context"]))
            for c in configs[tenant_id].get(alert_type, ())
        ]
        out.append(Closing(e, alert_type, reason, tenant_id, pairs))
    return out


def resolve_events(
    conn: Any, closing: Sequence[Closing], now: datetime, lease_seconds: int, outcomes: Any,
    trail: Trail,
) -> tuple[list[Resolved], list[Pending]]:  # fmt: skip
    """Resolve the open notifications each of :func:`closings` names, their summary rows
    locked by the caller; returns what was resolved and the resolve deliveries."""
    resolved: list[Resolved] = []
    for e, alert_type, reason, tenant_id, pairs in closing:
        where = and_(N.c.tenant_id == tenant_id, tuple_(N.c.config_id, N.c.fingerprint).in_(pairs))
        closed = (
            claim(conn, where, reason, now, event_id=e["event_id"], locked=True) if pairs else []
        )
        resolved += closed
        outcomes["resolved"] += len(closed)
        by_config: dict[int | None, list[int]] = {}
        for r in closed:
            by_config.setdefault(r.config_id, []).append(r.id)
        for config_id, ids in by_config.items():
            why = "a resolve event" if reason == "event" else f"the recovery event of {alert_type}"
            trail.add(e["event_id"], entry(config_id, "resolved", f"resolved by {why}",
                                           notification_ids=tuple(ids)))  # fmt: skip
        if not closed and reason == "event":
            outcomes["nothing_to_resolve"] += 1
            trail.add(e["event_id"], entry(None, "nothing_to_resolve", _NOTHING))
            event_id = e["event_id"]
            log.info("event %s: nothing to resolve", event_id, extra={"event_id": event_id})
    pending = follow_up(conn, [r.id for r in resolved], "resolve", now, lease_seconds)
    return resolved, pending


_NOTHING = "no open alert of this type with this event's fingerprint"


def reopen(
    conn: Any, groups: Sequence[Any], decisions: list[Decision], throttle: Throttle,
    decide: Callable[[list[Any]], list[Decision]], now: datetime,
) -> list[Decision]:  # fmt: skip
    """Decide again the groups suppressed by the cooldown of an alert whose latest notification
    is resolved (a resolve that raced them): the stale cooldown is cleared first.

    The latest notifications are locked (``FOR UPDATE``) until the batch commits, so a resolve
    either finished before (seen here) or waits for the batch's fold to land in the open alert.
    The batch's summary rows are locked before them, as every batch takes its locks
    (``throttle_pg.lock_first``).
    """
    held = [g for g, d in zip(groups, decisions, strict=True) if d.reason == "cooldown"]
    if not held:
        return decisions
    sql = statements.for_dialect(conn.dialect.name)  # built once: ~1 ms a batch
    throttled = zip(groups, decisions, strict=True)
    throttle_pg.lock_first(
        conn, sql, {(g.config.id, g.fingerprint) for g, d in throttled if d.reason != "test"}, now
    )
    pairs = list({(g.config.id, g.fingerprint) for g in held})
    rows = conn.execute(sql.latest, {"pairs": pairs}).all()
    stale = {(cfg, fp): event_id for cfg, fp, event_id, state in rows if state == "resolved"}
    if not stale:
        return decisions
    throttle.clear_cooldown([(cfg, fp, event_id) for (cfg, fp), event_id in stale.items()])
    again = [g for g in held if (g.config.id, g.fingerprint) in stale]
    fresh = dict(zip(map(id, again), decide(again), strict=True))
    out = []
    for g, d in zip(groups, decisions, strict=True):
        new = fresh.get(id(g), d)
        if new is not d and new.allowed:  # its own events were counted as suppressed first
            new = Decision(True, new.reason, max(0, new.suppressed_since_last - len(g.events)))
        out.append(new)
    return out


# --- resolving by timeout (beat) ------------------------------------------------------------


def resolve_timed_out(
    settings: Settings, session_factory: Any, redis: Any, now: datetime | None = None
) -> tuple[list[Resolved], list[Pending]]:
    """Resolve (reason ``timeout``) every open notification of a config with
    ``auto_resolve_minutes`` whose ``last_occurred_at`` is older than that; any number of
    beats and workers resolve each once. Returns what was resolved and the deliveries made."""
    now = now or datetime.now(UTC)
    resolved: list[Resolved] = []
    with session_factory() as session:
        conn = session.connection()
        timed = conn.execute(
            select(C.c.id, C.c.auto_resolve_minutes).where(C.c.auto_resolve_minutes > 0)
        ).all()
        for config_id, minutes in timed:
            cutoff = now - timedelta(minutes=minutes)
            where = and_(N.c.config_id == config_id, N.c.last_occurred_at < cutoff)
            resolved += claim(conn, where, "timeout", now)
        ids = [r.id for r in resolved]
        pending = follow_up(conn, ids, "resolve", now, settings.delivery_lease_seconds)
        session.commit()
    after_commit(redis, settings, resolved)
    return resolved, pending
