"""Digest emails (SPEC §8): one summary per user per period, sent by beat once the period ends.

``notification_digests`` has one row per (user, period_start), unique: :func:`join` upserts it
in the same transaction that marks a delivery ``digested``, so the row exists only when there
is something to send (an empty period sends nothing). :func:`send_due` (the beat task
``alertworker.send_digests``) claims due rows like deliveries are claimed — ``FOR UPDATE SKIP
LOCKED`` and a lease — so any number of beats and workers send each digest once; a crash
between the SMTP send and its commit re-sends it after the lease, under the same Message-ID.

A delivery joins only a ``pending`` digest: if its period's digest was already claimed (a late
worker, clock skew), it joins the next period's. Items are listed oldest first, at most
:data:`MAX_ITEMS` of them (the rest counted).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from alertworker.core import metrics
from alertworker.core.db import dialect_insert, utcnow
from alertworker.core.models import (
    AlertNotification,
    NotificationDelivery,
    NotificationDigest,
    Tenant,
    User,
)
from alertworker.core.scrub import redact, secrets_of
from alertworker.core.settings import Settings
from alertworker.delivery.channels.base import DeliveryError, PermanentError, RetryableError
from alertworker.delivery.channels.email import EmailChannel
from alertworker.delivery.delivery_policy import Period, Preferences, digest_period
from alertworker.delivery.render import (
    SEVERITY_STYLE,
    TEMPLATES,
    as_utc,
    dashboard_url,
    format_time,
    truncate,
)

log = logging.getLogger(__name__)

G, D, N = NotificationDigest, NotificationDelivery, AlertNotification
T = NotificationDigest.__table__
MAX_ITEMS = 500


def join(session: Session, user: User, prefs: Preferences, period: Period, now: datetime) -> int:
    """The id of the user's pending digest for ``period`` (or a later one), created if needed."""
    for _ in range(48):
        stmt = dialect_insert(session, T).values(
            tenant_id=user.tenant_id, user_id=user.id, frequency=prefs.digest,
            period_start=period.start, period_end=period.end, send_after=period.send_after,
            status="pending", attempts=0, item_count=1, created_at=now, updated_at=now,
        )  # fmt: skip
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id", "period_start"],
            set_={"item_count": T.c.item_count + 1, "updated_at": now},
            where=T.c.status == "pending",
        ).returning(T.c.id)
        digest_id = session.execute(stmt).scalar()
        if digest_id is not None:
            return digest_id
        period = digest_period(prefs, period.end)  # already claimed: the next period's
    raise RuntimeError(f"no open digest for user {user.id}")  # pragma: no cover


def send_due(
    settings: Settings, session_factory: sessionmaker, redis: Any, now: datetime | None = None
) -> Counter[str]:
    """Send every digest whose period is over; counts of outcomes (sent, empty, failed, retry)."""
    now = now or utcnow()
    lease = timedelta(seconds=settings.delivery_lease_seconds)
    claimable = (
        select(G.id)
        .where(
            or_(
                (G.status == "pending") & (G.send_after <= now),
                (G.status == "sending") & (G.lease_expires_at < now),
            )
        )
        .order_by(G.id)
        .limit(100)
        .with_for_update(skip_locked=True)
    )
    with session_factory() as session:
        claimed = session.execute(
            update(G)
            .where(G.id.in_(claimable.scalar_subquery()))
            .values(status="sending", attempts=G.attempts + 1, lease_expires_at=now + lease)
            .returning(G.id, G.attempts)
            .execution_options(synchronize_session=False)
        ).all()
        session.commit()
    outcomes: Counter[str] = Counter()
    channel = EmailChannel(settings, redis)
    for digest_id, attempt in sorted(claimed):
        outcomes[_send_one(settings, session_factory, channel, digest_id, attempt, now)] += 1
    return outcomes


