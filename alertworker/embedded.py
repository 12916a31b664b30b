"""The embedded default (SPEC §10): the whole service in one process, no external services.

A SQLite file migrated by Alembic, Celery's in-memory broker with an in-process worker (thread
pool) and beat, and fakeredis for throttles and the live stream: the production code paths
with other URLs. Setting DATABASE_URL, REDIS_URL or BROKER_URL switches that part to the real
service. Each start mints a new token for the local admin (the previous one is revoked), since
only token hashes are stored, and prints it with the URL.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import update
from werkzeug.serving import make_server

from alertworker.auth import create_token, ensure_user
from alertworker.db import make_engine, make_session_factory, migrate, utcnow
from alertworker.models import ApiToken
from alertworker.settings import Settings

log = logging.getLogger(__name__)

LOCAL_TENANT = "local"
LOCAL_ADMIN = "admin@localhost"
SCOPES = "alerts:read,alerts:write,events:write"


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


def run(settings: Settings, host: str, port: int, concurrency: int = 4) -> None:
    """Serve the API on host:port and run a worker with beat in this process until Ctrl-C."""
    from api import create_app
    from tasks import app as celery_app

    if settings.is_sqlite:
        Path(settings.database_url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    print("migrating the database …", flush=True)
    migrate(settings)
    token = local_token(settings)

    server = make_server(host, port, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    url = f"http://{host}:{server.port}"
    print(
        f"\nalertworker is running at {url}  (admin page: {url}/alerts)\n"
        f"tenant {LOCAL_TENANT!r}, user {LOCAL_ADMIN}; API token (new each start):\n{token}\n",
        flush=True,
    )
    var = Path(settings.database_url.split("///", 1)[1]).parent if settings.is_sqlite else Path()
    worker = celery_app.Worker(
        pool="threads",
        concurrency=concurrency,
        beat=True,
        schedule_filename=str(var / "celerybeat-schedule"),
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        quiet=True,
        loglevel="INFO",
    )
    try:
        worker.start()
    finally:
        server.shutdown()
