"""A user's notification preferences (SPEC §8): stored and validated here, applied by delivery.

A user without a row has the defaults: every channel on, ``min_severity`` info, no quiet hours,
no digest. ``in_app`` is always on and not stored. Input arrives validated by
``schemas.PreferencesSchema`` (quiet hours' time zone checked against the IANA database).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alertworker.core.models import NotificationPreference

log = logging.getLogger(__name__)

FIELDS = (
    "email_enabled", "slack_enabled", "webhook_enabled", "sms_enabled", "phone", "min_severity",
    "quiet_hours", "digest",
)  # fmt: skip


def defaults(user_id: int) -> NotificationPreference:
    """The preferences of a user who never set any (a transient row, not added to a session)."""
    return NotificationPreference(
        user_id=user_id,
        email_enabled=True,
        slack_enabled=True,
        webhook_enabled=True,
        sms_enabled=True,
        phone=None,
        min_severity="info",
        quiet_hours=None,
        digest="off",
        updated_at=None,
    )


def get_preferences(session: Session, user_id: int) -> NotificationPreference:
    return session.get(NotificationPreference, user_id) or defaults(user_id)


def put_preferences(session: Session, user_id: int, data: dict[str, Any]) -> NotificationPreference:
    """Replace the user's preferences with ``data`` (a full, validated set)."""
    values = {k: data[k] for k in FIELDS if k in data}
    for attempt in range(2):
        found = session.get(NotificationPreference, user_id)
        row = found if found is not None else NotificationPreference(user_id=user_id)
        if found is None:
            session.add(row)
        for key, value in values.items():
            setattr(row, key, value)
        try:
            session.commit()
            break
        except IntegrityError:  # a concurrent first PUT of the same user inserted it: update it
            session.rollback()
            if attempt:
                raise
    log.info("user %d updated notification preferences", user_id)
    return row
