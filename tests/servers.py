"""Private Redis and Postgres servers for fault tests: each on its own free port and in its own
temporary directory, so a test can SIGKILL or restart them without touching the machine's
services. Fixtures: ``private_redis`` (no persistence: a restart comes back empty) and
``private_postgres``.

- :class:`RedisServer`: ``redis-server`` with AOF on (``appendfsync everysec``) and no RDB
  snapshots, like the compose file's (or, ``persistent=False``, nothing kept at all).
  :meth:`~RedisServer.restart` is a clean restart (SIGTERM: Redis flushes its AOF and exits);
  :meth:`~RedisServer.crash` is ``kill -9`` then a start on the same port and directory, so the
  AOF replays what reached it.
- :func:`rabbitmq_vhost`: a private vhost on the machine's RabbitMQ (deleted afterwards).
- :class:`PostgresServer`: ``initdb`` into a temporary directory as the ``postgres`` user (when
  run as root), ``pg_ctl start`` on its own port and socket directory; :meth:`restart` takes
  ``pg_ctl``'s shutdown mode (``fast``, or ``immediate``: a crash and WAL recovery).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.processes import wait_for
from tests.receivers import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class RedisServer:
    def __init__(self, persistent: bool = True) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="aw-redis-"))
        self.persistent = persistent
        self.url = self.db_url(0)
        self.popen: subprocess.Popen[bytes] | None = None
        self.start()

    def db_url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, **options: Any) -> redis.Redis:
        options = {"socket_timeout": 5, "socket_connect_timeout": 1} | options
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=2, **options)

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.dir), "--save", "", "--maxmemory-policy", "noeviction"]
        args += ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persistent else []
        with (self.dir / "redis.log").open("ab") as log:
            self.popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._answers, 30, lambda: (self.dir / "redis.log").read_text())

    def _answers(self) -> bool:
        try:
            with self.client() as c:
                return bool(c.ping())
        except redis.RedisError:  # still loading the AOF, or not listening yet
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=30)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        """A clean restart: SIGTERM (Redis writes and fsyncs its AOF), then start again."""
        self.stop(signal.SIGTERM)
        self.start()

    def crash(self, down_for: float = 0.5) -> None:
        """``kill -9``, then a start on the same port and directory (the AOF replays)."""
        self.stop(signal.SIGKILL)
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="aw-pg-"))
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "sock"
        self.socket_dir.mkdir()
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to postgres
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")
        self.url = self.database_url("postgres")
        self.start()

    def database_url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._ctl("start")

    def stop(self, mode: str = "immediate") -> None:
        self._ctl("stop", "-m", mode)

    def _run(self, program: str, *args: object) -> None:
        argv = [str(PG_BIN / program), *map(str, args)]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def _ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", action, "-D", self.data, "-w", "-t", "60", "-l",
                  self.dir / "postgres.log", "-o", options, *args)  # fmt: skip

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m fast`` (clean) or ``-m immediate`` (a crash: WAL recovery)."""
        self._ctl("restart", "-m", mode)

    def close(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer(persistent=False)
    yield server
    server.close()


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.close()


RABBITMQCTL = ["rabbitmqctl", "-q"]


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """The URL of a new vhost on the local RabbitMQ (guest/guest), deleted on exit."""
    vhost = f"awtest-{uuid.uuid4().hex[:8]}"
    subprocess.run([*RABBITMQCTL, "add_vhost", vhost], check=True, timeout=60)
    subprocess.run([*RABBITMQCTL, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, timeout=60)  # fmt: skip
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run([*RABBITMQCTL, "delete_vhost", vhost], check=False, timeout=60)


def rabbitmq_messages(broker_url: str) -> dict[str, int]:
    """Messages per queue of the URL's vhost, ready and unacknowledged together."""
    vhost = broker_url.rsplit("/", 1)[1]
    out = subprocess.run([*RABBITMQCTL, "list_queues", "-p", vhost, "name", "messages"],
                         check=True, timeout=60, capture_output=True, text=True).stdout  # fmt: skip
    rows = (line.split("\t") for line in out.splitlines() if "\t" in line)
    return {name: int(count) for name, count in rows if count.isdigit()}
