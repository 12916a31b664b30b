"""What gateway components import to publish alert events (SPEC §3).

    from alertworker.client import trigger_alert, resolve_alert, AlertPublisher

    trigger_alert(tenant_id="acme", alert_type="high_latency", title="p95 over 5s",
                  context={"provider_name": "openai", "latency_ms": 7200})
    resolve_alert(tenant_id="acme", alert_type="high_latency",     # SPEC §13: it is over
                  context={"provider_name": "openai"})

    with AlertPublisher(broker_url, max_batch=200, linger_ms=20) as pub:   # batching
        for e in storm:
            pub.publish(**e)

Events are validated here with the worker's own schema (bad input raises ``ValidationError``
at the call site; ``alertworker.schemas.fast_events`` gives its result five times faster) and
travel as one Celery task message per batch on ``alerts.events``. A
publish waits for the broker to take the message (publisher confirms on RabbitMQ, the LPUSH
reply on Redis); an unreachable broker raises :class:`PublishError` within ``timeout``-ish
seconds. With no broker URL (no argument, no ``BROKER_URL``) the publisher uses the broker of the
`alertworker run` serving from this working directory (``var/broker.json``), or raises
:class:`PublishError` at once when there is none: never an in-process broker nobody reads. With
``linger_ms`` > 0, events are buffered and flushed by a background thread when
the batch fills or the linger expires, and on ``flush()``/``close()``/exit; a background flush
that fails keeps the events for the next flush, up to ``max_buffer``.

Imports nothing from ``tasks/`` or ``api/``: a gateway installs only this package.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from kombu import Exchange, Queue
from kombu.exceptions import KombuError

from alertworker import local_broker
from alertworker.core.catalog import EVENTS_QUEUE, INGEST_TASK, all_queues
from alertworker.core.settings import Settings
from alertworker.schemas import wire_events

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not take the events (unreachable, refused, timed out)."""


def resolve_broker(broker_url: str | None, key_prefix: str | None = None) -> tuple[str, str]:
    """``(broker URL, key prefix)`` to publish to: the ones given, else ``BROKER_URL`` and
    ``REDIS_KEY_PREFIX``, else the running `alertworker run`'s (with its key prefix, which its
    worker reads); :class:`PublishError` if none."""
    env = Settings.from_env()
    url = broker_url or env.broker_url
    if url:
        return url, key_prefix or env.redis_key_prefix
    try:
        found = local_broker.find()
    except local_broker.NoLocalBroker as exc:
        raise PublishError(str(exc)) from None
    return found.url, found.key_prefix


def broker_transport_options(broker_url: str, key_prefix: str, timeout: float) -> dict[str, Any]:
    """Transport options shared by the publisher and the Celery app (see FIELD-NOTES.md)."""
    if broker_url.startswith(("redis", "rediss")):
        return {
            "global_keyprefix": key_prefix,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "socket_keepalive": True,
            "max_retries": 2,
        }
    if _is_amqp(broker_url):
        return {"confirm_publish": True, "connect_timeout": timeout, "max_retries": 2}
    return {"polling_interval": 0.02}  # the in-process memory:// broker: poll often


def broker_queues(broker_url: str) -> list[Queue]:
    """alertworker's queues as the publisher and the workers declare them on this broker.

    On AMQP they are quorum queues (a publish is confirmed once the message is on disk), each
    behind a topic exchange of its name: Celery routes a countdown on quorum queues through its
    native delayed delivery exchanges, which cannot forward to a direct exchange.
    """
    if not _is_amqp(broker_url):
        return [Queue(name) for name in all_queues()]
    quorum = {"x-queue-type": "quorum"}
    return [
        Queue(name, Exchange(name, type="topic"), routing_key=name, queue_arguments=quorum)
        for name in all_queues()
    ]


def _is_amqp(broker_url: str) -> bool:
    return broker_url.startswith(("amqp", "pyamqp"))


@dataclass(eq=False)  # tickets are told apart by identity
class _Ticket:
    """One caller's events waiting in the group commit, and how it ended for them."""

    events: list[dict[str, Any]]
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # woken to send the queue itself
    error: PublishError | None = None


