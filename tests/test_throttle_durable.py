"""The throttle's dual write and its memory in Postgres (SPEC §5, issue 11), on real Postgres and
Redis: a decision whose notification never commits holds its alert only for the provisional
span; with Redis away, or back empty, Postgres's last send keeps an alert from being notified
twice within its cooldown, and the hourly cap is counted from Postgres."""

import pytest
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from alertworker.core import metrics
from alertworker.core.models import AlertThrottle
from alertworker.ingest.pipeline import Pipeline
from tests.test_pipeline import Clock, event, notifications


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("acme")


@pytest.fixture
def doomed_commits(engine):
    """A deferred constraint trigger: a transaction that wrote a notification titled "doomed"
    fails at its COMMIT, after the throttle decided."""
    with engine.begin() as conn:
        conn.execute(text("""
            CREATE FUNCTION doomed() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'doomed commit'; END $$;
            CREATE CONSTRAINT TRIGGER doomed AFTER INSERT ON alert_notifications
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
            WHEN (NEW.title = 'doomed') EXECUTE FUNCTION doomed();
        """))  # fmt: skip
    yield
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER doomed ON alert_notifications; DROP FUNCTION doomed()"))


def postgres_suppressed(reason="cooldown"):
    return metrics.THROTTLE_POSTGRES.labels(reason=reason)._value.get()


def test_a_decision_whose_commit_fails_holds_its_alert_only_provisionally(
    doomed_commits, settings, session_factory, redis_client, tenant, make_config, db, clock
):
    make_config(tenant, channels=["in_app"], cooldown_minutes=15, max_alerts_per_hour=1)
    p = Pipeline(settings.replace(throttle_provisional_seconds=5), session_factory,
                 redis_client, clock=clock)  # fmt: skip
    with pytest.raises(DBAPIError, match="doomed commit"):
        p.process([event(title="doomed")])
    assert notifications(db) == []
    clock.advance(seconds=4.9)
    assert p.process([event()]).outcomes["throttled_cooldown"] == 1  # still provisional
    clock.advance(seconds=0.1)  # the bound: neither its cooldown nor its hourly slot (cap 1)
    assert p.process([event()]).outcomes["notified"] == 1
    assert len(notifications(db)) == 1


def test_redis_away_then_back_empty_the_alert_is_notified_once_per_cooldown(
    settings, session_factory, private_redis, tenant, make_config, db, clock
):
    config = make_config(tenant, channels=["in_app"], cooldown_minutes=15)
    p = Pipeline(settings, session_factory, private_redis.client(), clock=clock)
    assert p.process([event()]).outcomes["notified"] == 1
    private_redis.kill()
    clock.advance(minutes=1)
    away = p.process([event()])  # Redis unreachable: Postgres's last send answers
    assert (away.outcomes["throttled_cooldown"], away.outcomes["notified"]) == (1, 0)
    private_redis.start()  # empty
    clock.advance(minutes=1)
    before = postgres_suppressed()
    back = p.process([event()])  # Redis allowed it, knowing nothing; Postgres did not
    assert (back.outcomes["throttled_cooldown"], postgres_suppressed()) == (1, before + 1)
    clock.advance(minutes=1)
    again = p.process([event()])  # Redis was seeded with Postgres's cooldown
    assert (again.outcomes["throttled_cooldown"], postgres_suppressed()) == (1, before + 1)
    clock.advance(minutes=12)  # 15 minutes after the send
    after = p.process([event()])
    assert after.outcomes["notified"] == 1
    rows = notifications(db)
    assert len(rows) == 2 and rows[0].occurrence_count == 4
    summary = db.scalars(select(AlertThrottle).where(AlertThrottle.config_id == config.id)).one()
    assert (summary.sent_count, summary.suppressed_count) == (2, 3)


def test_a_send_redis_could_not_confirm_is_committed_once(
    settings, session_factory, private_redis, tenant, make_config, db, clock
):
    make_config(tenant, cooldown_minutes=15)  # a webhook too, so on_commit runs
    impatient = private_redis.client(socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
    p = Pipeline(settings, session_factory, impatient, clock=clock)
    admin = private_redis.client()
    before = metrics.THROTTLE_SETTLE_FAILED._value.get()
    # Redis stops answering right after the commit: the settle times out
    sent = p.process([event()], on_commit=lambda _: admin.client_pause(3000))
    admin.client_unpause()
    assert sent.outcomes["notified"] == 1 and len(sent.deliveries) == 1
    assert metrics.THROTTLE_SETTLE_FAILED._value.get() == before + 1
    clock.advance(seconds=31)  # its provisional hold lapsed in Redis
    later = p.process([event()])
    assert later.outcomes["throttled_cooldown"] == 1 and len(notifications(db)) == 1


def test_with_redis_away_the_hourly_cap_is_counted_from_postgres(
    settings, session_factory, closed_port, tenant, make_config, db, clock
):
    import redis

    make_config(tenant, channels=["in_app"], cooldown_minutes=0, max_alerts_per_hour=3)
    dead = redis.Redis(port=closed_port, retry=Retry(NoBackoff(), 0))  # refused at once
    p = Pipeline(settings, session_factory, dead, clock=clock)
    before = metrics.THROTTLE_FAIL_OPEN._value.get()
    first = p.process([event(provider=f"p{i}") for i in range(2)])
    clock.advance(minutes=30)
    second = p.process([event(provider=f"q{i}") for i in range(2)])
    assert (first.outcomes["notified"], second.outcomes["notified"]) == (2, 1)
    assert second.outcomes["throttled_hourly_cap"] == 1
    assert metrics.THROTTLE_FAIL_OPEN._value.get() == before + 3  # neither knew: sent, counted
    clock.advance(minutes=31)  # the first two left the hour
    assert p.process([event(provider=f"r{i}") for i in range(3)]).outcomes["notified"] == 2
