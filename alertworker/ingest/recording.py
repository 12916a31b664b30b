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

from alertworker.core import metrics
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

    created = _insert_notifications(conn, sql, notify, now)
    result.trail.decided(final, {id(g): nid for g, nid in created})
    summaries = []
    delivery_rows = []
    lease = now + timedelta(seconds=lease_seconds)
    for g, notification_id in created:
        for channel, recipient in _destinations(g.config):
            in_app = channel == "in_app"
            delivery_rows.append(
                {
                    "notification_id": notification_id,
                    "tenant_id": g.config.tenant_id,
                    "channel": channel,
                    "recipient": recipient,
                    "status": "delivered" if in_app else "pending",
                    "attempts": 1 if in_app else 0,
                    "delivered_at": now if in_app else None,
                    "lease_expires_at": None if in_app else lease,
                }
            )
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
    if delivery_rows:
        config_of = {nid: g.config.id for g, nid in created}
        inserted = conn.execute(sql.insert_deliveries, delivery_rows)
        result.deliveries = [
            Pending(ch, config_of[nid], did) for did, ch, nid in inserted if ch != "in_app"
        ]

    _fold(conn, sql, [g for g, _ in suppressed if g.config.group_similar])
    sent = {id(g) for g, _ in created}
    result.settlements = _summarise(conn, sql, throttled, overruled, known, sent, now)
    return summaries


def _insert_notifications(
    conn: Any, sql: Any, notify: throttle_pg.Throttled, now: datetime
) -> list[tuple[Group, int]]:
    if not notify:
        return []
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
    ids = {(c, e): i for i, c, e in conn.execute(sql.insert_notifications, rows)}
    by_key = {(g.config.id, g.events[0]["event_id"]): g for g, _ in notify}
    return [(by_key[key], nid) for key, nid in ids.items()]


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
    conn.execute(sql.fold, params)


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
        if id(g) in sent:
            row = {"b_sent": 1, "b_supp": n - 1, "b_last": now}
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
        conn.execute(sql.resummarise, rows)
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
