"""A Celery consumer that survives any message on its queues (SPEC §3, FIELD-NOTES.md).

A default worker exits with "Unrecoverable error" on some malformed bodies and only logs
others. This consumer turns every message it cannot run (undecodable body, not a task
message, unknown task, invalid task message, or any error while dispatching it) into an
``alertworker.record_rejected`` task carrying the raw body and the reason, and acks the
original, so the garbage is queryable in ``rejected_events`` and the worker goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


class GuardedConsumer(Consumer):
    def create_task_handler(self, *args: Any, **kwargs: Any):
        handle = super().create_task_handler(*args, **kwargs)

        def guarded(message: Any) -> None:
            try:
                handle(message)
            except Exception as exc:
                self._reject(message, f"invalid message: {type(exc).__name__}: {exc}")

        return guarded

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._reject(message, f"invalid message: cannot decode body: {exc}")

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._reject(message, "invalid message: not a task message")

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        name = (getattr(message, "headers", None) or {}).get("task")
        self._reject(message, f"invalid message: unknown task {name!r}")

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._reject(message, f"invalid message: {exc}")

    def _reject(self, message: Any, reason: str) -> None:
        body = getattr(message, "body", b"")
        if isinstance(body, bytes | bytearray):
            body = bytes(body[:MAX_BODY]).decode("utf-8", "backslashreplace")
        else:
            body = repr(body)[:MAX_BODY]
        log.warning("rejected a message on %s: %s", _queue(message), reason)
        try:
            self.app.send_task(
                "alertworker.record_rejected", args=[body, reason], queue="alerts.events"
            )
        except Exception as exc:  # the broker is down; the garbage is logged, not kept
            log.error("could not record a rejected message: %s", exc)
        try:
            message.ack()
        except Exception as exc:
            log.error("could not ack a rejected message: %s", exc)


def _queue(message: Any) -> str:
    info = getattr(message, "delivery_info", None) or {}
    return str(info.get("routing_key") or info.get("exchange") or "?")
