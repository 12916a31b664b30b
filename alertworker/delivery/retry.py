"""The retry policy (SPEC §7, §12): what a failed delivery attempt does to its row.

Transient failures (``RetryableError``) wait an exponential backoff with full jitter, capped,
or the receiver's ``Retry-After`` (also capped), up to ``DELIVERY_MAX_ATTEMPTS``; anything
else fails at once. A wait up to ``SHORT_RETRY_SECONDS`` is re-sent by the worker with a
countdown; a longer one stays on the row (``next_attempt_at``) for the sweeper, never as a
long ETA in a worker's memory (FIELD-NOTES.md). Stored errors are truncated and scrubbed of
the channel config's secrets.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from alertworker.core.scrub import redact, secrets_of
from alertworker.core.settings import Settings
from alertworker.delivery.channels.base import DeliveryError, Message, RetryableError

SHORT_RETRY_SECONDS = 30.0
MAX_ERROR_CHARS = 1000


def backoff(settings: Settings, attempt: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt: exponential with full jitter, or Retry-After; capped."""
    cap = settings.delivery_backoff_max_seconds
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    ceiling = min(cap, settings.delivery_backoff_base_seconds * 2 ** max(attempt - 1, 0))
    return random.uniform(0, ceiling)  # full jitter


def after_error(
    settings: Settings, attempt: int, error: DeliveryError, message: Message | None, now: datetime
) -> tuple[dict[str, Any], str, float | None]:
    """The row's new values after a failed attempt, its status (``pending`` for a retry, or
    ``failed``) and, for a short retry, the countdown the worker re-sends it with."""
    values: dict[str, Any] = {
        "lease_expires_at": None,
        "next_attempt_at": None,
        "last_error": scrub(str(error), message, settings),
        "last_status_code": error.status_code,
    }
    if isinstance(error, RetryableError) and attempt < settings.delivery_max_attempts:
        delay = backoff(settings, attempt, error.retry_after)
        short = delay <= SHORT_RETRY_SECONDS
        next_at = now + timedelta(seconds=delay)
        lease = timedelta(seconds=settings.delivery_lease_seconds)
        values.update(
            status="pending",
            next_attempt_at=next_at,
            lease_expires_at=next_at + lease if short else None,
        )
        return values, "pending", delay if short else None
    if isinstance(error, RetryableError):
        gave_up = f"gave up after {attempt} attempts: {error}"
        values["last_error"] = scrub(gave_up, message, settings)
    values["status"] = "failed"
    return values, "failed", None


def scrub(text: str, message: Message | None, settings: Settings | None = None) -> str:
    """Truncate an error and blank out any part of a secret (the channel config's, the
    settings') that slipped into it."""
    config = message.channel_config if message is not None else None
    return redact(text, secrets_of(config, settings))[:MAX_ERROR_CHARS]
