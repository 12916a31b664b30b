"""The cost of a batch in statements (#17): on Postgres a batch's statements do not grow with
its events, and the one statement that writes notifications writes their delivery rows and
their sends' summary counts with them, the same rows as one statement each would."""

from contextlib import contextmanager

from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from alertworker.core.models import AlertNotification, AlertThrottle, NotificationDelivery
from tests import test_pipeline
from tests.test_pipeline import event

clock, pipeline, tenant = test_pipeline.clock, test_pipeline.pipeline, test_pipeline.tenant


@contextmanager
def statements_run(engine):
    """The SQL statements run on ``engine`` inside the block; none may be an ``executemany``
    (psycopg2 runs one of those a row at a time: a round trip each)."""
    statements: list[str] = []

    def listener(conn, cursor, statement, params, context, executemany):
        assert not executemany, statement
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa_event.remove(engine, "before_cursor_execute", listener)


EMAIL = {"email": {"recipients": ["a@example.test", "A@example.test", "b@example.test"]}}


def test_a_distinct_batch_costs_the_same_statements_for_one_event_or_a_hundred(
    pipeline, tenant, make_config, engine, db
):
    config = make_config(tenant, channels=["in_app", "email", "webhook"],
                         channel_config={"webhook": {"url": "https://x.example.test"}, **EMAIL},
                         cooldown_minutes=15, max_alerts_per_hour=1000)  # fmt: skip
    pipeline.process([event(provider="p-warm")])  # the configs, silences and rules cached
    with statements_run(engine) as one:
        first = pipeline.process([event(provider="p-one")])
    with statements_run(engine) as hundred:
        batch = pipeline.process([event(provider=f"p{i}") for i in range(100)])
    assert len(hundred) == len(one) <= 4  # tenants, summaries, notify, trail
    assert sum("INSERT INTO alert_notifications" in s for s in hundred) == 1
    assert not [s for s in hundred if s.startswith("INSERT INTO notification_deliveries")]
    assert batch.outcomes["notified"] == 100 and first.outcomes["notified"] == 1
    # per notification: in-app, email to a@ and b@ (A@ is a@), webhook; external ones enqueued
    rows = db.execute(
        select(NotificationDelivery.channel, func.count())
        .join(AlertNotification)
        .where(AlertNotification.config_id == config.id)
        .group_by(NotificationDelivery.channel)
    ).all()
    assert dict(rows) == {"in_app": 102, "email": 204, "webhook": 102}
    assert len(batch.deliveries) == 300
    summaries = db.scalars(select(AlertThrottle).where(AlertThrottle.config_id == config.id))
    assert {(t.sent_count, t.suppressed_count) for t in summaries} == {(1, 0)}


def test_a_storm_batch_costs_the_same_statements_for_ten_events_or_five_hundred(
    pipeline,
    tenant,
    make_config,
    engine,
    db,
    clock,  # noqa: F811
):
    config = make_config(tenant, cooldown_minutes=60)
    pipeline.process([event(provider=f"p{i}") for i in range(10)])  # the ten alerts notified
    with statements_run(engine) as ten:
        pipeline.process([event(provider=f"p{i % 10}") for i in range(10)])
    with statements_run(engine) as many:
        pipeline.process([event(provider=f"p{i % 10}") for i in range(500)])
    assert len(many) == len(ten) <= 6  # tenants, summaries locked, latest, summaries, fold, trail
    counts = db.execute(
        select(AlertNotification.occurrence_count).where(AlertNotification.config_id == config.id)
    ).scalars()
    assert set(counts) == {52}  # 1 + 1 + 50, folded
    summaries = db.scalars(select(AlertThrottle).where(AlertThrottle.config_id == config.id))
    assert {(t.sent_count, t.suppressed_count) for t in summaries} == {(1, 51)}
