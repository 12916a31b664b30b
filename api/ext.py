"""The app's shared services (settings, database, Redis, publisher) and the per-request session.

Built once per app by :func:`api.create_app`; views reach them through :func:`services` and
:func:`db`. Redis and the publisher are created on first use, so an app starts (and answers
``/healthz``) while they are down.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from alertworker.client import AlertPublisher, PublishError
from alertworker.core.catalog import delivery_queue, delivery_task
from alertworker.core.db import make_engine, make_session_factory
from alertworker.core.redis_conn import make_redis
from alertworker.core.settings import Settings
from alertworker.delivery.deliveries import Pending
from alertworker.paging import lifecycle
from alertworker.tenants.auth import TokenCache

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker
    tokens: TokenCache
    _redis: Any = None
    _publisher: AlertPublisher | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        engine = make_engine(settings)
        tokens = TokenCache(settings.token_cache_seconds)
        return cls(settings, engine, make_session_factory(engine), tokens)

    @property
    def redis(self) -> Any:
        with self._lock:
            if self._redis is None:
                self._redis = make_redis(self.settings)
            return self._redis

    @property
    def publisher(self) -> AlertPublisher:
        with self._lock:
            if self._publisher is None:
                self._publisher = AlertPublisher.from_settings(self.settings, timeout=3.0)
            return self._publisher

    def after_commit(self, resolved: list[lifecycle.Resolved], pending: list[Pending]) -> None:
        """What follows a committed resolve or acknowledge: its effects outside the database,
        and its deliveries handed to the workers (if the broker refuses, the sweeper sends
        them once their lease expires)."""
        lifecycle.after_commit(self.redis, self.settings, resolved)
        by_channel: dict[str, list[int]] = {}
        for channel, _, delivery_id in pending:
            by_channel.setdefault(channel, []).append(delivery_id)
        for channel, ids in by_channel.items():
            try:
                self.publisher.send_task(delivery_task(channel), [ids], delivery_queue(channel))
            except PublishError as exc:
                log.warning("%d %s deliveries left to the sweeper: %s", len(ids), channel, exc)

    def close(self) -> None:
        """Release connections (tests and shutdown)."""
        if self._publisher is not None:
            self._publisher.close()
        if self._redis is not None:
            self._redis.close()
        self.engine.dispose()


def services() -> Services:
    return current_app.extensions["alertworker"]


def db() -> Session:
    """This request's database session, closed when the request ends."""
    if "db" not in g:
        g.db = services().session_factory()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
