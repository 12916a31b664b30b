"""The delivery row's lifecycle (SPEC §7): claim under a lease, send through its channel, record.

::

    pending --claim--> sending --ok--------> delivered
                               --permanent-> failed
                               --retryable-> pending, next_attempt_at = now + backoff
                                             (failed once DELIVERY_MAX_ATTEMPTS is reached)
                               --held------> skipped | digested | deferred (email to a user,
                                             by their preferences: ``recipients.hold``)
    deferred --next_attempt_at reached, sweeper--> pending

``lease_expires_at`` means two things by status: on a *sending* row it is the claimer's lease
(another claim waits for it to expire); on a *pending* row it is when the sweeper may enqueue
it again (set when it is enqueued). A retry due within ``retry.SHORT_RETRY_SECONDS`` is re-sent by
the caller with a countdown; a longer one is left to the sweeper (``due``), so no long ETA is
ever held in a worker's memory (FIELD-NOTES.md). Claims increment ``attempts``, so work that
keeps killing its worker is parked as failed after the maximum number of attempts.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from alertworker.core import metrics, statements
from alertworker.core.db import statements_commit, utcnow
from alertworker.core.models import AlertNotification, NotificationDelivery
from alertworker.core.settings import Settings
from alertworker.delivery import attempts as attempts_log
from alertworker.delivery import endpoint_health, recipients, retry
from alertworker.delivery.channels.base import (
    Channel,
    DeliveryError,
    Message,
    PermanentError,
    RetryableError,
    get_channel,
)

log = logging.getLogger(__name__)

D = NotificationDelivery
CLOCK_SKEW = timedelta(seconds=2)


class Pending(NamedTuple):
    """A delivery to enqueue; deliveries to one config's destination travel in one task."""

    channel: str
    config_id: int | None
    delivery_id: int


@dataclass(frozen=True)
class Outcome:
    status: str  # delivered | failed | pending (a retry is scheduled) | not_claimed
    # | skipped | deferred | digested (held by the recipient's preferences)
    retry_in: float | None = None  # seconds: re-send with this countdown (short retries only)


def deliver(
    settings: Settings,
    session_factory: sessionmaker,
    redis: Any,
    delivery_ids: Sequence[int],
    publish: Callable[[list[dict[str, Any]]], None] | None = None,
) -> dict[int, Outcome]:
    """Claim deliveries (one destination's, usually), send each once, write the outcomes back.

    One transaction claims them all and one records them all, with their attempts and the
    destinations' health (SPEC §18); on Postgres each is a single statement in autocommit
    when it can be (the claim always, the write-back when every send succeeded), one round
    trip each. ``publish`` gets the ``delivery_failing`` events to put on alerts.events after
    that commit. Sending stops when half the lease is spent (a slow
    receiver): the rest are released for an immediate re-send (``retry_in`` 0).
    """
    with session_factory() as session:
        attempts, messages, muted = _claim(session, settings, delivery_ids)
        session.commit()  # the claims are durable before anything leaves the building
    with session_factory() as session:  # no statement unless an email, an SMS or a mute
        held = recipients.hold(session, messages, muted, utcnow())  # preferences (SPEC §8)
        session.commit()
    outcomes = {i: Outcome("not_claimed") for i in delivery_ids if i not in attempts}
    outcomes.update({i: Outcome(status) for i, status in held.items()})
    attempts = {i: n for i, n in attempts.items() if i not in held}
    if not attempts:
        return outcomes

    budget = time.monotonic() + settings.delivery_lease_seconds / 2
    channels: dict[str, Channel | None] = {}
    sent: dict[int, DeliveryError | None] = {}
    codes: dict[int, int | None] = {}  # the receiver's status on success
    timing: dict[int, tuple[datetime, int]] = {}  # started_at, duration_ms
    released: list[int] = []
    for delivery_id, attempt in attempts.items():
        if time.monotonic() > budget:
            released.append(delivery_id)
            continue
        message, channel = messages[delivery_id]
        if channel not in channels:
            cls = get_channel(channel)
            channels[channel] = cls(settings, redis) if cls else None
        started, clock = utcnow(), time.monotonic()
        sent[delivery_id], codes[delivery_id] = _send(
            settings, channels[channel], channel, attempt, message
        )
        timing[delivery_id] = (started, int((time.monotonic() - clock) * 1000))

    with session_factory() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres and not released and not any(sent.values()):  # every send succeeded
            outcomes |= _record_delivered(session, attempts, codes, messages, timing)
            failing = endpoint_health.Failing()
        else:
            outcomes |= _record(session, settings, attempts, sent, codes, messages)
            statuses = {i: outcomes[i].status for i in sent}  # SPEC §18: attempts, health
            failing = attempts_log.record(
                session, settings, attempts, sent, codes, messages, timing, statuses, utcnow()
            )
        if released:
            session.execute(
                update(D)
                .where(D.id.in_(released), D.status == "sending")
                .values(
                    status="pending",  # never sent: give the attempt back
                    attempts=D.attempts - 1,
                    lease_expires_at=utcnow() + _lease(settings),
                )
                .execution_options(synchronize_session=False)
            )
            outcomes.update({i: Outcome("pending", 0.0) for i in released})
        session.commit()
    endpoint_health.after_commit(settings, session_factory, redis, failing, publish)
    _observe(settings, attempts, sent, outcomes, messages)
    return outcomes


