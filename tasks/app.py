"""The Celery application and the per-process runtime (engine, Redis, pipeline) its tasks use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from celery import Celery
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from alertworker.db import make_engine, make_session_factory
from alertworker.pipeline import Pipeline
from alertworker.redis_conn import make_redis
from alertworker.settings import Settings, load

app = Celery("alertworker")
app.config_from_object("celeryconfig")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker
    redis: Any
    pipeline: Pipeline
    pid: int


_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This process's runtime, built on first use (after the prefork fork, never before)."""
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        settings = load()
        engine = make_engine(settings)
        session_factory = make_session_factory(engine)
        redis = make_redis(settings)
        _runtime = Runtime(
            settings,
            engine,
            session_factory,
            redis,
            Pipeline(settings, session_factory, redis),
            os.getpid(),
        )
    return _runtime
