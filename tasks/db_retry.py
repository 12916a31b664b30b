"""Riding out a database outage in a task (SPEC §11, FIELD-NOTES.md).

A task that meets Postgres unreachable, or a connection lost mid-transaction, retries without
limit (the tasks are declared with ``max_retries=None``: ``self.retry(max_retries=None)`` alone
means the task default of 3 in Celery 5.7), with an exponential backoff and jitter capped at
``DB_RETRY_MAX_SECONDS`` (30 s, well under the broker's visibility timeout). Any other database
error is an error of the work itself, not of the database: it is retried a few times only.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

STATEMENT_RETRIES = 3  # tries after an error that is not an outage (a constraint, a bad value)


def should_retry(task: Any, exc: DBAPIError) -> bool:
    """Always while the database is away; a few times for an error of the statement."""
    outage = exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))
    return outage or task.request.retries < STATEMENT_RETRIES


def retry_later(task: Any, exc: DBAPIError, max_seconds: float) -> Exception:
    """The task's retry (Celery raises it): exponential backoff with jitter, capped."""
    retries = min(task.request.retries, 16)
    countdown = min(max_seconds, 2.0**retries) * random.uniform(0.5, 1)
    log.warning("%s: database error, retry %d in %.1fs: %s",
                task.name, task.request.retries + 1, countdown, exc.orig)  # fmt: skip
    return task.retry(exc=exc, countdown=countdown)