def _send(
    settings: Settings, sender: Channel | None, channel: str, attempt: int, message: Message | None
) -> tuple[DeliveryError | None, int | None]:
    """One attempt: the error to record, or None and the receiver's status. Never raises."""
    if attempt > settings.delivery_max_attempts:
        return PermanentError(f"gave up: claimed {attempt - 1} times without finishing"), None
    if message is None:
        return PermanentError("the alert config of this delivery was deleted"), None
    if sender is None:
        return PermanentError(f"channel {channel!r} is not implemented"), None
    try:
        return None, sender.send(message)
    except DeliveryError as exc:
        return exc, exc.status_code
    except Exception as exc:  # a bug or an unexpected library error: retry, never lose
        log.exception("delivery %s: unexpected error from channel %s", message.delivery_id, channel)
        return RetryableError(f"unexpected {type(exc).__name__}: {exc}"), None


def _observe(
    settings: Settings,
    attempts: dict[int, int],
    sent: dict[int, DeliveryError | None],
    outcomes: dict[int, Outcome],
    messages: dict[int, tuple[Message | None, str]],
) -> None:
    """Metrics of every attempt (counters once per batch); a log line per attempt that did not
    deliver, with its scrubbed error, and one per channel for the batch's deliveries (their
    ids and event ids: a log call costs about as much as a tenth of a webhook's send)."""
    counts: Counter[tuple[str, str]] = Counter()
    delivered: dict[str, list[int]] = {}
    for delivery_id, error in sent.items():
        message, channel = messages[delivery_id]
        outcome = outcomes[delivery_id]
        counts[channel, outcome.status] += 1
        if outcome.status == "delivered" and message is not None:
            latency = (utcnow() - message.occurred_at).total_seconds()
            metrics.DELIVERY_LATENCY.labels(channel=channel).observe(max(latency, 0.0))
            delivered.setdefault(channel, []).append(delivery_id)
            continue
        log.info(
            "delivery %s via %s attempt %d: %s%s",
            delivery_id,
            channel,
            attempts[delivery_id],
            outcome.status,
            f" ({retry.scrub(str(error), message, settings)})" if error else "",
            extra={"delivery_id": delivery_id, "event_id": message.event_id if message else None},
        )
    for (channel, status), n in counts.items():
        metrics.DELIVERY_ATTEMPTS.labels(channel=channel, outcome=status).inc(n)
        if status in ("delivered", "failed"):
            metrics.DELIVERIES_FINISHED.labels(channel=channel, status=status).inc(n)
    for channel, ids in delivered.items():
        events = [m.event_id for m, _ in map(messages.__getitem__, ids) if m is not None]
        if len(ids) == 1:
            where = {"delivery_id": ids[0], "event_id": events[0]}
            log.info("delivery %s via %s attempt %d: delivered", ids[0], channel,
                     attempts[ids[0]], extra=where)  # fmt: skip
        else:
            log.info("deliveries %s via %s: delivered", ",".join(map(str, ids)), channel,
                     extra={"event_ids": events})  # fmt: skip


