"""The Celery application and the per-process runtime (engine, Redis, pipeline) its tasks use."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from celery import Celery, current_task, signals
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from alertworker.core import logs
from alertworker.core.db import make_engine, make_session_factory
from alertworker.core.redis_conn import make_redis
from alertworker.core.settings import Settings, load
from alertworker.ingest.pipeline import Pipeline

app = Celery("alertworker")
app.config_from_object("celeryconfig")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker
    delivery_sessions: sessionmaker  # delivery bookkeeping: commits without the fsync wait
    redis: Any
    pipeline: Pipeline
    pid: int


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()  # the delivery service's pool is threads (docker-compose.yml)


def runtime() -> Runtime:
    """This process's runtime, built on first use (after the prefork fork, never before)."""
    global _runtime
    with _runtime_lock:  # one per process, also when the first tasks start in several threads
        if _runtime is None or _runtime.pid != os.getpid():
            settings = load()
            engine = make_engine(settings, pre_ping=False)
            session_factory = make_session_factory(engine)
            relaxed = make_engine(settings, pre_ping=False, relaxed_commit=True)
            redis = make_redis(settings)
            _runtime = Runtime(
                settings,
                engine,
                session_factory,
                make_session_factory(relaxed),
                redis,
                Pipeline(settings, session_factory, redis),
                os.getpid(),
            )
        return _runtime


def _warm_up() -> None:
    """Build the runtime before the first task (imports and engines: ~0.1 s), not in it."""
    try:
        runtime()
    except Exception as exc:  # the first task builds it again and reports what is wrong
        logging.getLogger(__name__).warning("runtime not built at start: %s", exc)


@signals.worker_process_init.connect  # in each prefork child (and the solo pool's process)
def _warm_up_process(**_: Any) -> None:
    _warm_up()


@signals.worker_ready.connect  # the threads pool runs its tasks in the worker's own process
def _warm_up_threads(sender: Any = None, **_: Any) -> None:
    from celery.concurrency.thread import TaskPool as ThreadPool

    if isinstance(getattr(sender, "pool", None), ThreadPool):
        _warm_up()


class TaskContext(logging.Filter):
    """Puts the running task's id and name on every log record of a worker."""

    def filter(self, record: logging.LogRecord) -> bool:
        if current_task and current_task.request.id:
            record.task_id = current_task.request.id
            record.task_name = current_task.name
        return True


@signals.setup_logging.connect
def _setup_logging(loglevel: Any = None, **_: Any) -> None:
    logs.configure(load(), loglevel or logging.INFO, TaskContext())


@signals.worker_init.connect
def _serve_metrics(**_: Any) -> None:
    """Serve /metrics from the worker's main process, summing its pool children's metrics."""
    port = load().worker_metrics_port
    if not port:
        return
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, registry=registry)


@signals.worker_process_shutdown.connect
def _forget_child_metrics(pid: int | None = None, **_: Any) -> None:
    if pid and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_the_in_process_broker(**_: Any) -> None:
    """A worker or beat on Celery's in-process broker would run and reach nobody: no other
    process can use it. Without ``BROKER_URL`` they exit at once, saying so (``alertworker run``
    sets one for its own)."""
    if str(app.conf.broker_url).startswith("memory://"):
        raise SystemExit(
            "BROKER_URL is not set: on the in-process broker no other process can reach this "
            "one. Set BROKER_URL to the broker the API and the gateways publish to, or use "
            "`alertworker run`."
        )
