"""A Celery consumer that survives any message on its queues (SPEC §3, FIELD-NOTES.md).

A default worker exits with "Unrecoverable error" on some malformed messages, stops consuming
after others (a bad ``timelimit`` header leaves the message unacked for good) and only logs the
rest. This consumer checks every message before Celery's task handler reads it
(``tasks.messages.problem``: headers, body, arguments; on Redis the envelope was already checked
by ``tasks.transport``), and turns every message it cannot run (that check, an undecodable or
over-inflating body, an unknown task, or any error while dispatching it) into an
``alertworker.record_rejected`` task carrying the raw body and the reason, and acks the
original, so the garbage is queryable in ``rejected_events`` and the worker goes on at once.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer

from tasks.messages import bound_decompression, problem

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024

bound_decompression()


class GuardedConsumer(Consumer):
    def create_task_handler(self, *args: Any, **kwargs: Any) -> Any:
        handle = super().create_task_handler(*args, **kwargs)
        tasks = self.app.tasks

        def guarded(message: Any) -> None:
            try:
                reason = problem(message, tasks)
                if reason is None:
                    handle(message)
                    return
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self._reject(message, f"invalid message: {reason}")

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
        body = _text(getattr(message, "body", b""))
        log.warning("rejected a message on %s: %s", _queue(message), reason[:300])
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


def _text(body: Any) -> str:
    """The start of a body as text, whatever it is."""
    if isinstance(body, bytes | bytearray):
        return bytes(body[:MAX_BODY]).decode("utf-8", "backslashreplace")
    try:
        return repr(body)[:MAX_BODY]
    except Exception:  # RecursionError: nested too deep to print
        return f"<{type(body).__name__}>"


def _queue(message: Any) -> str:
    info = getattr(message, "delivery_info", None) or {}
    return str(info.get("routing_key") or info.get("exchange") or "?")
