"""Running escalation policies (SPEC §14): if nobody acknowledges, page the next target.

The progress lives on the notification row::

    escalation_step     steps run so far (0 at the trigger; repeats count on: with 2 steps and
                        repeat 1, the steps run are 1, 2, 3, 4)
    escalation_next_at  when the next step is due (NULL once stopped or finished)
    escalation_state    running | stopped (acknowledged or resolved) | finished

:func:`start` gives a new notification of a config with a policy these values (test alerts do
not escalate): the first step is due ``delay_minutes`` after the trigger, each next one
``delay_minutes`` after the previous one was due, so a late beat does not shift the plan.
Beat calls :func:`run_due` every ``ESCALATION_INTERVAL_SECONDS``; a step with delay 0 thus
runs on the first beat after the trigger. Each step runs exactly once, whatever the number
of beats and workers: the runner claims it with a conditional UPDATE of the notification row
(step n -> n + 1, only while running and :func:`still_open`) and writes the step's delivery
rows in the claim's transaction; the rows go through the ordinary delivery tasks, and a step
due after an acknowledge or a resolve never runs (:func:`still_open`: the lifecycle's
``state`` is ``firing``). :func:`stop` is what acknowledge and ``lifecycle.claim`` (every
resolve) call in their transaction.

A step's targets become delivery rows of ``kind`` :data:`KIND` with ``escalation_step`` set: a
user is an email to their address, so their preferences (§8) decide it as for any email
(``recipients.hold``), and an SMS to their preferences' ``phone`` when set and
``sms_enabled``; a schedule is the user on call when the step runs; slack, webhook and
pagerduty rows carry the target's channel config in ``escalation_target``; sms rows one
number each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session, sessionmaker

from alertworker.core import metrics
from alertworker.core.db import utcnow
from alertworker.core.models import (
    AlertNotification,
    EscalationPolicy,
    NotificationDelivery,
    NotificationPreference,
    OnCallSchedule,
)
from alertworker.core.settings import Settings
from alertworker.delivery.deliveries import Pending
from alertworker.paging import oncall
from alertworker.tenants import users

log = logging.getLogger(__name__)

KIND = "escalation"  # the delivery kind of escalation rows (channels render it as a trigger)
N = AlertNotification
D = NotificationDelivery


def start(policy_id: int | None, first_delay: int | None, is_test: bool, now: datetime) -> dict:
    """The escalation columns of a new notification (all None without a policy, or for tests)."""
    if policy_id is None or first_delay is None or is_test:
        return dict.fromkeys(
            ("escalation_policy_id", "escalation_step", "escalation_next_at", "escalation_state")
        )
    return {
        "escalation_policy_id": policy_id,
        "escalation_step": 0,
        "escalation_next_at": now + timedelta(minutes=first_delay),
        "escalation_state": "running",
    }


def still_open() -> Any:
    """The one test of "nobody has acknowledged or resolved it yet", as SQL on the row: the
    lifecycle's ``state`` (SPEC §13) is still ``firing``."""
    return N.state == "firing"


