"""The embedded default (SPEC §10): the whole service in one process, no external services.

A SQLite file migrated by Alembic, a worker (thread pool) with beat in this process, fakeredis
for throttles and the live stream, and, as the broker, fakeredis's TCP server on 127.0.0.1: the
production Redis transport, which other processes of the machine reach at the printed
``BROKER_URL`` or, from the same working directory, through ``var/broker.json``
(:mod:`alertworker.local_broker`). What its queues still hold at a clean exit (Ctrl-C, SIGTERM)
is kept in ``var/broker-backlog.json`` and queued again at the next start; a ``kill -9`` loses
it. Setting DATABASE_URL, REDIS_URL or BROKER_URL switches that part to the real service.

Each start mints a new token for the local admin of tenant ``acme`` (the README's examples'
tenant; the previous token is revoked), since only token hashes are stored, and prints it with
the URL. Without ``OUTBOUND_ALLOWLIST``, the embedded run allows loopback hosts, so webhooks to
a local receiver work; production settings never get this default.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from kombu.utils.url import maybe_sanitize_url
from sqlalchemy import update
from werkzeug.serving import make_server

from alertworker import local_broker
from alertworker.core.catalog import all_queues
from alertworker.core.db import make_engine, make_session_factory, migrate, utcnow
from alertworker.core.models import ApiToken
from alertworker.core.settings import Settings, data_dir, load
from alertworker.tenants.auth import create_token, ensure_user

log = logging.getLogger(__name__)

LOCAL_TENANT = "acme"
LOCAL_ADMIN = "admin@localhost"
SCOPES = "alerts:read,alerts:write,events:write"
LOOPBACK = "127.0.0.1,localhost,::1"
BACKLOG = "broker-backlog.json"


def local_token(settings: Settings) -> str:
    """A new full-scope token for the local admin; earlier ones of that admin are revoked."""
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            user = ensure_user(session, LOCAL_TENANT, LOCAL_ADMIN)
            session.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            session.commit()
            return create_token(session, LOCAL_TENANT, LOCAL_ADMIN, SCOPES)[1]
    finally:
        engine.dispose()


class EmbeddedBroker:
    """fakeredis's TCP server on 127.0.0.1:``port`` (0: any free port), serving in a thread."""

    def __init__(self, key_prefix: str, port: int = 0) -> None:
        import fakeredis

        self.server = fakeredis.TcpFakeServer(("127.0.0.1", port))
        self.url = f"redis://127.0.0.1:{self.server.server_address[1]}/0"
        self.key_prefix = key_prefix
        self.redis: Any = fakeredis.FakeRedis(server=self.server.fake_server)
        threading.Thread(target=self.server.serve_forever, name="broker", daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def save_backlog(self, file: Path) -> int:
        """Write what the queues hold (and any unacknowledged message) to ``file``; the count."""
        queues: dict[str, list[str]] = {}
        for queue in all_queues():
            items = [i.decode() for i in self.redis.lrange(self.key_prefix + queue, 0, -1)]
            if items:
                queues[queue] = items
        for raw in self.redis.hvals(self.key_prefix + "unacked"):
            message, _exchange, routing_key = json.loads(raw)
            queues.setdefault(routing_key, []).append(json.dumps(message))  # taken next
        count = sum(map(len, queues.values()))
        if count:
            file.write_text(json.dumps(queues))
        return count

    def load_backlog(self, file: Path) -> int:
        """Queue again what :meth:`save_backlog` kept (the oldest is taken first); the count."""
        if not file.exists():
            return 0
        queues = json.loads(file.read_text())
        for queue, items in queues.items():
            self.redis.rpush(self.key_prefix + queue, *items)
        file.unlink()
        return sum(map(len, queues.values()))


def _defaults(settings: Settings) -> dict[str, str]:
    """The embedded default's own defaults, for variables left unset: none once a real service
    is configured (a production setting never allows loopback by default)."""
    embedded = not settings.broker_url and settings.embedded_redis and settings.is_sqlite
    return {"OUTBOUND_ALLOWLIST": LOOPBACK} if embedded and not settings.outbound_allowlist else {}


def run(
    settings: Settings, host: str, port: int, concurrency: int = 4, broker_port: int = 0
) -> None:
    """Serve the API on host:port, a broker (without BROKER_URL) and a worker with beat in this
    process until Ctrl-C or SIGTERM."""
    var = data_dir()
    var.mkdir(parents=True, exist_ok=True)
    broker: EmbeddedBroker | None = None
    if not settings.broker_url:
        other = local_broker.read(var)
        if other is not None and other.pid != os.getpid() and local_broker.alive(other.pid):
            raise RuntimeError(
                f"another `alertworker run` (pid {other.pid}) serves from {var}: stop it first, "
                "or run this one with another ALERTWORKER_DATA_DIR"
            )
        broker = EmbeddedBroker(settings.redis_key_prefix, broker_port)
    try:
        _serve(settings, host, port, concurrency, broker, var)
    finally:
        if broker is not None:
            local_broker.remove(os.getpid(), var)
            broker.stop()
            kept = broker.save_backlog(var / BACKLOG)
            if kept:
                print(f"{kept} message(s) not processed yet kept in {var / BACKLOG}", flush=True)


def _serve(
    settings: Settings,
    host: str,
    port: int,
    concurrency: int,
    broker: EmbeddedBroker | None,
    var: Path,
) -> None:
    # Every part of this process (API, worker, beat) reads its settings from the environment.
    defaults = _defaults(settings)
    os.environ.update(defaults | ({"BROKER_URL": broker.url} if broker else {}))
    settings = load()

    from api import create_app
    from tasks import app as celery_app

    if settings.is_sqlite:
        Path(settings.database_url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    print("migrating the database …", flush=True)
    migrate(settings)
    token = local_token(settings)
    server = make_server(host, port, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    try:
        if broker is not None:
            restored = broker.load_backlog(var / BACKLOG)
            if restored:
                print(f"{restored} message(s) kept at the last exit queued again", flush=True)
            announced = local_broker.LocalBroker(broker.url, settings.redis_key_prefix, os.getpid())
            local_broker.write(announced, var)
        url = f"http://{host}:{server.port}"
        print(
            f"\nalertworker is running at {url}  (admin page: {url}/alerts)\n"
            f"tenant {LOCAL_TENANT!r}, user {LOCAL_ADMIN}; API token (new each start):\n{token}\n"
            + _broker_line(settings, broker is not None, var)
            + f"outbound allow-list: {','.join(settings.outbound_allowlist) or 'none'}"
            + (" (the embedded default: local receivers allowed)\n" if defaults else "\n"),
            flush=True,
        )
        celery_app.Worker(
            pool="threads",
            concurrency=concurrency,
            beat=True,
            schedule_filename=str(var / "celerybeat-schedule"),
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            quiet=True,
            loglevel="INFO",
        ).start()
    finally:
        server.shutdown()


def _broker_line(settings: Settings, embedded: bool, var: Path) -> str:
    prefix = settings.redis_key_prefix
    line = f"clients publish with BROKER_URL={maybe_sanitize_url(settings.broker_url)}"
    if prefix != Settings.redis_key_prefix:
        line += f" REDIS_KEY_PREFIX={prefix}"
    if embedded:
        line += f"\n  (or with none, from this directory: {var / local_broker.FILE_NAME})"
    return line + "\n"
