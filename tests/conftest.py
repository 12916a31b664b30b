"""Shared fixtures: each test run gets its own Postgres database (built by the real migrations)
and its own Redis key prefix, so two runs, or a run beside a live service, never interfere.

Override the servers with TEST_POSTGRES_URL (an admin URL) and TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import create_engine, text

from alertworker.core import models
from alertworker.core.db import Base, make_engine, make_session_factory, migrate
from alertworker.core.settings import Settings

pytest_plugins = ["tests.receivers", "tests.servers", "tests.standins"]

RUN_ID = uuid.uuid4().hex[:10]
ADMIN_PG_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pg_admin(sql: str) -> None:
    engine = create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def bench_leftovers(results: dict) -> tuple[int, list[bytes]]:
    """What a bench run left behind: its private databases still there, its Redis keys."""
    engine = create_engine(ADMIN_PG_URL)
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM pg_database WHERE datname = :n"),
            {"n": results["database"]},
        ).scalar()
    engine.dispose()
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{results['key_prefix']}*"))
    client.close()
    return left or 0, keys


def delete_prefixed_keys(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])


@pytest.fixture(scope="session")
def test_env() -> Iterator[dict[str, str]]:
    """Environment variables describing this run's services; subprocesses get exactly these."""
    dbname = f"alertworker_test_{RUN_ID}"
    _pg_admin(f'CREATE DATABASE "{dbname}"')
    base = ADMIN_PG_URL.rsplit("/", 1)[0]
    env = {
        "DATABASE_URL": f"{base}/{dbname}",
        "REDIS_URL": REDIS_URL,
        "BROKER_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": f"awtest-{RUN_ID}:",
        "OUTBOUND_ALLOWLIST": "127.0.0.1,localhost",
        "DELIVERY_BACKOFF_BASE_SECONDS": "0.2",
        "DELIVERY_BACKOFF_MAX_SECONDS": "2",
        "HTTP_TIMEOUT_SECONDS": "3",
        "PUBLIC_BASE_URL": "http://alerts.example.test",
    }
    migrate(Settings.from_env(env))
    try:
        yield env
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        delete_prefixed_keys(client, env["REDIS_KEY_PREFIX"])
        client.close()
        _pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture(scope="session")
def base_settings(test_env: dict[str, str]) -> Settings:
    return Settings.from_env(test_env)


@pytest.fixture(scope="session")
def engine(base_settings: Settings):
    engine = make_engine(base_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def redis_client(base_settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, protocol=2)
    yield client
    client.close()


@pytest.fixture
def settings(base_settings: Settings, engine, redis_client: redis.Redis) -> Settings:
    """The run's settings, with every table emptied and every key of the run's prefix deleted."""
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    delete_prefixed_keys(redis_client, base_settings.redis_key_prefix)
    return base_settings


@pytest.fixture
def session_factory(settings: Settings, engine):
    return make_session_factory(engine)


@pytest.fixture
def db(session_factory):
    with session_factory() as session:
        yield session


@pytest.fixture
def make_tenant(session_factory):
    """Create a tenant (and optionally a user) and return it."""

    def _make(slug: str = "acme") -> models.Tenant:
        with session_factory() as session:
            tenant = models.Tenant(slug=slug, name=slug.title())
            session.add(tenant)
            session.commit()
            return tenant

    return _make


@pytest.fixture
def make_config(session_factory):
    """Create an alert config (webhook + in-app by default) for a tenant and return it."""

    def _make(tenant: models.Tenant, **overrides) -> models.AlertConfig:
        values = {
            "name": "latency",
            "alert_type": "high_latency",
            "severity": "warning",
            "channels": ["in_app", "webhook"],
            "channel_config": {"webhook": {"url": "http://127.0.0.1:9/hook"}},
            "conditions": {},
        } | overrides
        with session_factory() as session:
            config = models.AlertConfig(tenant_id=tenant.id, **values)
            session.add(config)
            session.commit()
            return config

    return _make


@pytest.fixture
def make_webhook_deliveries(settings, session_factory, redis_client, make_tenant, make_config):
    """Pending webhook deliveries made by the real pipeline: ``n`` alerts of one config to
    ``url`` (tenant ``acme``); returns the delivery ids in order."""

    def _make(url: str = "http://127.0.0.1:9/hook", n: int = 1, **webhook) -> list[int]:
        from alertworker.ingest.pipeline import Pipeline

        config = {"webhook": {"url": url, **webhook}}
        make_config(make_tenant("acme"), channels=["webhook"], cooldown_minutes=0,
                    channel_config=config)  # fmt: skip
        result = Pipeline(settings, session_factory, redis_client).process([
            {"tenant_id": "acme", "alert_type": "high_latency", "title": f"slow {i}",
             "context": {"provider_name": f"p{i}", "latency_ms": 9000}}
            for i in range(n)
        ])  # fmt: skip
        return [p.delivery_id for p in result.deliveries]

    return _make