class AlertPublisher:
    """Publishes events, optionally batched; thread-safe; a context manager that flushes on exit.

    Without ``linger_ms``, concurrent callers (threads, or gevent's greenlets in the API) share
    broker messages: see :meth:`_commit`."""

    def __init__(
        self,
        broker_url: str | None = None,
        *,
        key_prefix: str | None = None,
        max_batch: int = 100,
        linger_ms: float = 0,
        timeout: float = 5.0,
        max_buffer: int = 100_000,
        app: Celery | None = None,
    ) -> None:
        if max_batch < 1 or linger_ms < 0 or max_buffer < max_batch:
            raise ValueError("need max_batch >= 1, linger_ms >= 0, max_buffer >= max_batch")
        if app is None:
            broker_url, key_prefix = resolve_broker(broker_url, key_prefix)
            app = _client_app(broker_url, key_prefix, timeout)
        self.max_batch = max_batch
        self.linger = linger_ms / 1000
        self.max_buffer = max_buffer
        self._app = app
        self._buffer: list[dict[str, Any]] = []
        self._queued: deque[_Ticket] = deque()  # callers waiting to send (group commit)
        self._sending = False
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._flusher: threading.Thread | None = None
        if self.linger:
            self._flusher = threading.Thread(target=self._run, name="alert-publisher", daemon=True)
            self._flusher.start()
            atexit.register(self.close)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> AlertPublisher:
        return cls(settings.broker_url, key_prefix=settings.redis_key_prefix, **kwargs)

    @property
    def celery_app(self) -> Celery:
        """The client Celery app (alertworker's API also sends delivery tasks through it)."""
        return self._app

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, **event: Any) -> str:
        """Validate and publish (or buffer) one event; returns its ``event_id``."""
        return self.publish_many([event])[0]

    def publish_many(
        self, events: Iterable[Mapping[str, Any]], *, internal: bool = False
    ) -> list[str]:
        """Validate and publish (or buffer) events; returns their ``event_id``s in order.

        ``internal=True`` admits the test-only fields (``is_test``, ``config_id``): the API's
        test endpoint uses it. Raises ``marshmallow.ValidationError`` before anything is sent
        when an event is invalid (``messages`` keyed by the event's index for several).
        """
        wire = wire_events(events, internal=internal)  # marshmallow's result, on a fast path
        if not self.linger:
            self._commit(wire)
            return [e["event_id"] for e in wire]
        with self._lock:
            if self._closed:
                raise PublishError("publisher is closed")
            if len(self._buffer) + len(wire) > self.max_buffer:
                raise PublishError(f"buffer full ({self.max_buffer} events): is the broker down?")
            self._buffer.extend(wire)
            if len(self._buffer) >= self.max_batch:
                self._wake.set()
        return [e["event_id"] for e in wire]

    def flush(self) -> None:
        """Send everything buffered now; raises :class:`PublishError` if the broker refuses."""
        while True:
            with self._lock:
                batch = self._buffer[: self.max_batch]
                del self._buffer[: self.max_batch]
            if not batch:
                return
            try:
                self._send(batch)
            except PublishError:
                with self._lock:
                    self._buffer[:0] = batch
                raise

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
            atexit.unregister(self.close)
        self.flush()

    def __enter__(self) -> AlertPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_task(self, name: str, args: list[Any], queue: str) -> None:
        """Send one task by name to ``queue`` (the API hands the deliveries a resolve or an
        acknowledge made to the delivery workers this way); raises :class:`PublishError`."""
        try:
            with self._send_lock, self._app.producer_or_acquire() as producer:
                self._app.send_task(name, args=args, queue=queue, producer=producer)
        except (KombuError, OSError) as exc:
            raise PublishError(f"broker unreachable, task {name} not sent: {exc}") from exc

    # -- internals -----------------------------------------------------------------------------

    def _commit(self, wire: list[dict[str, Any]]) -> None:
        """Send ``wire`` now and return once the broker has confirmed it (group commit).

        Callers that arrive while a send is under way queue up; when it ends, the first of them
        sends the events of every caller queued by then (up to ``max_batch`` a message) and
        wakes each once the message carrying its events is confirmed, or with the error. Alone,
        a call sends at once: there is no linger."""
        ticket = _Ticket(wire)
        with self._lock:
            self._queued.append(ticket)
            leads = not self._sending
            self._sending = True
        if not leads:
            try:
                ticket.done.wait()
            except BaseException:  # interrupted (a timeout, a killed greenlet): leave the queue
                self._abandon(ticket)
                raise
            if not ticket.leads:
                if ticket.error is not None:
                    raise ticket.error
                return
        with self._lock:  # this ticket is the head of the queue: take it and those behind it
            group, size = [self._queued.popleft()], len(wire)
            while self._queued and size + len(self._queued[0].events) <= self.max_batch:
                size += len(self._queued[0].events)
                group.append(self._queued.popleft())
        error: BaseException | None = None
        try:
            events = [e for t in group for e in t.events]
            for i in range(0, len(events), self.max_batch):
                self._send(events[i : i + self.max_batch])
        except BaseException as exc:
            error = exc
            raise
        finally:
            with self._lock:
                heir = self._hand_on()
            for other in group[1:]:
                if error is not None:
                    other.error = (
                        error
                        if isinstance(error, PublishError)
                        else PublishError(f"{len(other.events)} event(s) not sent: {error!r}")
                    )
                other.done.set()
            if heir is not None:
                heir.done.set()

    def _hand_on(self) -> _Ticket | None:
        """(Under the lock.) The next sender, the head of the queue, marked as such; or none."""
        heir = self._queued[0] if self._queued else None
        self._sending = heir is not None
        if heir is not None:
            heir.leads = True
        return heir

    def _abandon(self, ticket: _Ticket) -> None:
        heir = None
        with self._lock:
            if ticket in self._queued:
                self._queued.remove(ticket)
                if ticket.leads:  # it was woken to send the queue: the next one does
                    heir = self._hand_on()
        if heir is not None:
            heir.done.set()

    def _send(self, batch: list[dict[str, Any]]) -> None:
        try:
            with self._send_lock, self._app.producer_or_acquire() as producer:
                self._app.send_task(
                    INGEST_TASK,
                    args=[batch],
                    argsrepr=f"[<{len(batch)} events>]",  # Celery's saferepr: ~0.5 ms/event
                    kwargsrepr="{}",
                    queue=EVENTS_QUEUE,
                    producer=producer,
                    retry=True,
                    retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
                )
        except (KombuError, OSError) as exc:
            raise PublishError(
                f"broker unreachable, {len(batch)} event(s) not sent: {exc}"
            ) from exc

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.linger)
            self._wake.clear()
            deadline = time.monotonic() + self.linger
            while not self._closed and len(self._buffer) < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
                self._wake.clear()
            try:
                self.flush()
            except PublishError as exc:
                log.warning("background flush failed, events kept for the next flush: %s", exc)
                time.sleep(min(self.linger * 10, 1.0))


