"""What could not be processed, kept with the reason (SPEC §3): bad events, unknown tenants,
broker messages that are no task at all. Rows of ``rejected_events`` are queryable; the payload
is stored as text (NUL escaped, capped), never executed or parsed again."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from alertworker.core import metrics
from alertworker.core.db import utcnow
from alertworker.core.models import RejectedEvent

MAX_STORED_PAYLOAD = 64 * 1024


def rejection(raw: Any, reason: str) -> dict[str, Any]:
    """A ``rejected_events`` row for ``raw`` (anything) rejected for ``reason``."""
    payload = _payload(raw)
    event = raw if isinstance(raw, dict) else {}
    slug, event_id = event.get("tenant_id"), event.get("event_id")
    return {
        "tenant_slug": _text(slug[:64]) if isinstance(slug, str) else None,
        "event_id": _text(event_id[:64]) if isinstance(event_id, str) else None,
        "reason": _text(reason[:2000]),
        "payload": _text(payload[:MAX_STORED_PAYLOAD]),
        "received_at": utcnow(),
    }


def _payload(raw: Any) -> str:
    """``raw`` as text: JSON if it can be, else its repr, else its type (nested too deep)."""
    if isinstance(raw, str):
        return raw
    for show in (lambda: json.dumps(raw, default=repr), lambda: repr(raw)):
        try:
            return show()
        except (TypeError, ValueError, RecursionError):
            pass
    return f"<{type(raw).__name__} nested too deep to show>"


def _text(value: str) -> str:
    """Text that Postgres accepts: NUL characters escaped."""
    return value.replace("\x00", "\\x00")


def record_rejections(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(RejectedEvent.__table__.insert(), rows)
        for row in rows:
            metrics.EVENTS_REJECTED.labels(reason=row["reason"].split(":", 1)[0][:40]).inc()
