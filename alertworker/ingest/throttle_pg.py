"""Postgres's say in throttling (SPEC §5): the durable memory behind Redis's fast answer.

Redis decides first (:mod:`alertworker.ingest.throttle`); Postgres reviews only what Redis *allowed*
(the notify path), so a storm of suppressed events costs no extra statement. In the batch's
transaction, before any notification is written:

1. the ``alert_throttles`` row of every throttled (config, fingerprint) is upserted in key order
   (adding the counts of what Redis suppressed, and of what §16 silenced), which locks it
   until the commit, and returns its ``last_sent_at``. That row lock is the serialisation point
   of allowed decisions: two workers allowed the same alert (Redis away, or back empty) take
   turns, and the second sees the first's send;
2. an allowed decision whose alert Postgres saw sent within its cooldown is suppressed after all
   (``cooldown``), unless its own notification is that send (a replay: the unique key answers);
3. with Redis unreachable (``fail_open``), the hourly cap counts the configs' notifications of
   the last hour, the config rows locked (``FOR NO KEY UPDATE``) so that workers count in turn.

Throttling fails open only where neither Redis nor Postgres knows of a recent send. A resolve
that clears a cooldown (SPEC §13) must clear ``last_sent_at``'s say too.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from alertworker.core import metrics
from alertworker.ingest.throttle import Decision

if TYPE_CHECKING:
    from alertworker.ingest.recording import Group

Key = tuple[int, str]
Throttled = list[tuple["Group", Decision]]


def sent_in_last_hour(conn: Any, sql: Any, throttled: Throttled, now: datetime) -> Counter[int]:
    """With Redis away, lock the configs of its ``fail_open`` decisions and count their
    notifications of the last hour (call first: configs are locked before summaries)."""
    blind = sorted({g.config.id for g, d in throttled if d.reason == "fail_open"})
    if not blind:
        return Counter()
    conn.execute(sql.lock_configs, {"cfgs": blind})
    since = now - timedelta(hours=1)
    return Counter(dict(conn.execute(sql.sent_since, {"cfgs": blind, "since": since}).all()))


def lock(
    conn: Any, sql: Any, throttled: Throttled, silenced: Counter[Key], now: datetime
) -> dict[Key, datetime | None]:
    """Lock every throttled alert's summary row in key order, adding the events Redis
    suppressed and those ``silenced`` (§16: silenced or inhibited, which took no throttle
    decision); returns each row's ``last_sent_at``."""
    suppressed: Counter[Key] = Counter()
    for g, d in throttled:
        suppressed[(g.config.id, g.fingerprint)] += 0 if d.allowed else len(g.events)
    rows = [
        {"config_id": key[0], "fingerprint": key[1], "sent_count": 0,
         "suppressed_count": suppressed[key], "silenced_count": silenced[key],
         "last_sent_at": None, "updated_at": now}
        for key in sorted(suppressed.keys() | silenced.keys())
    ]  # fmt: skip
    if not rows:
        return {}
    return {(cfg, fp): last for cfg, fp, last in sql.many(conn, sql.summarise, rows)}


def lock_first(conn: Any, sql: Any, pairs: set[Key], now: datetime) -> None:
    """Lock (or insert) these alerts' summary rows in key order and change nothing: for a
    statement that must lock their notifications before :func:`lock` runs. Every batch then
    locks an alert's summary row before its notification, so batches that fold into the same
    alerts queue on the summary rows instead of deadlocking."""
    rows = [
        {"config_id": cfg, "fingerprint": fp, "sent_count": 0, "suppressed_count": 0,
         "silenced_count": 0, "last_sent_at": None, "updated_at": now}
        for cfg, fp in sorted(pairs)
    ]  # fmt: skip
    if rows:
        sql.many(conn, sql.summarise, rows)


def review(
    conn: Any,
    sql: Any,
    throttled: Throttled,
    known: dict[Key, datetime | None],
    sent_in_hour: Counter[int],
    now: datetime,
) -> dict[int, Decision]:
    """Postgres's verdict on the allowed decisions it overrules, by ``id(group)``."""
    overruled: dict[int, Decision] = {}
    for g, d in throttled:
        if not d.allowed:
            continue
        last = known.get((g.config.id, g.fingerprint))
        cooldown = timedelta(minutes=g.config.cooldown_minutes)
        if cooldown and last is not None and now - last < cooldown:
            overruled[id(g)] = Decision(False, "cooldown")
        elif d.reason == "fail_open":
            if sent_in_hour[g.config.id] >= g.config.max_alerts_per_hour:
                overruled[id(g)] = Decision(False, "hourly_cap")
            else:
                sent_in_hour[g.config.id] += 1
    if overruled:  # a replay whose own notification is the recent send stays a duplicate
        leads = {(g.config.id, g.events[0]["event_id"]): g for g, _ in throttled
                 if id(g) in overruled}  # fmt: skip
        for pair in conn.execute(sql.notified, {"pairs": list(leads)}):
            del overruled[id(leads[tuple(pair)])]
    for d in overruled.values():
        metrics.THROTTLE_POSTGRES.labels(reason=d.reason).inc()
    return overruled
