"""SPEC §5: any number of concurrent workers let exactly one of N identical events through,
also with Redis away or back empty (Postgres's row lock on the alert's summary serialises them).

Four processes, each with its own Postgres and Redis connections, race the same events through
the real pipeline, released together by a barrier.
"""

import multiprocessing
import threading
import uuid

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select, text

from alertworker.core.db import make_engine, make_session_factory
from alertworker.core.models import AlertNotification, AlertThrottle, User
from alertworker.core.settings import Settings
from alertworker.ingest.pipeline import Pipeline
from alertworker.tenants import notifications

PROCESSES = 4


def _race(env, events, batch, barrier):
    settings = Settings.from_env(env)
    engine = make_engine(settings)
    client = redis.Redis.from_url(env["REDIS_URL"], protocol=2, retry=Retry(NoBackoff(), 0))
    pipeline = Pipeline(settings, make_session_factory(engine), client)
    barrier.wait(timeout=60)
    for i in range(0, len(events), batch):
        pipeline.process(events[i : i + batch])
    engine.dispose()


def _run(test_env, events, batch):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    procs = [
        ctx.Process(target=_race, args=(test_env, events[i::PROCESSES], batch, barrier))
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0] * PROCESSES


def _events(n, fingerprints):
    return [
        {
            "event_id": str(uuid.uuid4()),
            "tenant_id": "acme",
            "alert_type": "circuit_breaker_opened",
            "title": "circuit opened",
            "context": {"provider_name": f"p{i % fingerprints}", "consecutive_failures": 5},
        }
        for i in range(n)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 20])
def test_1000_identical_events_from_4_processes_yield_one_notification(
    test_env, settings, make_tenant, make_config, db, batch
):
    config = make_config(
        make_tenant("acme"), alert_type="circuit_breaker_opened", max_alerts_per_hour=10_000
    )
    _run(test_env, _events(1000, 1), batch)
    assert db.scalar(select(func.count()).select_from(AlertNotification)) == 1
    summary = db.scalars(select(AlertThrottle).where(AlertThrottle.config_id == config.id)).one()
    assert (summary.sent_count, summary.sent_count + summary.suppressed_count) == (1, 1000)


@pytest.mark.slow
def test_1000_events_over_50_fingerprints_yield_exactly_50(
    test_env, settings, make_tenant, make_config, db
):
    make_config(
        make_tenant("acme"), alert_type="circuit_breaker_opened", max_alerts_per_hour=10_000
    )
    _run(test_env, _events(1000, 50), 5)
    fingerprints = db.execute(
        select(AlertNotification.fingerprint, func.count()).group_by(AlertNotification.fingerprint)
    ).all()
    assert len(fingerprints) == 50 and all(n == 1 for _, n in fingerprints)
    totals = db.execute(
        select(func.sum(AlertThrottle.sent_count), func.sum(AlertThrottle.suppressed_count))
    ).one()
    assert tuple(totals) == (50, 950)


@pytest.mark.slow
def test_with_redis_away_then_back_empty_racing_processes_notify_an_alert_once(
    test_env, settings, make_tenant, make_config, db, private_redis, closed_port
):
    config = make_config(
        make_tenant("acme"), alert_type="circuit_breaker_opened", max_alerts_per_hour=10_000
    )
    _run({**test_env, "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}, _events(200, 1), 10)
    assert db.scalar(select(func.count()).select_from(AlertNotification)) == 1
    _run({**test_env, "REDIS_URL": private_redis.url}, _events(200, 1), 10)  # Redis empty
    assert db.scalar(select(func.count()).select_from(AlertNotification)) == 1
    summary = db.scalars(select(AlertThrottle).where(AlertThrottle.config_id == config.id)).one()
    assert (summary.sent_count, summary.sent_count + summary.suppressed_count) == (1, 400)


def _deadlocks(db) -> int:
    db.execute(text("SELECT pg_stat_clear_snapshot()"))
    return db.scalar(
        text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    )


@pytest.mark.slow
def test_racing_batches_take_their_locks_in_one_order(
    test_env, settings, make_tenant, make_config, db, private_redis
):
    """Redis back empty after its alerts notified: a batch Redis allows is overruled by
    Postgres and folds, the batches after it are held by Redis's cooldown and read the alerts'
    latest notifications. Every batch locks an alert's summary row before its notification, so
    Postgres never has to break a deadlock (each one costs a batch its deadlock_timeout, 1 s,
    and a second run)."""
    make_config(make_tenant("acme"), alert_type="circuit_breaker_opened", cooldown_minutes=60,
                max_alerts_per_hour=10_000, group_similar=True)  # fmt: skip
    _run({**test_env, "REDIS_URL": private_redis.url}, _events(10, 10), 10)
    private_redis.client().flushall()
    before = _deadlocks(db)
    _run({**test_env, "REDIS_URL": private_redis.url}, _events(4000, 10), 10)
    db.commit()
    assert _deadlocks(db) == before
    assert db.scalar(select(func.count()).select_from(AlertNotification)) == 10
    assert db.scalar(select(func.sum(AlertNotification.occurrence_count))) == 4010


@pytest.mark.slow
def test_racing_resolves_take_their_locks_in_the_same_order(
    test_env, settings, make_tenant, make_config, db
):
    """Resolve events among the triggers of the same alerts (SPEC §13): a batch that resolves
    locks the summary rows of every alert it touches first, so no deadlock either."""
    make_config(make_tenant("acme"), alert_type="circuit_breaker_opened", cooldown_minutes=60,
                max_alerts_per_hour=10_000, group_similar=True)  # fmt: skip
    events = _events(4000, 10)
    for i in range(0, len(events), 7):
        events[i] = {k: events[i][k] for k in ("event_id", "tenant_id", "alert_type", "context")}
        events[i]["action"] = "resolve"
    before = _deadlocks(db)
    _run(test_env, events, 10)
    db.commit()
    assert _deadlocks(db) == before
    resolved = db.scalar(select(func.count()).where(AlertNotification.state == "resolved"))
    assert resolved > 0


@pytest.mark.slow
def test_resolves_by_hand_take_their_locks_in_the_same_order(
    test_env, settings, make_tenant, make_config, db, session_factory
):
    """An operator resolving alerts (the API's resolve, ``lifecycle.claim``) while a storm folds
    into them: the claim locks the summary row before the notification too."""
    tenant = make_tenant("acme")
    make_config(tenant, alert_type="circuit_breaker_opened", cooldown_minutes=60,
                max_alerts_per_hour=10_000, group_similar=True)  # fmt: skip
    with session_factory() as s:
        user = User(tenant_id=tenant.id, email="op@acme.test")
        s.add(user)
        s.commit()
    storming, resolves = threading.Event(), []

    def operator():
        while not storming.is_set():
            with session_factory() as s:
                open_ids = s.scalars(select(AlertNotification.id)
                                     .where(AlertNotification.state == "firing")).all()  # fmt: skip
                for nid in open_ids:
                    notifications.resolve(s, tenant.id, nid, user.id, 300)
                    resolves.append(nid)

    before = _deadlocks(db)
    hand = threading.Thread(target=operator)
    hand.start()
    try:
        _run(test_env, _events(4000, 10), 10)
    finally:
        storming.set()
        hand.join(timeout=60)
    db.commit()
    assert resolves and _deadlocks(db) == before
