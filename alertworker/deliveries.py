"""The delivery row's lifecycle (SPEC §7): claim under a lease, send through its channel, record.

::

    pending --claim--> sending --ok--------> delivered
                               --permanent-> failed
                               --retryable-> pending, next_attempt_at = now + backoff
                                             (failed once DELIVERY_MAX_ATTEMPTS is reached)

``lease_expires_at`` means two things by status: on a *sending* row it is the claimer's lease
(another claim waits for it to expire); on a *pending* row it is when the sweeper may enqueue
it again (set when it is enqueued). A retry due within ``SHORT_RETRY_SECONDS`` is re-sent by the
caller with a countdown; a longer one is left to the sweeper (``due``), so no long ETA is ever
held in a worker's memory (FIELD-NOTES.md). Claims increment ``attempts``, so work that keeps
killing its worker is parked as failed after the maximum number of attempts.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from alertworker import metrics
from alertworker.channels.base import (
    DeliveryError,
    Message,
    PermanentError,
    RetryableError,
    get_channel,
)
from alertworker.db import utcnow
from alertworker.models import AlertConfig, AlertNotification, NotificationDelivery, Tenant
from alertworker.settings import Settings

log = logging.getLogger(__name__)

D = NotificationDelivery
SHORT_RETRY_SECONDS = 30.0
CLOCK_SKEW = timedelta(seconds=2)
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class Outcome:
    status: str  # delivered | failed | pending (a retry is scheduled) | not_claimed
    retry_in: float | None = None  # seconds: re-send with this countdown (short retries only)


def backoff(settings: Settings, attempt: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt: exponential with full jitter, or Retry-After; capped."""
    cap = settings.delivery_backoff_max_seconds
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    ceiling = min(cap, settings.delivery_backoff_base_seconds * 2 ** max(attempt - 1, 0))
    return random.uniform(0, ceiling)  # full jitter


