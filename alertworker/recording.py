"""The pipeline's last step, in its transaction: a batch's throttle decisions become rows.

Allowed groups become notifications (``ON CONFLICT DO NOTHING`` on (config, event_id)) with
one delivery row per destination (in-app delivered at once; email one per recipient);
suppressed groups are folded into the latest notification of their fingerprint when the
config groups similar alerts; the ``alert_throttles`` summary counts every event once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alertworker import escalation, metrics
from alertworker.config_cache import ConfigView
from alertworker.deliveries import Pending
from alertworker.throttle import Decision


@dataclass
class Group:
    """Events that share one throttle decision; the first one decides and names the notification."""

    config: ConfigView
    fingerprint: str
    events: list[dict[str, Any]]


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
    notify = [(g, d) for g, d in zip(groups, decisions, strict=True) if d.allowed]
    suppressed = [(g, d) for g, d in zip(groups, decisions, strict=True) if not d.allowed]
    for _, d in suppressed:
        result.outcomes[f"throttled_{d.reason}"] += 1
    metrics.THROTTLE_FAIL_OPEN.inc(sum(d.reason == "fail_open" for _, d in notify))

    created = _insert_notifications(conn, sql, notify, now)
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
    _summarise(conn, sql, [g for g, _ in created], suppressed, now)
    return summaries


def _insert_notifications(conn, sql, notify, now: datetime) -> list[tuple[Group, int]]:
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


def _fold(conn, sql, groups: list[Group]) -> None:
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


def _summarise(conn, sql, created: list[Group], suppressed, now: datetime) -> None:
    """Upsert the durable per-(config, fingerprint) throttle summary."""
    totals: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for g in created:
        if not g.events[0]["is_test"]:
            totals[(g.config.id, g.fingerprint)][0] += 1
            totals[(g.config.id, g.fingerprint)][1] += len(g.events) - 1
    for g, _ in suppressed:
        totals[(g.config.id, g.fingerprint)][1] += len(g.events)
    if not totals:
        return
    rows = [
        {
            "config_id": cfg,
            "fingerprint": fp,
            "sent_count": sent,
            "suppressed_count": supp,
            "last_sent_at": now if sent else None,
            "updated_at": now,
        }
        for (cfg, fp), (sent, supp) in sorted(totals.items())
    ]
    conn.execute(sql.summarise, rows)


def _destinations(config: ConfigView) -> list[tuple[str, str]]:
    """(channel, recipient) of each delivery row: email has one per recipient (each user's
    preferences decide their own copy, SPEC §8), duplicates by case dropped; others one."""
    rows = []
    for channel in config.channels:
        if channel != "email" or not config.email_recipients:
            rows.append((channel, ""))
            continue
        seen: set[str] = set()
        for address in config.email_recipients:
            if address.lower() not in seen:
                seen.add(address.lower())
                rows.append((channel, address))
    return rows
