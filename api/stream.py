"""``GET /admin/alerts/notifications/stream``: Server-Sent Events fed by Redis pub/sub.

The worker publishes each new notification on the tenant's channel
(``alertworker.delivery.stream``); this view relays every message as an ``event:
notification`` (or ``event:
notification.resolved``, SPEC §13, named by the message's ``type``) and, after each burst, the fresh
unread count as ``event: unread_count`` (``{"count": n}``). The first event is the current
count. Each ``notification`` event carries ``id: <notification id>``; a client reconnecting
with ``Last-Event-ID`` (browsers' EventSource do it by themselves) first gets the notifications
created after that one (up to :data:`REPLAY`, from Postgres), then the live ones; a resolve
missed while away is not replayed (the notifications list has it). A ``: heartbeat`` comment
every ~15 s keeps proxies from closing an idle stream and lets the server notice a client that
went away (the write fails, the generator is closed and its pub/sub connection released).

Each open stream holds one greenlet (gevent workers, ``gunicorn.conf.py``) or one thread (a
threaded server) for its lifetime: a sync worker would be blocked by a single stream.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import redis
from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from alertworker.delivery import stream
from alertworker.tenants.notifications import unread_count
from api.auth import principal, require
from api.ext import Services, services
from api.io import doc

log = logging.getLogger(__name__)
bp = Blueprint("stream", __name__)
BURST = 100
REPLAY = 200  # at most this many missed notifications sent on a reconnect


def _last_event_id() -> int | None:
    """``Last-Event-ID`` as a notification id; anything else is ignored (a fresh start)."""
    raw = request.headers.get("Last-Event-ID", "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def _sse(event: str, data: str, event_id: int | None = None) -> str:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n{lines}\n"


def _replay(svc: Services, tenant_id: int, after_id: int) -> tuple[str, set[int]]:
    """The missed notifications as SSE events, and their ids (not to relay twice)."""
    with svc.session_factory() as session:
        missed = stream.created_after(session, tenant_id, after_id, REPLAY)
    text = "".join(
        _sse("notification", json.dumps({"type": "notification", "notification": s}), s["id"])
        for s in missed
    )
    return text, {s["id"] for s in missed}


def _count(svc: Services, tenant_id: int) -> str:
    with svc.session_factory() as session:
        return _sse("unread_count", json.dumps({"count": unread_count(session, tenant_id)}))


def _subscribe(svc: Services, tenant_id: int) -> Any:
    """A pub/sub subscribed to the tenant's channel, confirmed by the server before we return."""
    pubsub = svc.redis.pubsub()
    pubsub.subscribe(stream.channel(svc.settings, tenant_id))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "subscribe":
            return pubsub
    pubsub.close()
    raise redis.exceptions.TimeoutError("no subscribe confirmation")


def events(
    svc: Services, pubsub: Any, tenant_id: int, heartbeat: float, after_id: int | None = None
) -> Iterator[str]:
    """The SSE stream: the notifications missed since ``after_id`` (a reconnect) and the count
    first, then each notification burst and the count after it."""
    try:
        missed, replayed = (
            _replay(svc, tenant_id, after_id) if after_id is not None else ("", set())
        )
        yield "retry: 3000\n\n" + missed + _count(svc, tenant_id)
        last = time.monotonic()
        while True:
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                if time.monotonic() - last >= heartbeat:
                    yield ": heartbeat\n\n"
                    last = time.monotonic()
                continue
            chunk = []
            for _ in range(BURST):  # relay a burst, then one fresh count for all of it
                if message is not None and message["type"] == "message":
                    data = message["data"]
                    if isinstance(data, bytes):
                        data = data.decode("utf-8", "replace")
                    name, event_id = _describe(data)
                    if event_id not in replayed:
                        chunk.append(_sse(name, data, event_id))
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
                if message is None:
                    break
            yield "".join(chunk) + _count(svc, tenant_id)
            last = time.monotonic()
    except (redis.exceptions.RedisError, SQLAlchemyError) as exc:
        log.warning("live stream ended: %s", type(exc).__name__)
    finally:
        pubsub.close()


def _describe(data: str) -> tuple[str, int | None]:
    """The event name (``notification.resolved`` for a resolve message, else ``notification``)
    and, for a new notification, its id (the SSE ``id``, what a reconnect resumes after)."""
    try:
        message = json.loads(data)
        kind = message.get("type")
        notification_id = message.get("notification", {}).get("id")
    except (ValueError, AttributeError):
        kind, notification_id = None, None
    if kind == "notification.resolved":
        return "notification.resolved", None
    valid = isinstance(notification_id, int) and not isinstance(notification_id, bool)
    return "notification", notification_id if valid else None


@bp.get("/admin/alerts/notifications/stream")
@require("alerts:read")
@doc(
    content_type="text/event-stream",
    headers={"Last-Event-ID": "the id of the last notification event received: the stream "
             "first sends the notifications created after it (up to 200)"},
)  # fmt: skip
def notification_stream():
    """Server-Sent Events: new notifications and the unread count, live."""
    svc, tenant_id, after_id = services(), principal().tenant_id, _last_event_id()
    pubsub = _subscribe(svc, tenant_id)  # before the replay's query: nothing falls in between
    heartbeat = current_app.config["SSE_HEARTBEAT_SECONDS"]
    return Response(
        events(svc, pubsub, tenant_id, heartbeat, after_id),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
