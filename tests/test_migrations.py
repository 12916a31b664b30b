"""`alembic upgrade head` from empty and `downgrade base` both work, on Postgres and SQLite,
and the migrations describe exactly the models."""

import subprocess
import sys
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from alertworker.db import Base, migrate
from alertworker.settings import Settings
from tests.conftest import ADMIN_PG_URL, _pg_admin

TABLES = {
    "tenants",
    "users",
    "api_tokens",
    "alert_configs",
    "alert_notifications",
    "notification_deliveries",
    "alert_throttles",
    "notification_preferences",
    "rejected_events",
}


@pytest.fixture
def empty_pg_url():
    name = f"alertworker_mig_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    yield ADMIN_PG_URL.rsplit("/", 1)[0] + "/" + name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url):
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return names


def test_alembic_cli_up_and_down_on_postgres(empty_pg_url):
    env = {"DATABASE_URL": empty_pg_url, "PATH": "/usr/bin:/bin"}
    alembic = [sys.executable, "-m", "alembic"]
    subprocess.run([*alembic, "upgrade", "head"], env=env, check=True, capture_output=True)
    assert _tables(empty_pg_url) == TABLES
    subprocess.run([*alembic, "downgrade", "base"], env=env, check=True, capture_output=True)
    assert _tables(empty_pg_url) == set()


def test_up_down_up_on_sqlite(tmp_path):
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    migrate(settings)
    assert _tables(settings.database_url) == TABLES
    migrate(settings, "base", down=True)
    assert _tables(settings.database_url) == set()
    migrate(settings)
    assert _tables(settings.database_url) == TABLES


def test_models_match_the_migrations(empty_pg_url):
    settings = Settings.from_env({"DATABASE_URL": empty_pg_url})
    migrate(settings)
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert conn.execute(text("select count(*) from alembic_version")).scalar() == 1
    engine.dispose()
    assert diff == []