def stop(conn: Connection | Session, notification_ids: Sequence[int]) -> int:
    """Stop the running escalations of these notifications (acknowledged or resolved), in the
    caller's transaction (a session or its connection); returns how many stopped."""
    if not notification_ids:
        return 0
    stopped = conn.execute(
        update(N.__table__)
        .where(N.id.in_(list(notification_ids)), N.escalation_state == "running")
        .values(escalation_state="stopped", escalation_next_at=None)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
    metrics.ESCALATIONS.labels(outcome="stopped").inc(stopped)
    return stopped


def describe(row: Any) -> dict[str, Any] | None:
    """The notification's ``escalation`` as its detail shows it (None without one)."""
    if row.escalation_state is None:
        return None
    return {
        "policy_id": row.escalation_policy_id, "step": row.escalation_step,
        "next_at": row.escalation_next_at, "state": row.escalation_state,
    }  # fmt: skip


def run_due(
    settings: Settings,
    session_factory: sessionmaker,
    now: datetime | None = None,
    limit: int = 200,
) -> list[Pending]:
    """Run every step due at ``now``, each once; returns the deliveries to enqueue."""
    now = now or utcnow()
    with session_factory() as session:
        due = session.execute(
            select(N.id, N.escalation_step)
            .where(N.escalation_state == "running", N.escalation_next_at <= now)
            .order_by(N.escalation_next_at)
            .limit(limit)
        ).all()
    pending: list[Pending] = []
    for notification_id, step in due:
        with session_factory() as session:
            pending += _run_step(session, settings, notification_id, step, now)
            session.commit()
    return pending


def _run_step(
    session: Session, settings: Settings, notification_id: int, step: int, now: datetime
) -> list[Pending]:
    """Claim step ``step + 1`` of the notification and make its rows; [] if not ours to run."""
    row = session.get(N, notification_id)
    policy = session.get(EscalationPolicy, row.escalation_policy_id or 0) if row else None
    if row is None or row.escalation_next_at is None:
        return []
    steps = policy.steps if policy is not None else []
    total = len(steps) * (policy.repeat + 1) if policy is not None else 0
    ran = step + 1
    if ran > total:  # the policy was deleted or shortened meanwhile
        _claim(session, row, step, None, "finished")
        return []
    following = steps[ran % len(steps)]["delay_minutes"] if ran < total else None
    next_at = None if following is None else row.escalation_next_at + timedelta(minutes=following)
    if not _claim(session, row, step, next_at, "running" if next_at else "finished"):
        return []
    targets = steps[(ran - 1) % len(steps)]["targets"]
    rows = _delivery_rows(session, row, targets, ran, now, settings)
    metrics.ESCALATIONS.labels(outcome="step_run").inc()
    if next_at is None:
        metrics.ESCALATIONS.labels(outcome="finished").inc()
    log.info("notification %d: escalation step %d of %d ran: %d deliveries",
             row.id, ran, total, len(rows))  # fmt: skip
    if not rows:
        return []
    ids = session.execute(D.__table__.insert().returning(D.id, D.channel), rows).all()
    return [Pending(channel, row.config_id, delivery_id) for delivery_id, channel in ids]


def _claim(
    session: Session, row: AlertNotification, step: int, next_at: datetime | None, state: str
) -> bool:
    """Step ``step`` -> ``step + 1``, only if nobody else did and the alert is still open."""
    claimed = session.execute(
        update(N)
        .where(
            N.id == row.id,
            N.escalation_step == step,
            N.escalation_state == "running",
            still_open(),
        )  # fmt: skip
        .values(escalation_step=step + 1, escalation_next_at=next_at, escalation_state=state)
        .returning(N.id)
        .execution_options(synchronize_session=False)
    ).first()
    return claimed is not None


def _delivery_rows(
    session: Session,
    row: AlertNotification,
    targets: list[dict[str, Any]],
    ran: int,
    now: datetime,
    settings: Settings,
) -> list[dict[str, Any]]:
    """One row per destination of the step's targets, duplicates dropped."""
    lease = now + timedelta(seconds=settings.delivery_lease_seconds)
    rows: dict[str, dict[str, Any]] = {}
    for channel, recipient, target in _destinations(session, row, targets, now):
        key = json.dumps([channel, recipient.lower(), target], sort_keys=True)
        rows[key] = {
            "notification_id": row.id, "tenant_id": row.tenant_id, "channel": channel,
            "recipient": recipient, "kind": KIND, "status": "pending", "attempts": 0,
            "lease_expires_at": lease, "escalation_step": ran, "escalation_target": target,
        }  # fmt: skip
    metrics.ESCALATION_TARGETS.labels(outcome="delivery").inc(len(rows))
    return list(rows.values())


def _destinations(session: Session, row: AlertNotification, targets: list[dict[str, Any]],
                  now: datetime) -> list[tuple[str, str, dict[str, Any] | None]]:  # fmt: skip
    """(channel, recipient, channel config) of each target, users and schedules resolved."""
    out: list[tuple[str, str, dict[str, Any] | None]] = []
    user_ids = []
    for t in targets:
        kind = t["type"]
        config = {k: v for k, v in t.items() if k != "type"}
        if kind == "user":
            user_ids.append(t["user_id"])
        elif kind == "schedule":
            schedule = session.scalar(
                select(OnCallSchedule).where(
                    OnCallSchedule.id == t["schedule_id"], OnCallSchedule.tenant_id == row.tenant_id
                )
            )
            on_call = oncall.answer_at(session, schedule, now) if schedule is not None else None
            if on_call is None:
                log.warning("notification %d: schedule %s has nobody on call",
                            row.id, t["schedule_id"])  # fmt: skip
                metrics.ESCALATION_TARGETS.labels(outcome="nobody_on_call").inc()
            else:
                user_ids.append(on_call)
        elif kind == "email":
            out.append(("email", t["address"], None))
        elif kind == "sms":
            out.append(("sms", t["number"], None))
        else:  # slack, webhook, pagerduty: the target is the channel config
            out.append((kind, "", config))
    addresses = users.emails(session, row.tenant_id, user_ids)
    phones = _phones(session, list(addresses))
    for user_id in user_ids:
        if user_id not in addresses:
            metrics.ESCALATION_TARGETS.labels(outcome="unknown_user").inc()
            continue
        out.append(("email", addresses[user_id], None))
        if phone := phones.get(user_id):
            out.append(("sms", phone, None))
    return out


def _phones(session: Session, user_ids: list[int]) -> dict[int, str | None]:
    """The users' preference ``phone``, of those with ``sms_enabled`` (SPEC §15)."""
    if not user_ids:
        return {}
    P = NotificationPreference
    return dict(session.execute(
        select(P.user_id, P.phone).where(P.user_id.in_(user_ids), P.sms_enabled)
    ).all())  # fmt: skip
