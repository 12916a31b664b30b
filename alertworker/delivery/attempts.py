"""Send attempts (SPEC §18): every attempt a delivery batch made, recorded with its outcome.

:func:`record` is the one call the delivery write-back makes, in its transaction: one INSERT
of the batch's attempts (``attempt``, ``started_at``, ``duration_ms``, ``status_code``,
``outcome`` delivered | retry | failed, ``error``: the scrubbed text the row gets, cut to
:data:`MAX_ERROR_CHARS`), then the endpoint health upsert of ``endpoint_health``. A delivered
attempt has no status code (a channel's ``send`` returns nothing on success). An attempt whose
result lost its lease is still recorded, with the outcome its own send had.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alertworker.core.models import (
    AlertConfig,
    AlertNotification,
    DeliveryAttempt,
    NotificationDelivery,
)
from alertworker.core.scrub import redact, secrets_of
from alertworker.core.settings import Settings
from alertworker.delivery import endpoint_health, retry
from alertworker.delivery.channels.base import DeliveryError, Message, RetryableError
from alertworker.delivery.endpoint_health import Failing, Finished
from alertworker.schemas import MAX_ID
from alertworker.tenants.configs import NotFoundError

D = NotificationDelivery
MAX_ERROR_CHARS = 500
_INSERT = DeliveryAttempt.__table__.insert()
_OUTCOME = {"delivered": "delivered", "pending": "retry", "failed": "failed"}


def record(
    session: Session,
    settings: Settings,
    attempts: dict[int, int],
    sent: dict[int, DeliveryError | None],
    codes: dict[int, int | None],
    messages: dict[int, tuple[Message | None, str]],
    timing: dict[int, tuple[datetime, int]],
    statuses: dict[int, str],
    now: datetime,
) -> Failing:
    """Store the batch's attempts and count its finished deliveries per destination."""
    rows: list[dict[str, Any]] = []
    finished: list[Finished] = []
    for delivery_id, error in sent.items():
        message, channel = messages[delivery_id]
        status = statuses[delivery_id]
        outcome = _OUTCOME.get(status) or _own_outcome(error)
        text = retry.scrub(str(error), message, settings)[:MAX_ERROR_CHARS] if error else None
        started_at, duration_ms = timing[delivery_id]
        rows.append({
            "delivery_id": delivery_id, "attempt": attempts[delivery_id],
            "started_at": started_at, "duration_ms": duration_ms,
            "status_code": codes.get(delivery_id), "outcome": outcome,
            "error": text,
        })  # fmt: skip
        if status in ("delivered", "failed") and message is not None and message.config_id:
            finished.append(Finished(
                message.config_id, message.config_name, message.tenant_id, channel,
                status == "delivered", text,
            ))  # fmt: skip
    if rows:
        session.connection().execute(_INSERT, rows)
    return endpoint_health.record(session, settings, finished, now)


def _own_outcome(error: DeliveryError | None) -> str:
    """The outcome of a send whose result was not written (another claimer owns the row)."""
    if error is None:
        return "delivered"
    return "retry" if isinstance(error, RetryableError) else "failed"


def get_delivery(session: Session, tenant_id: int, delivery_id: int) -> SimpleNamespace:
    """One of the tenant's deliveries with its config id and its attempts, oldest first; the
    config's current secrets are scrubbed from every error text once more."""
    row = None
    if 0 < delivery_id <= MAX_ID:
        row = session.execute(
            select(D, AlertNotification.config_id)
            .join(AlertNotification, D.notification_id == AlertNotification.id)
            .where(D.id == delivery_id, D.tenant_id == tenant_id)
        ).first()
    if row is None:
        raise NotFoundError(f"no delivery {delivery_id}")
    delivery, config_id = row
    config = session.get(AlertConfig, config_id) if config_id is not None else None
    secrets = secrets_of(config.channel_config) if config is not None else []
    log = session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id)
        .order_by(DeliveryAttempt.id)
    )  # fmt: skip
    columns = {c.key: getattr(delivery, c.key) for c in delivery.__table__.columns}
    return SimpleNamespace(
        **columns | {"last_error": _redact(delivery.last_error, secrets)},
        config_id=config_id,
        attempt_log=[
            SimpleNamespace(
                **{c.key: getattr(a, c.key) for c in a.__table__.columns}
                | {"error": _redact(a.error, secrets)}
            )
            for a in log
        ],
    )


def _redact(text: str | None, secrets: list[str]) -> str | None:
    return text and redact(text, secrets)
