"""The pipeline's last step, in its transaction: a batch's throttle decisions become rows.

Postgres first reviews what Redis allowed (``throttle_pg``: row locks, last sends). Allowed
groups become notifications (``ON CONFLICT DO NOTHING`` on (config, event_id)) with
one delivery row per destination (in-app delivered at once; email one per recipient);
suppressed groups are folded into the latest notification of their fingerprint when the
config groups similar alerts; the ``alert_throttles`` summary counts every event once. What
became of each decision Redis allowed is left on ``result.settlements`` for after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alertworker.core import metrics, statements
from alertworker.delivery.deliveries import Pending
from alertworker.ingest import throttle_pg
from alertworker.ingest.config_cache import ConfigView
from alertworker.ingest.throttle import Decision, Request, Settlement
from alertworker.paging import escalation


@dataclass
class Group:
    """Events that share one throttle decision; the first one decides and names the notification."""

    config: ConfigView
    fingerprint: str
    events: list[dict[str, Any]]

    def request(self) -> Request:
        return Request(
            config_id=self.config.id,
            fingerprint=self.fingerprint,
            token=self.events[0]["event_id"],
            count=len(self.events),
            cooldown_ms=self.config.cooldown_minutes * 60_000,
            max_per_hour=self.config.max_alerts_per_hour,
        )


def record(
    conn: Any,
    sql: Any,
    groups: list[Group],
    decisions: list[Decision],
    now: datetime,
    lease_seconds: int,
    result: Any,
) -> list[dict[str, Any]]:
    """Write a batch's decisions in the caller's transaction (outcomes and deliveries go on
    ``result``); returns the summaries of the new notifications for the live stream."""
    throttled = [(g, d) for g, d in zip(groups, decisions, strict=True) if d.reason != "test"]
    sent_in_hour = throttle_pg.sent_in_last_hour(conn, sql, throttled, now)
    known = throttle_pg.lock(conn, sql, throttled, result.silenced, now)
    overruled = throttle_pg.review(conn, sql, throttled, known, sent_in_hour, now)
    final = [(g, overruled.get(id(g), d)) for g, d in zip(groups, decisions, strict=True)]
    notify = [(g, d) for g, d in final if d.allowed]
    suppressed = [(g, d) for g, d in final if not d.allowed]
    for _, d in suppressed:
        result.outcomes[f"throttled_{d.reason}"] += 1
    metrics.THROTTLE_FAIL_OPEN.inc(sum(d.reason == "fail_open" for _, d in notify))

    lease = now + timedelta(seconds=lease_seconds)
    created, deliveries = _insert_notifications(conn, sql, notify, now, lease)
    result.trail.decided(final, {id(g): nid for g, nid in created})
    summaries = []
    for g, notification_id in created:
        lead = g.events[0]
        summaries.append(
            {
                "id": notification_id,
                "tenant_id": g.config.tenant_id,
                "config_id": g.config.id,
                "alert_type": lead["alert_type"],
                "severity": g.config.severity,
                "title": lead["title"],
                "occurrence_count": len(g.events),
                "triggered_at": now.isoformat(),
                "is_test": lead["is_test"],
            }
        )
    result.outcomes["notified"] += len(created)
    result.outcomes["duplicate"] += len(notify) - len(created)
    result.deliveries = deliveries

    _fold(conn, sql, [g for g, _ in suppressed if g.config.group_similar])
    sent = {id(g) for g, _ in created}
    result.settlements = _summarise(conn, sql, throttled, overruled, known, sent, now)
    return summaries


def _insert_notifications(
    conn: Any, sql: Any, notify: throttle_pg.Throttled, now: datetime, lease: datetime
) -> tuple[list[tuple[Group, int]], list[Pending]]:
    """Insert the notifications (a duplicate (config, event_id) is skipped) and one delivery
    row per destination of each (in-app delivered at once); returns the ``(group, id)`` of
    each notification inserted and the external deliveries to enqueue."""
    if not notify:
        return [], []
    rows = []
    for g, d in sorted(notify, key=lambda gd: (gd[0].config.id, gd[0].events[0]["event_id"])):
        lead = g.events[0]
        rows.append(
            {
                "tenant_id": g.config.tenant_id,
                "config_id": g.config.id,
                "event_id": lead["event_id"],
                "alert_type": lead["alert_type"],
                "severity": g.config.severity,
                "source_severity": lead["severity"],
                "title": lead["title"],
                "message": lead["message"],
                "context": lead["context"],
                "fingerprint": g.fingerprint,
                "occurrence_count": len(g.events),
                "suppressed_since_last": d.suppressed_since_last,
                "is_test": lead["is_test"],
                "occurred_at": lead["occurred_at"],
                "last_occurred_at": max(e["occurred_at"] for e in g.events),
                "triggered_at": now,
                **escalation.start(
                    g.config.escalation_policy_id, g.config.escalation_delay, lead["is_test"], now
                ),
            }
        )
    by_key = {(g.config.id, g.events[0]["event_id"]): g for g, _ in notify}
    configs = {g.config.id: g.config for g, _ in notify}
    if sql.bulk:  # Postgres: the notifications and their delivery rows in one statement
        destinations = [
            {"config_id": cfg, "position": i, "channel": channel, "recipient": recipient,
             **_delivery_state(channel, now, lease)}
            for cfg, config in configs.items()
            for i, (channel, recipient) in enumerate(_destinations(config))
        ]  # fmt: skip
        lines = sql.many(
            conn, sql.notify, rows, destinations=statements.as_json(destinations), now=now
        )
        created: dict[int, Group] = {}
        deliveries = []
        for nid, cfg, event_id, delivery_id, channel in lines:
            created.setdefault(nid, by_key[(cfg, event_id)])
            if delivery_id is not None and channel != "in_app":
                deliveries.append(Pending(channel, cfg, delivery_id))
        return [(g, nid) for nid, g in created.items()], deliveries
    ids = conn.execute(sql.insert_notifications, rows).all()
    inserted = [(by_key[(cfg, event_id)], nid) for nid, cfg, event_id in ids]
    delivery_rows = [
        {"notification_id": nid, "tenant_id": g.config.tenant_id, "channel": channel,
         "recipient": recipient, **_delivery_state(channel, now, lease)}
        for g, nid in inserted
        for channel, recipient in _destinations(g.config)
    ]  # fmt: skip
    if not delivery_rows:
        return inserted, []
    config_of = {nid: g.config.id for g, nid in inserted}
    lines = conn.execute(sql.insert_deliveries, delivery_rows)
    return inserted, [Pending(ch, config_of[nid], did) for did, ch, nid in lines if ch != "in_app"]


def _delivery_state(channel: str, now: datetime, lease: datetime) -> dict[str, Any]:
    """A new delivery row's state: in-app is delivered by being written; the others are
    pending, leased until the sweeper may enqueue them again."""
    if channel == "in_app":
        return {"status": "delivered", "attempts": 1, "delivered_at": now,
                "lease_expires_at": None}  # fmt: skip
    return {"status": "pending", "attempts": 0, "delivered_at": None, "lease_expires_at": lease}


def _fold(conn: Any, sql: Any, groups: list[Group]) -> None:
    """Fold suppressed events into the latest notification of their fingerprint."""
    if not groups:
        return
    params = sorted(
        (
            {
                "b_cfg": g.config.id,
                "b_fp": g.fingerprint,
                "b_n": len(g.events),
                "b_t": max(e["occurred_at"] for e in g.events),
            }
            for g in groups
        ),
        key=lambda p: (p["b_cfg"], p["b_fp"]),
    )
    sql.many(conn, sql.fold, params)


def _summarise(
    conn: Any,
    sql: Any,
    throttled: throttle_pg.Throttled,
    overruled: dict[int, Decision],
    known: dict[throttle_pg.Key, datetime | None],
    sent: set[int],
    now: datetime,
) -> list[Settlement]:
    """Count what Redis allowed in its (locked) summary row: sent, or suppressed by Postgres
    after all, or a duplicate (nothing); returns the settlements Redis gets after the commit."""
    rows, settlements = [], []
    now_ms = _ms(now)
    for g, d in throttled:
        if not d.allowed:
            continue  # counted by throttle_pg.lock
        request, n = g.request(), len(g.events)
        if id(g) in sent:  # on Postgres counted by ``sql.notify`` already
            row = None if sql.bulk else {"b_sent": 1, "b_supp": n - 1, "b_last": now}
            settlement = Settlement(request, sent_ms=now_ms, folded=d.suppressed_since_last)
        elif id(g) in overruled:
            row = {"b_sent": 0, "b_supp": n, "b_last": None}
            last = known.get((g.config.id, g.fingerprint))
            held = _ms(last) if overruled[id(g)].reason == "cooldown" and last else 0
            settlement = Settlement(request, suppressed=n, held_since_ms=held)
        else:  # a duplicate: its notification exists and was counted
            row, settlement = None, Settlement(request)
        if row:
            rows.append({"b_cfg": g.config.id, "b_fp": g.fingerprint, "b_now": now, **row})
        if d.reason != "fail_open":  # Redis holds it provisionally
            settlements.append(settlement)
    if rows:
        sql.many(conn, sql.resummarise, rows)
    return settlements


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _destinations(config: ConfigView) -> list[tuple[str, str]]:
    """(channel, recipient) of each delivery row: email has one per recipient (each user's
    preferences decide their own copy, SPEC §8), duplicates by case dropped, sms one per
    number (§15); others one."""
    rows = []
    for channel in config.channels:
        listed = {"email": config.email_recipients, "sms": config.sms_numbers}.get(channel)
        if not listed:
            rows.append((channel, ""))
            continue
        seen: set[str] = set()
        for address in listed:
            if address.lower() not in seen:
                seen.add(address.lower())
                rows.append((channel, address))
    return rows
