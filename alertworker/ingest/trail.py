"""The trail (SPEC §17), written: what became of each event of a batch, per config considered.

The pipeline tells a :class:`Trail` every decision as it takes it (the event's configs, their
conditions, the replay check, silences and inhibitions, the throttle, the notification, the
resolve) and :meth:`Trail.write` stores them in the batch's transaction with one ``INSERT`` (on
Postgres its rows travel as one JSON document, ``statements.many``).
An outcome is a tuple ``(config_id, outcome, reason, extras)``; the events of a coalesced
group share one, so events whose outcomes are equal (a storm of identical events) become one
``event_trail`` row holding all their ids. Per event the cost is a list append and a dict
look-up; the ids go in as one array per row.

What is known only later or elsewhere is read with the trail (``trail_query``): the
config's name, the deliveries of a notification and their preference decisions, the
notification a suppressed event was folded into and the throttle's ``until``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any, TypeGuard

from alertworker.core import metrics, statements

Entry = tuple[int | None, str, str, tuple[tuple[str, Any], ...]]


def entry(config_id: int | None, outcome: str, reason: str, **extras: Any) -> Entry:
    return (config_id, outcome, reason, tuple(extras.items()))


class Trail:
    """Collects one batch's outcomes, by event id."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._of: dict[str, list[Entry]] = {}
        self._meta: dict[str, tuple[int, str | None, str | None]] = {}

    def event(self, tenant_id: int, event: dict[str, Any]) -> None:
        """Start an event's trail (every processed event gets one)."""
        if self.enabled:
            self._of[event["event_id"]] = []
            self._meta[event["event_id"]] = (tenant_id, event["alert_type"], event.get("title"))

    def add(self, event_id: str, item: Entry) -> None:
        if self.enabled:
            self._of[event_id].append(item)

    def add_all(self, events: list[dict[str, Any]], item: Entry) -> None:
        """The same outcome for every event of a group (one tuple shared by all)."""
        if self.enabled:
            for e in events:
                self._of[e["event_id"]].append(item)

    def rejected(self, tenant_id: int, row: dict[str, Any], raw: Any) -> None:
        """An event rejected for its tenant (``row`` is its ``rejected_events`` row); kept only
        with an event id that can be looked up (a UUID) and not taken by a valid event."""
        event_id = row.get("event_id")
        if not self.enabled or not _is_uuid(event_id) or event_id in self._of:
            return
        raw = raw if isinstance(raw, dict) else {}
        alert_type, title = raw.get("alert_type"), raw.get("title")
        self._of[event_id] = [entry(None, "rejected", row["reason"])]
        self._meta[event_id] = (
            tenant_id,
            alert_type[:64] if isinstance(alert_type, str) else None,
            title[:200] if isinstance(title, str) else None,
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per set of events with the same tenant, type, title and outcomes (without
        ``received_at``, which ``write`` gives them all)."""
        same: dict[tuple, list[str]] = defaultdict(list)
        for event_id, items in self._of.items():
            if not items:
                items = [entry(None, "no_matching_config", _NO_CONFIG)]
            same[(self._meta[event_id], tuple(items))].append(event_id)
        rows = []
        for ((tenant_id, alert_type, title), items), ids in same.items():
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "event_id": ids[0],
                    "event_ids": ids,
                    "event_count": len(ids),
                    "alert_type": alert_type,
                    "title": title,
                    "kinds": " " + " ".join(sorted({i[1] for i in items})) + " ",
                    "outcomes": [
                        {"config_id": cfg, "outcome": outcome, "reason": reason, **dict(extras)}
                        for cfg, outcome, reason, extras in items
                    ],
                }
            )
        return rows

    def write(self, conn: Any, now: datetime) -> int:
        """Insert the batch's rows (one statement); returns how many."""
        rows = self.rows() if self.enabled else []
        if rows:
            sql = statements.for_dialect(conn.dialect.name)
            sql.many(conn, sql.trail, rows, received_at=now)
            metrics.TRAIL_ROWS.inc(len(rows))
            metrics.TRAIL_EVENTS.inc(len(self._of))
        return len(rows)

    def decided(self, final: list[tuple[Any, Any]], created: dict[int, int]) -> None:
        """The throttle's and the recording's verdict on each group: ``final`` its
        ``(group, decision)`` pairs, ``created`` the new notification's id by ``id(group)``."""
        if not self.enabled:
            return
        for g, d in final:
            cfg = g.config
            if d.allowed and id(g) in created:
                n = len(g.events)
                reason = _NOTIFIED.get(d.reason, "notified")
                if n > 1:
                    reason += f"; {n} identical events of the batch are in this notification"
                item = entry(cfg.id, "notified", reason, notification_id=created[id(g)])
            elif d.allowed:
                item = entry(cfg.id, "duplicate", DUPLICATE)
            elif d.reason == "cooldown":
                item = entry(
                    cfg.id, "cooldown",
                    f"the same alert was notified less than {cfg.cooldown_minutes} min ago "
                    "(cooldown_minutes)" + ("" if cfg.group_similar else "; counted only "
                                            "(group_similar is off)"),
                    fingerprint=g.fingerprint, cooldown_minutes=cfg.cooldown_minutes,
                )  # fmt: skip
            else:
                item = entry(
                    cfg.id, "hourly_cap",
                    f"the config sent its {cfg.max_alerts_per_hour} notifications of the last "
                    "hour (max_alerts_per_hour)",
                    cap=cfg.max_alerts_per_hour,
                )  # fmt: skip
            self.add_all(g.events, item)


_NO_CONFIG = "the tenant has no config of this alert type"
DUPLICATE = "this event already notified this config (a redelivered or retried batch)"
_NOTIFIED = {
    "test": "notified: a test alert (throttling bypassed)",
    "fail_open": "notified: Redis unreachable and no recent send known to Postgres (failed open)",
}


def _is_uuid(value: Any) -> TypeGuard[str]:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