def deliver(
    settings: Settings, session_factory: sessionmaker, redis: Any, delivery_id: int
) -> Outcome:
    """Claim delivery ``delivery_id``, send it once, and write the outcome back."""
    with session_factory() as session:
        attempt = _claim(session, settings, delivery_id)
        if attempt is None:
            session.rollback()
            return Outcome("not_claimed")
        message, channel = _message(session, delivery_id)
        session.commit()  # the claim is durable before anything leaves the building

    error: DeliveryError | None = None
    if attempt > settings.delivery_max_attempts:
        error = PermanentError(f"gave up: claimed {attempt - 1} times without finishing")
    elif message is None:
        error = PermanentError("the alert config of this delivery was deleted")
    elif (cls := get_channel(channel)) is None:
        error = PermanentError(f"channel {channel!r} is not implemented")
    else:
        try:
            cls(settings, redis).send(message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a bug or an unexpected library error: retry, never lose
            log.exception("delivery %s: unexpected error from channel %s", delivery_id, channel)
            error = RetryableError(f"unexpected {type(exc).__name__}: {exc}")

    with session_factory() as session:
        outcome = _record(session, settings, delivery_id, attempt, error, message)
        session.commit()
    metrics.DELIVERY_ATTEMPTS.labels(channel=channel, outcome=outcome.status).inc()
    if outcome.status in ("delivered", "failed"):
        metrics.DELIVERIES_FINISHED.labels(channel=channel, status=outcome.status).inc()
    if outcome.status == "delivered" and message is not None:
        latency = (utcnow() - message.occurred_at).total_seconds()
        metrics.DELIVERY_LATENCY.labels(channel=channel).observe(max(latency, 0.0))
    log.info(
        "delivery %s via %s attempt %d: %s%s",
        delivery_id,
        channel,
        attempt,
        outcome.status,
        f" ({_scrub(str(error), message)})" if error else "",
        extra={"delivery_id": delivery_id, "event_id": message.event_id if message else None},
    )
    return outcome


def due(
    settings: Settings, session_factory: sessionmaker, limit: int = 1000
) -> list[tuple[str, int]]:
    """Deliveries to (re-)enqueue (due retries, lost messages, expired leases), marked enqueued."""
    now = utcnow()
    picked = (
        select(D.id)
        .where(
            D.status.in_(("pending", "sending")),
            or_(D.next_attempt_at.is_(None), D.next_attempt_at <= now + CLOCK_SKEW),
            or_(D.lease_expires_at.is_(None), D.lease_expires_at < now),
        )
        .order_by(D.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with session_factory() as session:
        rows = session.execute(
            update(D)
            .where(D.id.in_(picked.scalar_subquery()))
            .values(status="pending", lease_expires_at=now + _lease(settings))
            .returning(D.channel, D.id)
            .execution_options(synchronize_session=False)
        ).all()
        session.commit()
    return [(channel, delivery_id) for channel, delivery_id in rows]


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.delivery_lease_seconds)


def _claim(session: Session, settings: Settings, delivery_id: int) -> int | None:
    """Take the row for one attempt; returns the attempt number, or None if not claimable."""
    now = utcnow()
    claimable = or_(
        and_(
            D.status == "pending",
            or_(D.next_attempt_at.is_(None), D.next_attempt_at <= now + CLOCK_SKEW),
        ),
        and_(D.status == "sending", D.lease_expires_at < now),
    )
    return session.execute(
        update(D)
        .where(D.id == delivery_id, claimable)
        .values(status="sending", attempts=D.attempts + 1, lease_expires_at=now + _lease(settings))
        .returning(D.attempts)
        .execution_options(synchronize_session=False)
    ).scalar()


def _message(session: Session, delivery_id: int) -> tuple[Message | None, str]:
    row = session.execute(
        select(D, AlertNotification, AlertConfig, Tenant.slug)
        .join(AlertNotification, D.notification_id == AlertNotification.id)
        .join(Tenant, Tenant.id == D.tenant_id)
        .outerjoin(AlertConfig, AlertConfig.id == AlertNotification.config_id)
        .where(D.id == delivery_id)
    ).one()
    d, n, config, slug = row
    if config is None:
        return None, d.channel
    message = Message(
        delivery_id=d.id,
        notification_id=n.id,
        event_id=n.event_id,
        tenant_id=slug,
        config_id=config.id,
        config_name=config.name,
        alert_type=n.alert_type,
        severity=n.severity,
        title=n.title,
        message=n.message,
        context=dict(n.context),
        occurred_at=n.occurred_at,
        triggered_at=n.triggered_at,
        occurrence_count=n.occurrence_count,
        suppressed_since_last=n.suppressed_since_last,
        is_test=n.is_test,
        channel_config=dict(config.channel_config.get(d.channel) or {}),
    )
    return message, d.channel


def _record(
    session: Session,
    settings: Settings,
    delivery_id: int,
    attempt: int,
    error: DeliveryError | None,
    message: Message | None,
) -> Outcome:
    now = utcnow()
    values: dict[str, Any] = {"lease_expires_at": None, "next_attempt_at": None}
    outcome = Outcome("delivered")
    if error is None:
        values.update(status="delivered", delivered_at=now, last_error=None, last_status_code=None)
    else:
        values.update(last_error=_scrub(str(error), message), last_status_code=error.status_code)
        if isinstance(error, RetryableError) and attempt < settings.delivery_max_attempts:
            delay = backoff(settings, attempt, error.retry_after)
            short = delay <= SHORT_RETRY_SECONDS
            next_at: datetime = now + timedelta(seconds=delay)
            values.update(
                status="pending",
                next_attempt_at=next_at,
                lease_expires_at=next_at + _lease(settings) if short else None,
            )
            outcome = Outcome("pending", delay if short else None)
        else:
            if isinstance(error, RetryableError):
                values["last_error"] = _scrub(f"gave up after {attempt} attempts: {error}", message)
            values["status"] = "failed"
            outcome = Outcome("failed")
    changed = session.execute(
        update(D)
        .where(D.id == delivery_id, D.status == "sending", D.attempts == attempt)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:  # our lease expired and someone else owns the row now: their result wins
        log.warning(
            "delivery %s attempt %d: lost the lease, result not recorded", delivery_id, attempt
        )
        return Outcome("not_claimed")
    return outcome


def _scrub(text: str, message: Message | None) -> str:
    """Truncate an error and blank out any secret of the channel config that slipped into it."""
    if message is not None:
        cfg = message.channel_config
        secrets = [cfg.get("secret"), cfg.get("webhook_url"), *(cfg.get("headers") or {}).values()]
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= 4:
                text = text.replace(secret, "****")
    return text[:MAX_ERROR_CHARS]
