"""Private server processes for fault tests: a redis-server and a PostgreSQL cluster of the
test's own, on free ports, that a test may kill and restart without touching the machine's
services. Fixtures: ``private_redis`` (no persistence: a restart comes back empty) and
``private_postgres`` (initdb into a temporary directory, run as the ``postgres`` user)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.receivers import free_port


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


class PrivateRedis:
    """``redis-server --save "" --appendonly no``: whatever it held is gone after a restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.dir = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.popen: subprocess.Popen | None = None
        self.start()

    def client(self, **options: Any) -> redis.Redis:
        options = {"socket_timeout": 2, "socket_connect_timeout": 0.5} | options
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=2, **options)

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--appendonly", "no"]  # fmt: skip
        log = (self.dir / "redis.log").open("ab")
        self.popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        probe = self.client()
        _wait(lambda: _pings(probe), 10, f"redis-server on {self.port} did not start")
        probe.close()

    def kill(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


class PrivatePostgres:
    """A cluster of its own (trust auth, user ``postgres``) that can be stopped and started."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        directory.mkdir(parents=True, exist_ok=True)
        shutil.chown(directory, "postgres")
        self._as_postgres(["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                           "--no-sync", "-E", "UTF8"])  # fmt: skip
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"
        self.start()

    def start(self) -> None:
        self._as_postgres(["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                           "-o", f"-p {self.port} -k /tmp -c fsync=off", "start"])  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def _as_postgres(self, argv: list[str]) -> None:
        prefix = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        subprocess.run(prefix + argv, check=True, capture_output=True, timeout=120)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    yield server
    server.kill()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    directory = Path(tempfile.mkdtemp(prefix="alertworker-pg-"))  # pytest's tmp is root-only
    try:
        server = PrivatePostgres(directory)
        yield server
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
    finally:
        shutil.rmtree(directory, ignore_errors=True)