def _send_one(
    settings: Settings,
    session_factory: sessionmaker,
    channel: EmailChannel,
    digest_id: int,
    attempt: int,
    now: datetime,
) -> str:
    """Build and send one claimed digest, then record the outcome (guarded by the attempt)."""
    with session_factory() as session:
        digest, email, slug = session.execute(
            select(G, User.email, Tenant.slug)
            .join(User, User.id == G.user_id)
            .join(Tenant, Tenant.id == G.tenant_id)
            .where(G.id == digest_id)
        ).one()
        items = session.scalars(
            select(N)
            .join(D, D.notification_id == N.id)
            .where(D.digest_id == digest_id)
            .order_by(N.triggered_at, N.id)
        ).all()
    error: DeliveryError | None = None
    if attempt > settings.delivery_max_attempts:  # claimed again and again, never finished
        error = PermanentError(f"gave up: claimed {attempt - 1} times without finishing")
    elif items:
        try:
            mail = build_digest(settings, digest, slug, email, items)
            channel.send_mail(mail, [email], f"digest {digest_id}")
        except DeliveryError as exc:
            error = exc
    values: dict[str, Any] = {"item_count": len(items), "lease_expires_at": None}
    if error is None:
        values.update(status="sent" if items else "empty", sent_at=now, last_error=None)
    elif isinstance(error, RetryableError) and attempt < settings.delivery_max_attempts:
        from alertworker.delivery.retry import backoff

        delay = backoff(settings, attempt, error.retry_after)
        values.update(status="pending", send_after=now + timedelta(seconds=delay))
    else:
        values.update(status="failed")
    if error is not None:
        values["last_error"] = redact(str(error), secrets_of(None, settings))[:1000]
    with session_factory() as session:
        changed = session.execute(
            update(G)
            .where(G.id == digest_id, G.status == "sending", G.attempts == attempt)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed and values["status"] == "sent":
            session.execute(
                update(D)
                .where(D.digest_id == digest_id)
                .values(delivered_at=now)
                .execution_options(synchronize_session=False)
            )
        session.commit()
    outcome = values["status"] if values["status"] != "pending" else "retry"
    metrics.DIGESTS.labels(outcome=outcome).inc()
    log.info("digest %s for user %s: %d item(s), %s%s", digest_id, digest.user_id, len(items),
             outcome, f" ({values['last_error']})" if error else "")  # fmt: skip
    return outcome


def build_digest(settings: Settings, digest: Any, slug: str, email: str, items: list) -> Any:
    """The multipart summary email: one line per alert (severity, title, time, occurrences)."""
    rows = [
        {
            "severity": n.severity,
            "label": n.severity.upper(),
            "color": SEVERITY_STYLE.get(n.severity, SEVERITY_STYLE["info"])["color"],
            "title": truncate(" ".join(n.title.split()), 200),
            "alert_type": n.alert_type,
            "time": format_time(n.triggered_at),
            "count": n.occurrence_count,
            "url": dashboard_url(settings, n.id),
        }
        for n in items[:MAX_ITEMS]
    ]
    counts = Counter(n.severity for n in items)
    ctx = {
        "tenant": slug,
        "frequency": digest.frequency,
        "since": as_utc(digest.period_start).strftime("%Y-%m-%d %H:%M UTC"),
        "start": format_time(digest.period_start),
        "end": format_time(digest.period_end),
        "total": len(items),
        "more": max(len(items) - MAX_ITEMS, 0),
        "counts": [(s.upper(), counts[s]) for s in SEVERITY_STYLE if counts[s]],
        "items": rows,
        "url": settings.public_base_url.rstrip("/") + "/alerts",
    }
    render = lambda name: TEMPLATES.get_template(f"digest/{name}").render(ctx)  # noqa: E731
    domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "alertworker.invalid"
    mail = EmailMessage()
    try:
        mail["Subject"] = truncate(" ".join(render("subject.txt").split()), 250)
        mail["From"] = settings.smtp_from
        mail["To"] = email
    except ValueError:
        raise PermanentError("invalid From or recipient address") from None
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = f"<digest{digest.id}.{digest.user_id}@{domain}>"  # same on a re-send
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(render("body.txt"))
    mail.add_alternative(render("body.html"), subtype="html")
    return mail