def due(settings: Settings, session_factory: sessionmaker, limit: int = 1000) -> list[Pending]:
    """Deliveries to (re-)enqueue (due retries, lost messages, expired leases, the end of quiet
    hours for deferred ones), marked enqueued."""
    now = utcnow()
    picked = (
        select(D.id)
        .where(
            D.status.in_(("pending", "sending", "deferred")),
            or_(D.next_attempt_at.is_(None), D.next_attempt_at <= now + CLOCK_SKEW),
            or_(D.lease_expires_at.is_(None), D.lease_expires_at < now),
        )
        .order_by(D.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with session_factory() as session:
        ids = session.scalars(
            update(D)
            .where(D.id.in_(picked.scalar_subquery()))
            .values(status="pending", lease_expires_at=now + _lease(settings))
            .returning(D.id)
            .execution_options(synchronize_session=False)
        ).all()
        session.commit()
        rows = (
            session.execute(
                select(D.channel, AlertNotification.config_id, D.id)
                .join(AlertNotification, D.notification_id == AlertNotification.id)
                .where(D.id.in_(ids))
                .order_by(D.id)
            ).all()
            if ids
            else []
        )
    return [Pending(*row) for row in rows]


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.delivery_lease_seconds)


def _claim(
    session: Session, settings: Settings, delivery_ids: Sequence[int]
) -> tuple[dict[int, int], dict[int, tuple[Message | None, str]], set[int]]:
    """Take the claimable rows for one attempt each: ``{delivery id: attempt number}`` in the
    order asked, what each channel needs to send, and the Slack and webhook deliveries whose
    tenant's users all muted that channel (SPEC §8). On Postgres one statement in autocommit
    (it commits by itself: one round trip); elsewhere two in the transaction."""
    now = utcnow()
    params = {
        "ids": list(delivery_ids), "now": now, "due": now + CLOCK_SKEW,
        "lease": now + _lease(settings),
    }  # fmt: skip
    if session.get_bind().dialect.name == "postgresql":
        with statements_commit(session) as conn:
            rows = conn.execute(statements.CLAIM_MESSAGES, params).mappings().all()
        claimed = {row["id"]: row["attempts"] for row in rows}
    else:
        conn = session.connection()
        claimed = dict(conn.execute(statements.CLAIM, params).all())
        rows = conn.execute(statements.MESSAGES, {"ids": list(claimed)}).mappings().all()
    messages = dict(map(_message, rows))
    attempts = {i: claimed[i] for i in delivery_ids if i in claimed}
    muted = {row["id"] for row in rows if row["muted"] and messages[row["id"]][0] is not None}
    return attempts, {i: messages[i] for i in attempts}, muted


def _message(row: Any) -> tuple[int, tuple[Message | None, str]]:
    """A delivery's id and what its channel needs to send (None when the config was deleted)."""
    if row["config_id"] is None:
        return row["id"], (None, row["channel"])
    message = Message(
        delivery_id=row["id"],
        notification_id=row["notification_id"],
        event_id=row["event_id"],
        tenant_id=row["slug"],
        config_id=row["config_id"],
        config_name=row["config_name"],
        alert_type=row["alert_type"],
        severity=row["severity"],
        title=row["title"],
        message=row["message"],
        context=dict(row["context"]),
        occurred_at=row["occurred_at"],
        triggered_at=row["triggered_at"],
        occurrence_count=row["occurrence_count"],
        suppressed_since_last=row["suppressed_since_last"],
        is_test=row["is_test"],
        channel_config=dict(
            row["escalation_target"] or row["channel_config"].get(row["channel"]) or {}
        ),  # an escalation row carries its target's config (SPEC §14)
        recipient=row["recipient"],
        kind="trigger" if row["kind"] == "escalation" else row["kind"],  # pages (§14)
        resolved_at=row["resolved_at"],
        fingerprint=row["fingerprint"],
    )
    return row["id"], (message, row["channel"])


def _record_delivered(
    session: Session,
    attempts: dict[int, int],
    codes: dict[int, int | None],
    messages: dict[int, tuple[Message | None, str]],
    timing: dict[int, tuple[datetime, int]],
) -> dict[int, Outcome]:
    """Postgres, a batch whose every send succeeded: rows, attempts and health written in one
    statement in autocommit (``statements.RECORD_DELIVERED``), one round trip."""
    ids = list(timing)
    params = {
        "ids": ids,
        "attempts": [attempts[i] for i in ids],
        "started": [timing[i][0] for i in ids],
        "durations": [timing[i][1] for i in ids],
        "cfgs": [m.config_id if m else None for m, _ in map(messages.__getitem__, ids)],
        "channels": [messages[i][1] for i in ids],
        "codes": [codes.get(i) for i in ids],
        "now": utcnow(),
    }
    with statements_commit(session) as conn:
        written = set(conn.execute(statements.RECORD_DELIVERED, params).scalars())
    for delivery_id in ids:
        if delivery_id not in written:
            log.warning("delivery %s: lost the lease, result not recorded", delivery_id)
    return {i: Outcome("delivered" if i in written else "not_claimed") for i in ids}


def _record(
    session: Session,
    settings: Settings,
    attempts: dict[int, int],
    sent: dict[int, DeliveryError | None],
    codes: dict[int, int | None],
    messages: dict[int, tuple[Message | None, str]],
) -> dict[int, Outcome]:
    """Write each attempt's outcome, guarded by (id, attempt): a row whose lease expired and
    was claimed again belongs to its new owner, whose result wins. Successes, the usual case,
    are one statement per receiver status (200, 204, ...) for the whole batch."""
    now = utcnow()
    outcomes: dict[int, Outcome] = {}
    by_code: dict[int | None, list[tuple[int, int]]] = {}
    for i, error in sent.items():
        if error is None:
            by_code.setdefault(codes.get(i), []).append((i, attempts[i]))
    for code, ok in by_code.items():
        params = {"ok": ok, "now": now, "code": code}
        written = set(session.connection().execute(statements.DELIVERED, params).scalars())
        outcomes |= {i: Outcome("delivered" if i in written else "not_claimed") for i, _ in ok}
    for delivery_id, error in sent.items():
        if error is None:
            continue
        message = messages[delivery_id][0]
        values, status, retry_in = retry.after_error(
            settings, attempts[delivery_id], error, message, now
        )
        outcome = Outcome(status, retry_in)
        changed = session.execute(
            update(D)
            .where(D.id == delivery_id, D.status == "sending", D.attempts == attempts[delivery_id])
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
        outcomes[delivery_id] = outcome if changed else Outcome("not_claimed")
    for delivery_id, outcome in outcomes.items():
        if outcome.status == "not_claimed":
            log.warning("delivery %s: lost the lease, result not recorded", delivery_id)
    return outcomes
