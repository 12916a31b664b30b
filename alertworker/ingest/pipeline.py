"""Event -> matching configs -> notifications and delivery rows: the one place it happens.

:meth:`Pipeline.process` takes a batch of raw events (whatever came off the broker) and:

1. validates each with ``EventSchema`` (on its fast path, ``schemas.fast_events``); a bad one
   becomes a ``rejected_events`` row;
2. resolves tenant slugs and reads their configs (cached per ``config_version``);
3. evaluates each (event, config)'s conditions;
4. for a replayed batch (redelivered or retried), skips (config, event_id) pairs already
   notified; otherwise the unique (config, event_id) keeps duplicates to one notification;
   then ``silencing`` takes out the events that a silence or an inhibition keeps quiet (§16);
5. coalesces events of the same (config, fingerprint) when the config has a cooldown, and asks
   Redis for every throttle decision in one round trip (test events bypass throttling); an
   allowed decision holds its alert only provisionally until step 7 confirms it;
6. in one transaction, ``recording.record`` has Postgres review what Redis allowed
   (``throttle_pg``) and writes the decisions: notifications, delivery rows, folds of
   suppressed events, the ``alert_throttles`` summary (silenced counts too); rejections too;
   and the trail (§17): every step above told the batch's ``Trail`` what it decided, per
   event and config, and it is written here with one statement;
7. after the commit, hands the new deliveries to ``on_commit`` (the worker enqueues them),
   then publishes the new notifications to the live stream and settles the provisional
   decisions in Redis, in one round trip.

A deadlock between concurrent batches is run again here as a replay; other database errors
propagate: the caller retries the whole batch, which is idempotent.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from alertworker.core import metrics, statements
from alertworker.core.db import utcnow
from alertworker.core.settings import Settings
from alertworker.delivery import stream
from alertworker.delivery.deliveries import Pending
from alertworker.ingest import recording, throttle_pg
from alertworker.ingest.conditions import evaluate
from alertworker.ingest.config_cache import ConfigCache, ConfigView
from alertworker.ingest.recording import Group
from alertworker.ingest.rejections import record_rejections, rejection
from alertworker.ingest.silencing import Quiet, Silencing
from alertworker.ingest.throttle import Decision, Settlement, Throttle, fingerprint
from alertworker.ingest.trail import DUPLICATE, Entry, Trail, entry
from alertworker.paging import lifecycle
from alertworker.schemas.fast_events import load_event

log = logging.getLogger(__name__)

LOCK_CONFLICT_TRIES = 5


@dataclass
class BatchResult:
    received: int = 0
    rejected: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    deliveries: list[Pending] = field(default_factory=list)  # to enqueue after the commit
    settlements: list[Settlement] = field(default_factory=list)  # to tell Redis after it
    quiet: list[Quiet] = field(default_factory=list)  # §16: silenced / inhibited, and by what
    silenced: Counter[tuple[int, str]] = field(default_factory=Counter)  # by (config, fp)
    trail: Trail = field(default_factory=Trail)  # §17: every outcome, by event


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
        self.throttle = Throttle(
            redis, settings.redis_key_prefix, int(settings.throttle_provisional_seconds * 1000)
        )
        self.configs = ConfigCache()
        self.silencing = Silencing()

    def process(
        self,
        raw_events: list[Any],
        *,
        replay: bool = False,
        on_commit: Callable[[list[Pending]], None] | None = None,
    ) -> BatchResult:
        """Process one batch (see :meth:`_process`). A transaction that Postgres aborts as a
        deadlock or serialization failure (concurrent batches locking the same alerts in
        another order) is run again at once as a replay, up to LOCK_CONFLICT_TRIES times."""
        metrics.EVENTS_RECEIVED.inc(len(raw_events))
        for attempt in range(1, LOCK_CONFLICT_TRIES + 1):
            try:
                return self._process(raw_events, replay=replay or attempt > 1, on_commit=on_commit)
            except OperationalError as exc:
                if attempt == LOCK_CONFLICT_TRIES or not _lock_conflict(exc):
                    raise
                log.info("batch hit a lock conflict (try %d), running it again: %s", attempt,
                         type(exc.orig).__name__)  # fmt: skip
        raise AssertionError("unreachable")

    def _process(
        self,
        raw_events: list[Any],
        *,
        replay: bool,
        on_commit: Callable[[list[Pending]], None] | None,
    ) -> BatchResult:
        """Process one batch. ``replay``: the batch may have been processed before (a
        redelivered or retried message): pairs already notified are then skipped before the
        throttle, so a late replay cannot take a cooldown or a place in the hourly window.
        ``on_commit`` gets the new deliveries right after the commit (the worker enqueues
        them there, first thing, for latency); they are also in the result."""
        result = BatchResult(received=len(raw_events), trail=Trail(self.settings.trail_enabled))
        now = self.clock()
        events, rejects, seen = [], [], set()
        invalid: list[tuple[dict[str, Any], Any]] = []  # (rejection row, raw): for the trail
        for raw in raw_events:
            if not isinstance(raw, dict):
                rejects.append(rejection(raw, "invalid: an event must be a JSON object"))
                continue
            try:
                event = load_event(raw)  # EventSchema's load, on its fast path
            except ValidationError as err:
                rejects.append(
                    rejection(raw, "invalid: " + json.dumps(err.messages, sort_keys=True))
                )
                invalid.append((rejects[-1], raw))
                continue
            if event["event_id"] not in seen:  # the same event twice in a batch counts once
                seen.add(event["event_id"])
                events.append(event)

        with self.session_factory() as session:
            sql = statements.for_dialect(session.get_bind().dialect.name)
            conn = session.connection()
            slugs = list(
                {e["tenant_id"] for e in events} | {r["tenant_slug"] for r, _ in invalid} - {None}
            )
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
            for e in events:
                result.trail.event(tenants[e["tenant_id"]][0], e)
            for row, raw in invalid:
                if row["tenant_slug"] in tenants:
                    result.trail.rejected(tenants[row["tenant_slug"]][0], row, raw)
            configs = self.configs.get(session, dict(tenants.values()))
            lease = self.settings.delivery_lease_seconds
            triggers = [e for e in events if e["action"] == "trigger"]
            groups = self._match(conn, sql, triggers, tenants, configs, result, replay)
            # One lock order (throttle_pg.lock_first): a batch that resolves locks the summary
            # row of every alert it touches first, in key order, before any notification.
            closings = lifecycle.closings(events, tenants, configs)
            if closings:
                live = {(g.config.id, g.fingerprint) for g in groups if not g.events[0]["is_test"]}
                closed = {pair for c in closings for pair in c.pairs}
                throttle_pg.lock_first(conn, sql, closed | live, now)
            # SPEC §13: resolves (and recovery pairs) before the triggers are silenced and decided
            resolved, closing = lifecycle.resolve_events(
                conn, closings, now, lease, result.outcomes, result.trail
            )
            # §16: silenced and inhibited events leave here, before the throttle
            groups = self.silencing.apply(session, groups, dict(tenants.values()), now, result)
            _trail_quiet(result)
            decisions = self._decide(groups, now)
            decisions = lifecycle.reopen(
                conn, groups, decisions, self.throttle, lambda again: self._decide(again, now), now
            )
            summaries = recording.record(conn, sql, groups, decisions, now, lease, result)
            result.deliveries += closing
            record_rejections(session, rejects)
            result.trail.write(conn, now)
            session.commit()
        if on_commit is not None and result.deliveries:
            on_commit(result.deliveries)
        # one round trip: the new notifications to the live stream, then the settlements
        pipe = self.redis.pipeline(transaction=False)
        stream.add(pipe, self.settings, "notification", summaries)
        self.throttle.settle(result.settlements, int(now.timestamp() * 1000), pipe)
        lifecycle.after_commit(self.redis, self.settings, resolved)

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

    def _match(
        self,
        conn: Any,
        sql: Any,
        events: list[dict[str, Any]],
        tenants: dict[str, Any],
        configs: dict[int, Any],
        result: BatchResult,
        replay: bool,
    ) -> list[Group]:
        outcomes, trail = result.outcomes, result.trail
        candidates: list[tuple[dict[str, Any], ConfigView]] = []
        for e in events:
            tenant_id = tenants[e["tenant_id"]][0]
            for config in configs[tenant_id].get(e["alert_type"], ()):
                if e["config_id"] is not None:
                    if config.id != e["config_id"]:
                        continue
                elif not config.is_active:
                    trail.add(e["event_id"], _inactive(config.id))
                    continue
                outcome = evaluate(config.alert_type, config.conditions, e["context"])
                if not outcome.met:
                    trail.add(e["event_id"], entry(config.id, outcome.kind, outcome.reason))
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
        groups: dict[Any, Group] = {}
        for e, config in candidates:
            if (config.id, e["event_id"]) in done:
                outcomes["duplicate"] += 1
                trail.add(e["event_id"], entry(config.id, "duplicate", DUPLICATE))
                continue
            fp = fingerprint(config.alert_type, config.group_by, e["context"])
            coalesce = config.cooldown_minutes > 0 and not e["is_test"]
            key = (config.id, fp) if coalesce else (config.id, fp, e["event_id"])
            if key in groups:
                groups[key].events.append(e)
            else:
                groups[key] = Group(config, fp, [e])
        return list(groups.values())

    def _decide(self, groups: list[Group], now: datetime) -> list[Decision]:
        throttled = [g for g in groups if not g.events[0]["is_test"]]
        asked = self.throttle.decide([g.request() for g in throttled], int(now.timestamp() * 1000))
        answers = dict(zip(map(id, throttled), asked, strict=True))
        return [answers.get(id(g), Decision(True, "test")) for g in groups]


def _inactive(config_id: int) -> Entry:
    return entry(config_id, "inactive", "the config is inactive (is_active false)")


def _trail_quiet(result: BatchResult) -> None:
    """The trail of the events that a silence or an inhibition kept quiet (§16)."""
    shared: dict[tuple[int, str, int], Entry] = {}
    for q in result.quiet:
        key = (q.config_id, q.outcome, q.by)
        if key not in shared:
            if q.outcome == "silenced":
                item = entry(q.config_id, q.outcome, f"silenced by silence {q.by}", silence_id=q.by)
            else:
                why = f"inhibited by open notification {q.by}"
                item = entry(q.config_id, q.outcome, why, notification_id=q.by)
            shared[key] = item
        result.trail.add(q.event_id, shared[key])


def _lock_conflict(exc: OperationalError) -> bool:
    return getattr(exc.orig, "pgcode", None) in ("40P01", "40001")  # deadlock, serialization


def _wire(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "occurred_at": event["occurred_at"].isoformat()}
