"""`alembic upgrade head` from empty and `downgrade base` both work, on Postgres and SQLite,
and the migrations describe exactly the models."""

import subprocess
import sys
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from alertworker.core.db import Base, migrate
from alertworker.core.settings import Settings
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
    "notification_digests",
    "escalation_policies",
    "oncall_schedules",
    "silences",
    "inhibit_rules",
    "delivery_attempts",
    "endpoint_health",
    "event_trail",
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


def test_trail_model_matches_its_migration_on_sqlite(tmp_path):
    """0007 on SQLite (older tables have SQLite-only differences of their own, not checked);
    the GIN index on ``event_ids`` is Postgres's only (``ddl_if``), which autogenerate ignores."""
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/c.db"})
    migrate(settings)
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    pg_only = [d for d in diff if d[0] == "add_index" and d[1].name == "ix_event_trail_event_ids"]
    assert len(pg_only) == 1
    assert "event_trail" not in repr([d for d in diff if d not in pg_only])


def _empty_url(backend, tmp_path, request):
    if backend == "postgresql":
        return request.getfixturevalue("empty_pg_url")
    return f"sqlite:///{tmp_path}/m.db"


def _seed_0001(url):
    """A tenant, a notification and its in_app + email deliveries, as revision 0001 made them."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, slug, name, config_version, created_at) "
                "VALUES (1, 'acme', 'Acme', 0, '2026-01-01 00:00:00+00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO alert_notifications (id, tenant_id, event_id, alert_type, severity,"
                " title,"
                " message, context, fingerprint, occurrence_count, suppressed_since_last, is_test,"
                " occurred_at, last_occurred_at, triggered_at) VALUES (1, 1, 'e1', 'high_latency',"
                " 'warning', 't', '', '{}', 'fp', 1, 0, false, '2026-01-01 00:00:00+00',"
                " '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
            )
        )
        for channel in ("in_app", "email"):
            conn.execute(
                text(
                    "INSERT INTO notification_deliveries (notification_id, tenant_id, channel,"
                    " status, attempts, created_at, updated_at) VALUES"
                    f" (1, 1, '{channel}', 'pending', 0, '2026-01-01 00:00:00+00',"
                    " '2026-01-01 00:00:00+00')"
                )
            )
    return engine


def _seeded(backend, tmp_path, request, revision):
    """A database of ``backend`` seeded at 0001, then migrated to ``revision``:
    (url, settings, engine)."""
    url = _empty_url(backend, tmp_path, request)
    settings = Settings.from_env({"DATABASE_URL": url})
    migrate(settings, "0001")
    engine = _seed_0001(url)
    migrate(settings, revision)
    return url, settings, engine


def _at_0002_with_seed(backend, tmp_path, request):
    return _seeded(backend, tmp_path, request, "0002")


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_0002_keeps_deliveries_and_makes_them_unique_per_recipient(backend, tmp_path, request):
    url, settings, engine = _seeded(backend, tmp_path, request, "0002")
    insert = text(
        "INSERT INTO notification_deliveries (notification_id, tenant_id, channel, recipient,"
        " status, attempts, created_at, updated_at) VALUES (1, 1, 'email', :r, 'pending', 0,"
        " '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
    )
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT id, channel, recipient, digest_id FROM notification_deliveries ORDER BY id"
            )
        ).all()
        assert [tuple(r) for r in rows] == [(1, "in_app", "", None), (2, "email", "", None)]
        conn.execute(insert, {"r": "a@example.com"})
        conn.execute(insert, {"r": "b@example.com"})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"r": "a@example.com"})

    migrate(settings, "0001", down=True)  # one row per (notification, channel) survives
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, channel FROM notification_deliveries ORDER BY id"))
        assert [tuple(r) for r in rows] == [(1, "in_app"), (2, "email")]
    assert "recipient" not in {
        c["name"] for c in inspect(engine).get_columns("notification_deliveries")
    }
    assert "notification_digests" not in _tables(url)
    engine.dispose()
    migrate(settings)
    assert _tables(url) == TABLES


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_0003_gives_existing_rows_a_state_and_deliveries_a_kind(backend, tmp_path, request):
    url, settings, engine = _seeded(backend, tmp_path, request, "0002")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO alert_notifications (id, tenant_id, event_id, alert_type, severity,"
                " title,"
                " message, context, fingerprint, occurrence_count, suppressed_since_last, is_test,"
                " occurred_at, last_occurred_at, triggered_at, acknowledged_at) VALUES (2, 1, 'e2',"
                " 'high_latency', 'warning', 't', '', '{}', 'fp', 1, 0, false,"
                " '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00',"
                " '2026-01-01 00:01:00+00')"
            )
        )
    migrate(settings, "0003")
    resolve = text(
        "INSERT INTO notification_deliveries (notification_id, tenant_id, channel, recipient,"
        " kind, status, attempts, created_at, updated_at) VALUES (1, 1, :ch, '', :kind,"
        " 'pending', 0, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
    )
    with engine.begin() as conn:
        states = conn.execute(text("SELECT id, state FROM alert_notifications ORDER BY id"))
        assert [tuple(r) for r in states] == [(1, "firing"), (2, "acknowledged")]
        kinds = conn.execute(text("SELECT channel, kind FROM notification_deliveries ORDER BY id"))
        assert [tuple(r) for r in kinds] == [("in_app", "trigger"), ("email", "trigger")]
        conn.execute(resolve, {"ch": "email", "kind": "resolve"})  # same channel, other kind
        conn.execute(resolve, {"ch": "pagerduty", "kind": "trigger"})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(resolve, {"ch": "email", "kind": "resolve"})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(resolve, {"ch": "carrier_pigeon", "kind": "trigger"})

    migrate(settings, "0002", down=True)  # rows the old schema cannot hold are gone
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT channel FROM notification_deliveries ORDER BY id"))
        assert [r[0] for r in rows] == ["in_app", "email"]
    assert "state" not in {c["name"] for c in inspect(engine).get_columns("alert_notifications")}
    engine.dispose()
    migrate(settings)
    assert _tables(url) == TABLES


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_0005_exempts_escalation_rows_from_the_destination_key(backend, tmp_path, request):
    url, settings, engine = _seeded(backend, tmp_path, request, "0005")
    columns = "notification_id, tenant_id, channel, recipient, kind, status, attempts"
    values = "1, 1, 'email', '', :kind, 'pending', 0"
    times = "'2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00'"
    ordinary = text(f"INSERT INTO notification_deliveries ({columns}, created_at, updated_at)"
                    f" VALUES ({values}, {times})")  # fmt: skip
    escalated = text(f"INSERT INTO notification_deliveries ({columns}, escalation_step,"
                     f" created_at, updated_at) VALUES ({values}, :step, {times})")  # fmt: skip
    with engine.begin() as conn:  # the same destination again, by steps 1, 1 and 2
        for step in (1, 1, 2):
            conn.execute(escalated, {"kind": "escalation", "step": step})
        conn.execute(ordinary, {"kind": "resolve"})  # another kind, the same destination
    for kind in ("trigger", "resolve"):  # an ordinary row stays one per destination and kind
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(ordinary, {"kind": kind})
    migrate(settings, "0003", down=True)  # escalation rows go, 0003's key comes back
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT channel, kind FROM notification_deliveries ORDER BY id"))
        assert [tuple(r) for r in rows] == [
            ("in_app", "trigger"),
            ("email", "trigger"),
            ("email", "resolve"),
        ]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(ordinary, {"kind": "resolve"})
    assert "escalation_step" not in {
        c["name"] for c in inspect(engine).get_columns("notification_deliveries")
    }
    engine.dispose()
    migrate(settings)
    assert _tables(url) == TABLES


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_0006_admits_delivery_failing_and_downgrade_removes_it(backend, tmp_path, request):
    """0006 rewrites the alert_type checks on top of 0003's channel and kind checks: both hold
    after upgrade and downgrade, and the deliveries of the retyped notifications survive."""
    url, settings, engine = _at_0002_with_seed(backend, tmp_path, request)
    migrate(settings, "0003")
    insert = text(
        "INSERT INTO alert_notifications (tenant_id, event_id, alert_type, severity, title,"
        " message, context, fingerprint, occurrence_count, suppressed_since_last, is_test,"
        " occurred_at, last_occurred_at, triggered_at) VALUES (1, :e, :t, 'error', 't', '',"
        " '{}', 'fp', 1, 0, false, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00',"
        " '2026-01-01 00:00:00+00')"
    )
    delivery = text(
        "INSERT INTO notification_deliveries (notification_id, tenant_id, channel, recipient,"
        " kind, status, attempts, created_at, updated_at) VALUES (1, 1, :ch, '', :kind,"
        " 'failed', 1, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
    )
    deliveries = text("SELECT channel, kind FROM notification_deliveries ORDER BY id")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"e": "e2", "t": "delivery_failing"})
    with engine.begin() as conn:
        conn.execute(delivery, {"ch": "pagerduty", "kind": "resolve"})
    kept = [("in_app", "trigger"), ("email", "trigger"), ("pagerduty", "resolve")]

    migrate(settings, "0006")
    with engine.begin() as conn:
        conn.execute(insert, {"e": "e2", "t": "delivery_failing"})
        assert [tuple(r) for r in conn.execute(deliveries)] == kept
        conn.execute(delivery, {"ch": "sms", "kind": "acknowledge"})
    for bad in ({"ch": "carrier_pigeon", "kind": "trigger"}, {"ch": "sms", "kind": "nudge"}):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(delivery, bad)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"e": "e3", "t": "no_such_type"})

    migrate(settings, "0003", down=True)
    with engine.begin() as conn:
        types = conn.execute(text("SELECT alert_type FROM alert_notifications ORDER BY id"))
        assert [t for (t,) in types] == ["high_latency"]
        assert [tuple(r) for r in conn.execute(deliveries)] == [*kept, ("sms", "acknowledge")]
        states = conn.execute(text("SELECT state FROM alert_notifications"))
        assert [s for (s,) in states] == ["firing"]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"e": "e2", "t": "delivery_failing"})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(delivery, {"ch": "carrier_pigeon", "kind": "trigger"})
    assert not {"delivery_attempts", "endpoint_health"} & _tables(url)
    engine.dispose()
    migrate(settings)
    assert _tables(url) == TABLES


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_upgrade_and_downgrade_keep_what_refers_to_configs(backend, tmp_path, request):
    """On SQLite a batch recreates its table, and dropping a parent with foreign keys on
    cascades: no migration may do that to alert_configs or alert_notifications."""
    url, settings, engine = _at_0002_with_seed(backend, tmp_path, request)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO alert_configs (id, tenant_id, name, alert_type, severity, is_active,"
                " channels, channel_config, cooldown_minutes, max_alerts_per_hour, group_similar,"
                " group_by, conditions, created_at, updated_at) VALUES (1, 1, 'c', 'high_latency',"
                " 'warning', true, '[]', '{}', 0, 1, true, '[]', '{}', '2026-01-01 00:00:00+00',"
                " '2026-01-01 00:00:00+00')"
            )
        )
        conn.execute(text("UPDATE alert_notifications SET config_id = 1"))
        conn.execute(
            text(
                "INSERT INTO alert_throttles (config_id, fingerprint, sent_count, suppressed_count,"
                " updated_at) VALUES (1, 'fp', 1, 0, '2026-01-01 00:00:00+00')"
            )
        )
    kept = [
        "SELECT config_id FROM alert_notifications",
        "SELECT config_id FROM alert_throttles",
        "SELECT count(*) FROM notification_deliveries",
    ]
    for revision, down in (("head", False), ("0002", True)):
        migrate(settings, revision, down=down)
        with engine.connect() as conn:
            assert [conn.execute(text(q)).scalar() for q in kept] == [1, 1, 2], revision
    engine.dispose()
