"""Event -> matching configs -> notifications and delivery rows: the one place it happens.

:meth:`Pipeline.process` takes a batch of raw events (whatever came off the broker) and:

1. validates each with ``EventSchema``; a bad one becomes a ``rejected_events`` row;
2. resolves tenant slugs and reads their configs (cached per ``config_version``);
3. evaluates each (event, config)'s conditions;
4. skips (config, event_id) pairs already notified (a redelivered batch);
5. coalesces events of the same (config, fingerprint) when the config has a cooldown, and asks
   Redis for every throttle decision in one round trip (test events bypass throttling);
6. in one transaction: inserts notifications (``ON CONFLICT DO NOTHING`` on (config, event_id))
   and their delivery rows (in-app delivered at once; email one per recipient), folds
   suppressed events into the latest notification of their fingerprint, upserts the
   ``alert_throttles`` summary;
7. after the commit, publishes the new notifications to the live stream and returns the
   delivery ids for the caller to enqueue (enqueue after commit).

Database errors propagate: the caller retries the whole batch, which is idempotent.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from alertworker import metrics, statements, stream
from alertworker.conditions import evaluate
from alertworker.config_cache import ConfigCache, ConfigView
from alertworker.db import utcnow
from alertworker.deliveries import Pending
from alertworker.models import (
    RejectedEvent,
)
from alertworker.schemas import EventSchema
from alertworker.settings import Settings
from alertworker.throttle import Decision, Request, Throttle, fingerprint

log = logging.getLogger(__name__)

MAX_STORED_PAYLOAD = 64 * 1024
_schema = EventSchema()


@dataclass
class BatchResult:
    received: int = 0
    rejected: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    deliveries: list[Pending] = field(default_factory=list)  # to enqueue after the commit
    notification_ids: list[int] = field(default_factory=list)


@dataclass
class _Group:
    """Events that share one throttle decision; the first one decides and names the notification."""

    config: ConfigView
    fingerprint: str
    events: list[dict[str, Any]]


def rejection(raw: Any, reason: str) -> dict[str, Any]:
    """A ``rejected_events`` row for ``raw`` (anything) rejected for ``reason``."""
    try:
        payload = raw if isinstance(raw, str) else json.dumps(raw, default=repr)
    except (TypeError, ValueError, RecursionError):
        payload = repr(raw)
    event = raw if isinstance(raw, dict) else {}
    slug, event_id = event.get("tenant_id"), event.get("event_id")
    return {
        "tenant_slug": _text(slug[:64]) if isinstance(slug, str) else None,
        "event_id": _text(event_id[:64]) if isinstance(event_id, str) else None,
        "reason": _text(reason[:2000]),
        "payload": _text(payload[:MAX_STORED_PAYLOAD]),
        "received_at": utcnow(),
    }


def _text(value: str) -> str:
    """Text that Postgres accepts: NUL characters escaped."""
    return value.replace("\x00", "\\x00")


def record_rejections(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(RejectedEvent.__table__.insert(), rows)
        for row in rows:
            metrics.EVENTS_REJECTED.labels(reason=row["reason"].split(":", 1)[0][:40]).inc()


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker,
        redis: Any,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.session_factory = session_factory
        self.redis = redis
        self.throttle = Throttle(redis, settings.redis_key_prefix)
        self.configs = ConfigCache()

    def process(
        self,
        raw_events: list[Any],
        *,
        replay: bool = False,
        on_commit: Callable[[list[Pending]], None] | None = None,
    ) -> BatchResult:
        """Process one batch. ``replay``: the batch may have been processed before (a
        redelivered or retried message): pairs already notified are then skipped before the
        throttle, so a late replay cannot take a cooldown or a place in the hourly window.
        ``on_commit`` gets the new deliveries right after the commit (the worker enqueues
        them there, first thing, for latency); they are also in the result."""
        result = BatchResult(received=len(raw_events))
        metrics.EVENTS_RECEIVED.inc(len(raw_events))
        events, rejects, seen = [], [], set()
        for raw in raw_events:
            if not isinstance(raw, dict):
                rejects.append(rejection(raw, "invalid: an event must be a JSON object"))
                continue
            try:
                event = _schema.load(raw)
            except ValidationError as err:
                rejects.append(
                    rejection(raw, "invalid: " + json.dumps(err.messages, sort_keys=True))
                )
                continue
            if event["event_id"] not in seen:  # the same event twice in a batch counts once
                seen.add(event["event_id"])
                events.append(event)

        with self.session_factory() as session:
            sql = statements.for_dialect(session.get_bind().dialect.name)
            conn = session.connection()
            slugs = list({e["tenant_id"] for e in events})
            tenants = {
                slug: (tid, version)
                for tid, slug, version in (
                    conn.execute(sql.tenants, {"slugs": slugs}) if slugs else ()
                )
            }
            for e in events:
                if e["tenant_id"] not in tenants:
                    rejects.append(rejection(_wire(e), f"unknown tenant: {e['tenant_id']!r}"))
            events = [e for e in events if e["tenant_id"] in tenants]
            configs = self.configs.get(session, dict(tenants.values()))

            groups = self._match(conn, sql, events, tenants, configs, result.outcomes, replay)
            decisions = self._decide(groups)
            summaries = self._write(conn, sql, groups, decisions, result)
            record_rejections(session, rejects)
            session.commit()
        if on_commit is not None and result.deliveries:
            on_commit(result.deliveries)
        if summaries:
            stream.publish_notifications(self.redis, self.settings, summaries)

        result.rejected = len(rejects)
        for outcome, n in result.outcomes.items():
            metrics.EVALUATIONS.labels(outcome=outcome).inc(n)
        ids = [e.get("event_id") for e in raw_events[:20] if isinstance(e, dict)]
        log.info(
            "batch: %d events, %d rejected, outcomes %s",
            result.received,
            result.rejected,
            dict(result.outcomes),
            extra={"event_id": ids[0]} if len(raw_events) == 1 and ids else {"event_ids": ids},
        )
        return result

    # -- steps ---------------------------------------------------------------------------------

    def _match(self, conn, sql, events, tenants, configs, outcomes, replay) -> list[_Group]:
        candidates: list[tuple[dict[str, Any], ConfigView]] = []
        for e in events:
            tenant_id = tenants[e["tenant_id"]][0]
            for config in configs[tenant_id].get(e["alert_type"], ()):
                if e["config_id"] is not None:
                    if config.id != e["config_id"]:
                        continue
                elif not config.is_active:
                    continue
                outcome = evaluate(config.alert_type, config.conditions, e["context"])
                if not outcome.met:
                    outcomes["condition_not_met"] += 1
                    log.debug(
                        "event %s config %s: not met: %s", e["event_id"], config.id, outcome.reason
                    )
                    continue
                outcomes["matched"] += 1
                candidates.append((e, config))

        done: set[tuple[int, str]] = set()
        if replay and candidates:
            pairs = list({(c.id, e["event_id"]) for e, c in candidates})
            done = {
                (cfg, event_id) for cfg, event_id in conn.execute(sql.notified, {"pairs": pairs})
            }
        groups: dict[Any, _Group] = {}
        for e, config in candidates:
            if (config.id, e["event_id"]) in done:
                outcomes["duplicate"] += 1
                continue
            fp = fingerprint(config.alert_type, config.group_by, e["context"])
            coalesce = config.cooldown_minutes > 0 and not e["is_test"]
            key = (config.id, fp) if coalesce else (config.id, fp, e["event_id"])
            if key in groups:
                groups[key].events.append(e)
            else:
                groups[key] = _Group(config, fp, [e])
        return list(groups.values())

    def _decide(self, groups: list[_Group]) -> list[Decision]:
        throttled = [g for g in groups if not g.events[0]["is_test"]]
        asked = self.throttle.decide(
            [
                Request(
                    config_id=g.config.id,
                    fingerprint=g.fingerprint,
                    token=g.events[0]["event_id"],
                    count=len(g.events),
                    cooldown_ms=g.config.cooldown_minutes * 60_000,
                    max_per_hour=g.config.max_alerts_per_hour,
                )
                for g in throttled
            ],
            int(self.clock().timestamp() * 1000),
        )
        answers = dict(zip(map(id, throttled), asked, strict=True))
        return [answers.get(id(g), Decision(True, "test")) for g in groups]

    def _write(self, conn, sql, groups, decisions, result: BatchResult) -> list[dict[str, Any]]:
        now = self.clock()
        notify = [(g, d) for g, d in zip(groups, decisions, strict=True) if d.allowed]
        suppressed = [(g, d) for g, d in zip(groups, decisions, strict=True) if not d.allowed]
        for _, d in suppressed:
            result.outcomes[f"throttled_{d.reason}"] += 1
        metrics.THROTTLE_FAIL_OPEN.inc(sum(d.reason == "fail_open" for _, d in notify))

        created = self._insert_notifications(conn, sql, notify, now)
        summaries = []
        delivery_rows = []
        lease = now + timedelta(seconds=self.settings.delivery_lease_seconds)
        for g, notification_id in created:
            result.notification_ids.append(notification_id)
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

        self._fold(conn, sql, [g for g, _ in suppressed if g.config.group_similar])
        self._summarise(conn, sql, [g for g, _ in created], suppressed, now)
        return summaries

    def _insert_notifications(self, conn, sql, notify, now: datetime) -> list[tuple[_Group, int]]:
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
                }
            )
        ids = {(c, e): i for i, c, e in conn.execute(sql.insert_notifications, rows)}
        by_key = {(g.config.id, g.events[0]["event_id"]): g for g, _ in notify}
        return [(by_key[key], nid) for key, nid in ids.items()]

    def _fold(self, conn, sql, groups: list[_Group]) -> None:
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

    def _summarise(self, conn, sql, created: list[_Group], suppressed, now: datetime) -> None:
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


def _wire(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "occurred_at": event["occurred_at"].isoformat()}
