"""Users' preferences (SPEC §8) applied to claimed email deliveries, just before sending;
``sms_enabled`` to SMS deliveries to a user's ``phone`` (§15); ``slack_enabled`` and
``webhook_enabled`` to the tenant's Slack and webhook deliveries.

:func:`hold` is the one place it happens, called by ``deliveries.deliver`` inside its claim
transaction. An email row whose ``recipient`` is a user of the tenant (matched by address,
case-insensitively) is decided by :func:`delivery_policy.decide`; any other address gets
everything its config sends. A held row leaves ``sending`` with its attempt given back and the
reason on ``last_error``:

- ``skipped``  "skipped: email off" / "skipped: below min_severity error" (final);
- ``deferred`` "deferred until <UTC time> (quiet hours)", ``next_attempt_at`` set: the sweeper
  (``deliveries.due``) re-enqueues it then, and the preferences are decided again;
- ``digested`` "digested into digest 12 (hourly)", ``digest_id`` set: sent by ``digests``.

A Slack channel or a webhook is shared by the tenant's users, so it is muted only by all of
them: a delivery is skipped ("skipped: slack off" / "skipped: webhook off") when the tenant has
users with saved preferences and every one of them turned that channel off (users who never
saved any, such as the ones added for schedules, do not count); the claim reads that with the
rows it takes (``statements._muted``), so it costs no statement of its own.

Every decision is counted in ``alertworker_preference_decisions_total{decision, reason}``.
Preferences that cannot be read (a stored value the API would refuse) fail open: sent, logged.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from alertworker.core import metrics
from alertworker.core.models import NotificationDelivery, NotificationPreference, User
from alertworker.delivery import digests
from alertworker.delivery.channels.base import Message
from alertworker.delivery.delivery_policy import Decision, Preferences, decide

log = logging.getLogger(__name__)

D = NotificationDelivery
STATUS = {"skip": "skipped", "defer": "deferred", "digest": "digested"}


def hold(
    session: Session,
    messages: Mapping[int, tuple[Message | None, str]],
    muted: Collection[int],
    now: datetime,
) -> dict[int, str]:
    """Decide every claimed email delivery with a recipient; write back the ones not to send now.

    ``muted``: the Slack and webhook deliveries whose tenant's users all turned that channel
    off, as the claim read them (``statements._muted``): skipped.
    Returns ``{delivery id: status}`` of the held rows (skipped, deferred or digested).
    """
    held = _sms_opted_out(session, messages) | _shared_muted(session, messages, muted)
    emails = {
        i: m for i, (m, channel) in messages.items() if channel == "email" and m and m.recipient
    }
    if not emails:
        return held
    users: dict[int, tuple[User, Any]] = {}
    rows = session.execute(
        select(D.id, User, NotificationPreference)
        .join(
            User,
            and_(User.tenant_id == D.tenant_id, func.lower(User.email) == func.lower(D.recipient)),
        )
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .where(D.id.in_(emails))
        .order_by(D.id, User.id)
    )
    for delivery_id, user, stored in rows:
        users.setdefault(delivery_id, (user, stored))

    for delivery_id, message in emails.items():
        if delivery_id not in users:
            metrics.PREFERENCE_DECISIONS.labels(decision="send", reason="not_a_user").inc()
            continue
        user, row = users[delivery_id]
        prefs = Preferences.from_row(row)
        try:
            decision = decide(prefs, message.severity, now)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:  # unusable stored prefs
            log.warning("user %s: preferences unusable (%r), email sent", user.id, exc)
            decision = Decision("send", "invalid_preferences")
        metrics.PREFERENCE_DECISIONS.labels(decision=decision.action, reason=decision.reason).inc()
        if decision.action == "send":
            continue
        values = _held(session, user, prefs, decision, now)
        session.execute(
            update(D)
            .where(D.id == delivery_id, D.status == "sending")
            .values(attempts=D.attempts - 1, lease_expires_at=None, **values)
            .execution_options(synchronize_session=False)
        )
        held[delivery_id] = values["status"]
        log.info(
            "delivery %s to user %s: %s",
            delivery_id,
            user.id,
            values["last_error"],
            extra={"delivery_id": delivery_id, "event_id": message.event_id},
        )
    return held


def _sms_opted_out(
    session: Session, messages: Mapping[int, tuple[Message | None, str]]
) -> dict[int, str]:
    """SMS to a number that a user of the tenant has as preference ``phone`` with
    ``sms_enabled`` off (SPEC §15): skipped, "skipped: sms off"."""
    sms = [i for i, (m, channel) in messages.items() if channel == "sms" and m and m.recipient]
    if not sms:
        return {}
    P = NotificationPreference
    off = set(session.scalars(
        select(D.id)
        .join(User, User.tenant_id == D.tenant_id)
        .join(P, and_(P.user_id == User.id, P.phone == D.recipient))
        .where(D.id.in_(sms), P.sms_enabled.is_(False))
    ))  # fmt: skip
    for delivery_id in sorted(off):
        _skip(session, delivery_id, "skipped: sms off")
    metrics.PREFERENCE_DECISIONS.labels(decision="skip", reason="sms_off").inc(len(off))
    return dict.fromkeys(off, "skipped")


def _shared_muted(
    session: Session, messages: Mapping[int, tuple[Message | None, str]], muted: Collection[int]
) -> dict[int, str]:
    """The muted Slack and webhook deliveries: skipped, "skipped: slack off" / "… webhook off"."""
    for delivery_id in sorted(muted):
        channel = messages[delivery_id][1]
        _skip(session, delivery_id, f"skipped: {channel} off")
        metrics.PREFERENCE_DECISIONS.labels(decision="skip", reason=f"{channel}_off").inc()
    return dict.fromkeys(muted, "skipped")


def _skip(session: Session, delivery_id: int, why: str) -> None:
    """A claimed delivery the preferences skip: final, its attempt given back."""
    session.execute(
        update(D)
        .where(D.id == delivery_id, D.status == "sending")
        .values(
            status="skipped",
            attempts=D.attempts - 1,
            lease_expires_at=None,
            next_attempt_at=None,
            last_error=why,
        )  # fmt: skip
        .execution_options(synchronize_session=False)
    )


def _held(
    session: Session, user: User, prefs: Preferences, decision: Decision, now: datetime
) -> dict[str, Any]:
    """The delivery row's new values for a decision other than ``send``."""
    values: dict[str, Any] = {"status": STATUS[decision.action], "next_attempt_at": None}
    if decision.action == "skip":
        reason = "email off" if decision.reason == "email_off" else "below min_severity"
        suffix = f" {prefs.min_severity}" if decision.reason == "below_min_severity" else ""
        values["last_error"] = f"skipped: {reason}{suffix}"
    elif decision.action == "defer":
        assert decision.until is not None
        values["next_attempt_at"] = decision.until
        values["last_error"] = f"deferred until {decision.until.isoformat()} (quiet hours)"
    else:
        assert decision.period is not None
        digest_id = digests.join(session, user, prefs, decision.period, now)
        values["digest_id"] = digest_id
        values["last_error"] = f"digested into digest {digest_id} ({prefs.digest})"
    return values
