"""Honesty: a phase's figures count only if the database and the receiver add up to what was sent.

:func:`problems` is pure (rows in, complaints out); :func:`verify` reads the rows of a phase and
raises :class:`BenchFailure` listing every complaint. Checked: the expected notifications exist,
each once, for exactly the published event ids; every published event is accounted for
(``occurrence_count`` and the throttle summary add up); every webhook delivery row is
``delivered`` and reached the receiver; a request that came twice came with the same
``Idempotency-Key`` and the same body ids; nothing was rejected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import func, select

from alertworker.bench.receiver import Arrival
from alertworker.core.models import AlertNotification as N
from alertworker.core.models import AlertThrottle as T
from alertworker.core.models import NotificationDelivery as D
from alertworker.core.models import RejectedEvent


class BenchFailure(RuntimeError):
    """The run lost (or mangled) something, or could not finish: it must not be reported."""


def problems(
    *,
    events: int,
    notifications_expected: int,
    event_ids: Collection[str] | None,
    notifications: Iterable[tuple[int, str, int]],  # (id, event_id, occurrence_count)
    deliveries: Iterable[tuple[int, int, str]],  # webhook rows: (id, notification_id, status)
    arrivals: Iterable[Arrival],
    throttled: tuple[int, int] | None,  # sum of sent_count, suppressed_count
    rejected: int,
) -> list[str]:
    found: list[str] = []
    notes = list(notifications)
    if len(notes) != notifications_expected:
        found.append(f"expected {notifications_expected:,} notifications, found {len(notes):,}")
    if event_ids is not None:
        stored = Counter(e for _, e, _ in notes)
        missing = len(set(event_ids) - set(stored))
        extra = len(set(stored) - set(event_ids))
        twice = sum(1 for n in stored.values() if n > 1)
        for n, what in (
            (missing, "published events without a notification"),
            (extra, "notifications for events never published"),
            (twice, "events notified more than once"),
        ):
            if n:
                found.append(f"{n:,} {what}")
    # Every event is counted once in the throttle summary when the path throttles. In the
    # notifications, an event suppressed while the notification it would fold into is not yet
    # committed (another process's) is not folded: it is carried by the next notification's
    # suppressed_since_last instead, so occurrence counts may fall short, never exceed.
    accounted = sum(count for _, _, count in notes)
    if accounted > events or (throttled is None and accounted != events):
        found.append(f"{events:,} events published, {accounted:,} accounted for in notifications")
    if throttled is not None and sum(throttled) != events:
        found.append(f"throttle summary counts {sum(throttled):,} events of {events:,}")

    rows = list(deliveries)
    event_of = {nid: e for nid, e, _ in notes}
    per_notification = Counter(nid for _, nid, _ in rows)
    if set(per_notification) != set(event_of) or any(n != 1 for n in per_notification.values()):
        found.append(f"{len(rows):,} webhook deliveries for {len(notes):,} notifications")
    statuses = Counter(status for _, _, status in rows)
    if set(statuses) - {"delivered"}:
        found.append(f"webhook deliveries not delivered: {dict(statuses)}")

    expected = {str(did): event_of.get(nid) for did, nid, _ in rows}
    seen = [a for a in arrivals if a.key in expected]
    lost = len(expected.keys() - {a.key for a in seen})
    if lost:
        found.append(f"{lost:,} webhook deliveries never reached the receiver")
    wrong = sum(1 for a in seen if str(a.delivery_id) != a.key or a.event_id != expected[a.key])
    if wrong:
        found.append(f"{wrong:,} webhook requests whose body does not match their Idempotency-Key")
    if rejected:
        found.append(f"{rejected:,} events or messages rejected")
    return found


def delivered_rows(stage: Any, config_ids: Collection[int]) -> int:
    """How many webhook delivery rows of these configs are ``delivered``."""
    with stage.session_factory() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(D)
                .join(N, N.id == D.notification_id)
                .where(N.config_id.in_(config_ids), D.channel == "webhook", D.status == "delivered")
            )
            or 0
        )


def unknown_arrivals(arrivals: Iterable[Arrival], delivery_ids: Collection[int]) -> list[str]:
    """Complaints about requests that belong to no delivery of the run."""
    known = {str(d) for d in delivery_ids}
    strays = sum(1 for a in arrivals if a.key not in known)
    return [f"{strays:,} webhook requests with an unknown Idempotency-Key"] if strays else []


def verify(
    stage: Any,
    phase: str,
    config_ids: Collection[int],
    *,
    events: int,
    notifications: int,
    event_ids: Collection[str] | None = None,
) -> dict[str, Any]:
    """Check one phase's rows and arrivals; returns its counts, raises BenchFailure if off."""
    with stage.session_factory() as s:
        notes = s.execute(
            select(N.id, N.event_id, N.occurrence_count).where(N.config_id.in_(config_ids))
        ).all()
        rows = s.execute(
            select(D.id, D.notification_id, D.status)
            .join(N, N.id == D.notification_id)
            .where(N.config_id.in_(config_ids), D.channel == "webhook")
        ).all()
        sent, suppressed = s.execute(
            select(
                func.coalesce(func.sum(T.sent_count), 0),
                func.coalesce(func.sum(T.suppressed_count), 0),
            ).where(T.config_id.in_(config_ids))
        ).one()
        rejected = s.scalar(select(func.count()).select_from(RejectedEvent)) or 0
    arrivals = list(stage.receiver.arrivals)
    found = problems(
        events=events,
        notifications_expected=notifications,
        event_ids=event_ids,
        notifications=[tuple(n) for n in notes],
        deliveries=[tuple(r) for r in rows],
        arrivals=arrivals,
        throttled=(int(sent), int(suppressed)),
        rejected=int(rejected),
    )
    if found:
        raise BenchFailure(f"{phase}: the run lost or mangled work: " + "; ".join(found))
    keys = {str(r[0]) for r in rows}
    requests = sum(1 for a in arrivals if a.key in keys)
    return {
        "events": events,
        "notifications": len(notes),
        "webhook_deliveries": len(rows),
        "webhook_requests": requests,
        "duplicate_requests": requests - len(rows),
        "delivery_ids": sorted(r[0] for r in rows),
    }
