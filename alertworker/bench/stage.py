"""The benchmark's private world: its own database, Redis key prefix, receiver and workers.

:class:`Stage` creates ``alertworker_bench_<random>`` from the admin URL, migrates it with the
real migrations, picks the key prefix ``awbench-<random>:`` (broker queues included, since the
broker's keys carry the prefix too), starts the webhook receiver, and on exit (normal, error or
Ctrl-C) stops every worker it started, drops the database and deletes the prefix's keys. A live
service's data is never touched. The in-process mode needs a Redis broker (it reads queue
lengths with ``LLEN``); the HTTP mode (:mod:`alertworker.bench.http`) may pass an AMQP URL
instead, and gets a private RabbitMQ vhost (``awbench-<random>``, made and deleted with
``rabbitmqctl``), as the test suite does. The bench's own connections are named
``alertworker-bench`` (``application_name``), so Postgres's CPU can be counted without them.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from celery import Celery
from sqlalchemy import create_engine, make_url, text

from alertworker.bench.procs import Worker, worker_argv
from alertworker.bench.receiver import Receiver
from alertworker.client import AlertPublisher, broker_transport_options
from alertworker.core import models
from alertworker.core.catalog import EVENTS_QUEUE
from alertworker.core.db import make_engine, make_session_factory, migrate
from alertworker.core.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stage:
    def __init__(
        self,
        admin_url: str,
        redis_url: str,
        compose_file: Path,
        workers: int,
        keep_logs: bool = False,
        announce: bool = False,
        broker_url: str | None = None,
        migrate_db: bool = True,
    ) -> None:
        self.run_id = uuid.uuid4().hex[:10]
        self.dbname = f"alertworker_bench_{self.run_id}"
        self.admin_url = Settings.from_env({"DATABASE_URL": admin_url}).database_url
        self.argv = worker_argv(compose_file, workers)
        self.concurrency = workers
        self.env = {
            "DATABASE_URL": make_url(self.admin_url)
            .set(database=self.dbname)
            .render_as_string(hide_password=False),
            "REDIS_URL": redis_url,
            "BROKER_URL": redis_url if broker_url is None else broker_url,
            "REDIS_KEY_PREFIX": f"awbench-{self.run_id}:",
            "OUTBOUND_ALLOWLIST": "127.0.0.1",
        }
        self.vhost: str | None = None
        if self.env["BROKER_URL"].startswith("amqp"):
            self.vhost = f"awbench-{self.run_id}"
            self.env["BROKER_URL"] = (
                urlsplit(self.env["BROKER_URL"])._replace(path=f"/{self.vhost}").geturl()
            )
        self.migrate_db = migrate_db
        self.settings = Settings.from_env(self.env)
        self.prefix = self.settings.redis_key_prefix
        self.workers: list[Worker] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="alertworker-bench-"))
        self.keep_logs = keep_logs
        self.announce = announce
        self._created_db = False
        self._created_vhost = False
        self.redis = redis.Redis.from_url(redis_url, protocol=2, socket_timeout=10)
        self.engine: Any = None
        self._receiver: Receiver | None = None

    @property
    def receiver(self) -> Receiver:
        """The webhook receiver, there from ``__enter__`` until ``close``."""
        if self._receiver is None:
            raise RuntimeError("the stage is not entered")
        return self._receiver

    # -- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> Stage:
        try:
            self.redis.ping()
            self._admin(f'CREATE DATABASE "{self.dbname}"')
            self._created_db = True
            if self.vhost is not None:
                self._rabbitmqctl("add_vhost", self.vhost)
                self._created_vhost = True
                self._rabbitmqctl("set_permissions", "-p", self.vhost, self._amqp_user(),
                                  ".*", ".*", ".*")  # fmt: skip
            if self.migrate_db:
                migrate(self.settings)
            own = make_url(self.env["DATABASE_URL"]).update_query_dict(
                {"application_name": "alertworker-bench"}
            )
            self.engine = make_engine(
                Settings.from_env({"DATABASE_URL": own.render_as_string(hide_password=False)})
            )
            self.session_factory = make_session_factory(self.engine)
            self._receiver = Receiver()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, _tb: object) -> None:
        self.keep_logs = self.keep_logs or exc_type is not None
        self.close()
        if exc_type is not None:
            print(f"bench: worker logs kept in {self.tmp}", file=sys.stderr)

    def close(self) -> None:
        """Stop what was started, drop the database, delete the keys: every step is tried, and
        a second Ctrl-C cannot interrupt them."""
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            for step in (
                self._stop_workers,
                self._stop_receiver,
                self._drop_database,
                self._delete_keys,
                self._delete_vhost,
            ):
                try:
                    step()
                except Exception as exc:  # go on with the rest; say what is left behind
                    print(f"bench cleanup: {step.__name__} failed: {exc}", file=sys.stderr)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if not self.keep_logs:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _stop_workers(self) -> None:
        while self.workers:
            self.workers.pop().stop()

    def _stop_receiver(self) -> None:
        if self._receiver is not None:
            self._receiver.stop()
            self._receiver = None

    def _drop_database(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
        if self._created_db:
            self._admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            self._created_db = False

    def _delete_keys(self) -> None:
        keys = list(self.redis.scan_iter(match=f"{self.prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            self.redis.delete(*keys[i : i + 500])
        self.redis.close()

    def _delete_vhost(self) -> None:
        if self._created_vhost and self.vhost is not None:
            self._rabbitmqctl("delete_vhost", self.vhost)
            self._created_vhost = False

    def _amqp_user(self) -> str:
        return urlsplit(self.env["BROKER_URL"]).username or "guest"

    @staticmethod
    def _rabbitmqctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=120,
                       capture_output=True)  # fmt: skip

    def _admin(self, sql: str) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()

    # -- workers and queues ---------------------------------------------------------------------

    @contextmanager
    def worker(self, name: str) -> Iterator[Worker]:
        """A worker started with the compose command (metrics on, as in compose), stopped after.

        Yielded at once, not when ready: the phases time from its first consumption.
        """
        metrics_dir = self.tmp / f"prometheus-{name}"
        metrics_dir.mkdir()
        env = {
            **self.env,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "WORKER_METRICS_PORT": str(_free_port()),
        }
        worker = Worker(self.argv, env, self.tmp / f"worker-{name}.log")
        self.workers.append(worker)
        if self.announce:
            print(f"worker {name}: pid {worker.pid}, log {worker.log}", file=sys.stderr)
        try:
            yield worker
        finally:
            worker.stop()
            if worker in self.workers:
                self.workers.remove(worker)

    def queue_length(self, queue: str = EVENTS_QUEUE) -> int:
        return int(self.redis.llen(f"{self.prefix}{queue}"))

    def celery_client(self) -> Celery:
        """A bare publishing app on the bench's broker, like the client's own."""
        app = Celery("alertworker-bench", broker=self.settings.broker_url, set_as_current=False)
        app.conf.update(
            task_serializer="json",
            broker_transport_options=broker_transport_options(
                self.settings.broker_url, self.prefix, 10
            ),
        )
        return app

    def publisher(self, max_batch: int) -> AlertPublisher:
        return AlertPublisher(
            self.settings.broker_url, key_prefix=self.prefix, max_batch=max_batch, linger_ms=0
        )

    # -- rows -----------------------------------------------------------------------------------

    def make_config(self, slug: str, alert_type: str, **overrides: Any) -> int:
        """A tenant ``slug`` with one active config (in-app + webhook to the receiver); its id."""
        assert self.receiver is not None
        values: dict[str, Any] = {
            "name": f"bench {slug}",
            "alert_type": alert_type,
            "severity": "error",
            "channels": ["in_app", "webhook"],
            "channel_config": {"webhook": {"url": self.receiver.url}},
            "cooldown_minutes": 60,
            "max_alerts_per_hour": 10_000,
            "group_by": ["provider_name"],
            "conditions": {},
        } | overrides
        with self.session_factory() as session:
            tenant = models.Tenant(slug=slug, name=slug)
            session.add(tenant)
            session.flush()
            config = models.AlertConfig(tenant_id=tenant.id, **values)
            session.add(config)
            session.commit()
            return config.id

    def server_versions(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            postgres = conn.execute(text("SHOW server_version")).scalar_one()
        return {"postgres": str(postgres), "redis": str(self.redis.info("server")["redis_version"])}