def _client_app(broker_url: str, key_prefix: str, timeout: float) -> Celery:
    app = Celery("alertworker-client", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        task_queues=broker_queues(broker_url),
        broker_connection_timeout=timeout,
        broker_transport_options=broker_transport_options(broker_url, key_prefix, timeout),
    )
    return app


_default: AlertPublisher | None = None
_default_lock = threading.Lock()


def _default_publisher() -> AlertPublisher:
    global _default
    with _default_lock:
        if _default is None:
            _default = AlertPublisher()
        return _default


def trigger_alert(
    *,
    tenant_id: str,
    alert_type: str,
    title: str,
    message: str = "",
    context: Mapping[str, Any] | None = None,
    severity: str | None = None,
    event_id: str | None = None,
    occurred_at: str | None = None,
) -> str:
    """Publish one event now with a publisher built from the environment; returns its event_id."""
    event: dict[str, Any] = {
        "tenant_id": tenant_id,
        "alert_type": alert_type,
        "title": title,
        "message": message,
        "context": dict(context or {}),
    }
    for key, value in (
        ("severity", severity),
        ("event_id", event_id),
        ("occurred_at", occurred_at),
    ):
        if value is not None:
            event[key] = value
    return _default_publisher().publish(**event)


def resolve_alert(
    *,
    tenant_id: str,
    alert_type: str,
    context: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    occurred_at: str | None = None,
) -> str:
    """Publish a resolve event (SPEC §13): the open alerts of ``alert_type`` whose fingerprint
    the ``context`` gives (each config's ``group_by`` keys) are resolved. Returns its event_id."""
    event: dict[str, Any] = {
        "tenant_id": tenant_id, "alert_type": alert_type, "action": "resolve",
        "context": dict(context or {}),
    }  # fmt: skip
    if event_id is not None:
        event["event_id"] = event_id
    if occurred_at is not None:
        event["occurred_at"] = occurred_at
    return _default_publisher().publish(**event)
