"""The pipeline of SPEC §3–§5 on real Postgres and Redis: events in, notifications and
delivery rows out, throttled, grouped, idempotent; bad events rejected with their reason."""

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from alertworker.core.db import utcnow
from alertworker.core.models import (
    AlertConfig,
    AlertNotification,
    AlertThrottle,
    NotificationDelivery,
    RejectedEvent,
)
from alertworker.delivery.deliveries import Pending
from alertworker.ingest.pipeline import Pipeline


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def pipeline(settings, session_factory, redis_client, clock):
    return Pipeline(settings, session_factory, redis_client, clock=clock)


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("acme")


def event(provider="openai", **kw):
    return {
        "event_id": str(uuid.uuid4()),
        "tenant_id": "acme",
        "alert_type": "high_latency",
        "title": f"{provider} is slow",
        "context": {"provider_name": provider, "latency_ms": 9000},
    } | kw


def notifications(db):
    return db.scalars(select(AlertNotification).order_by(AlertNotification.id)).all()


def test_an_event_becomes_a_notification_with_one_delivery_per_channel(
    pipeline, tenant, make_config, db
):
    config = make_config(tenant, severity="error")
    e = event(severity="critical")
    result = pipeline.process([e])
    [n] = notifications(db)
    assert (n.config_id, n.event_id, n.severity, n.source_severity) == (
        config.id,
        e["event_id"],
        "error",
        "critical",
    )
    assert (n.occurrence_count, n.suppressed_since_last, n.is_test) == (1, 0, False)
    deliveries = {d.channel: d for d in n.deliveries}
    assert deliveries["in_app"].status == "delivered" and deliveries["in_app"].delivered_at
    assert deliveries["webhook"].status == "pending" and deliveries["webhook"].lease_expires_at
    assert result.deliveries == [Pending("webhook", config.id, deliveries["webhook"].id)]
    assert result.outcomes["notified"] == 1


def test_conditions_filter_and_inactive_configs_are_skipped(pipeline, tenant, make_config, db):
    make_config(tenant, conditions={"latency_ms": 10_000})
    make_config(tenant, is_active=False)
    result = pipeline.process([event()])
    assert notifications(db) == []
    assert result.outcomes["condition_not_met"] == 1 and result.outcomes["matched"] == 0


def test_the_same_event_twice_gives_one_notification_per_config(pipeline, tenant, make_config, db):
    make_config(tenant, cooldown_minutes=0)
    make_config(tenant, cooldown_minutes=0, name="second")
    e = event()
    pipeline.process([e])
    again = pipeline.process([e, e])
    assert len(notifications(db)) == 2
    assert again.outcomes["duplicate"] >= 2 and again.deliveries == []


def test_identical_events_in_a_batch_coalesce_into_one_decision(
    pipeline, tenant, make_config, db, clock
):
    config = make_config(tenant, cooldown_minutes=10)
    first = [event() for _ in range(50)]
    result = pipeline.process(first)
    [n] = notifications(db)
    assert n.occurrence_count == 50 and result.outcomes["notified"] == 1

    clock.advance(minutes=1)  # inside the cooldown: folded into the same notification
    result = pipeline.process([event() for _ in range(7)])
    assert result.outcomes["throttled_cooldown"] == 1
    db.expire_all()
    [n] = notifications(db)
    assert n.occurrence_count == 57 and n.last_occurred_at >= n.occurred_at

    clock.advance(minutes=10)  # after the cooldown: a new one, carrying what was suppressed
    pipeline.process([event()])
    newest = notifications(db)[-1]
    assert len(notifications(db)) == 2 and newest.suppressed_since_last == 7
    summary = db.get(AlertThrottle, (config.id, n.fingerprint))
    assert (summary.sent_count, summary.suppressed_count) == (2, 56)
    assert summary.last_sent_at is not None


def test_without_grouping_suppressed_events_are_only_counted(
    pipeline, tenant, make_config, db, clock
):
    config = make_config(tenant, group_similar=False)
    pipeline.process([event()])
    clock.advance(seconds=5)
    pipeline.process([event(), event()])
    [n] = notifications(db)
    assert n.occurrence_count == 1
    assert (
        db.scalar(
            select(AlertThrottle.suppressed_count).where(AlertThrottle.config_id == config.id)
        )
        == 2
    )


def test_hourly_cap_counts_notifications_per_config(pipeline, tenant, make_config, db):
    make_config(tenant, cooldown_minutes=0, max_alerts_per_hour=3)
    result = pipeline.process([event(provider=f"p{i}") for i in range(5)])
    assert len(notifications(db)) == 3
    assert result.outcomes["throttled_hourly_cap"] == 2


def test_test_events_bypass_throttling_and_target_one_config(pipeline, tenant, make_config, db):
    config = make_config(tenant, max_alerts_per_hour=1)
    make_config(tenant, name="other")
    pipeline.process([event()])
    pipeline.process([event(is_test=True, config_id=config.id) for _ in range(2)])
    rows = notifications(db)
    assert len(rows) == 4  # one per config for the real event, then two tests for `config`
    assert [n.is_test for n in rows if n.config_id == config.id] == [False, True, True]


def test_a_config_change_takes_effect_for_the_next_batch(
    pipeline, tenant, make_config, db, session_factory
):
    config = make_config(tenant, cooldown_minutes=0, conditions={"latency_ms": 99_999})
    pipeline.process([event()])
    assert notifications(db) == []
    with session_factory() as s:
        s.get(AlertConfig, config.id).conditions = {}
        s.commit()
    pipeline.process([event()])
    assert len(notifications(db)) == 1
    with session_factory() as s:
        s.get(AlertConfig, config.id).is_active = False
        s.commit()
    pipeline.process([event()])
    assert len(notifications(db)) == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("just a string", "must be a JSON object"),
        (["a", "list"], "must be a JSON object"),
        (None, "must be a JSON object"),
        ({"tenant_id": "acme", "alert_type": "nope", "title": "x"}, "alert_type"),
        ({"tenant_id": "acme", "alert_type": "high_latency", "title": 5}, "title"),
        (
            {
                "tenant_id": "acme",
                "alert_type": "high_latency",
                "title": "x",
                "context": {"b": "x" * 17_000},
            },
            "context",
        ),
        ({"tenant_id": "ghost", "alert_type": "high_latency", "title": "x"}, "unknown tenant"),
    ],
)
def test_bad_events_are_rejected_with_their_reason_and_the_rest_goes_on(
    pipeline, tenant, make_config, db, raw, reason
):
    make_config(tenant)
    result = pipeline.process([raw, event()])
    assert result.rejected == 1
    [rejected] = db.scalars(select(RejectedEvent)).all()
    assert reason in rejected.reason
    assert rejected.payload and len(rejected.payload) <= 64 * 1024
    assert len(notifications(db)) == 1


def test_nul_bytes_in_a_rejected_payload_are_stored(pipeline, tenant, db):
    pipeline.process(["bad\x00payload"])
    assert db.scalar(select(RejectedEvent.payload)) == "bad\\x00payload"


def test_throttling_fails_open_when_redis_is_down(
    settings, session_factory, tenant, make_config, db
):
    import redis

    make_config(tenant)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    p = Pipeline(settings, session_factory, dead)
    result = p.process([event(), event(provider="openai")])
    assert result.outcomes["notified"] == 1  # coalesced in the batch, let through
    assert result.outcomes["matched"] == 2


def test_new_notifications_are_published_to_the_tenant_stream(
    pipeline, tenant, make_config, redis_client, settings
):
    from alertworker.delivery import stream

    make_config(tenant)
    sub = redis_client.pubsub()
    sub.subscribe(stream.channel(settings, tenant.id))
    sub.get_message(timeout=1)
    pipeline.process([event()])
    message = sub.get_message(timeout=2)
    sub.close()
    body = json.loads(message["data"])
    assert body["type"] == "notification" and body["notification"]["alert_type"] == "high_latency"


def test_delivery_rows_are_one_per_channel_and_email_recipient(pipeline, tenant, make_config, db):
    make_config(
        tenant,
        channels=["in_app", "email", "webhook"],
        channel_config={
            "email": {"recipients": ["a@b.c", "d@e.f", "A@B.C"]},  # the last is a@b.c again
            "webhook": {"url": "https://x"},
        },
    )
    result = pipeline.process([event()])
    rows = db.execute(
        select(NotificationDelivery.channel, NotificationDelivery.recipient).order_by(
            NotificationDelivery.id
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        ("in_app", ""), ("email", "a@b.c"), ("email", "d@e.f"), ("webhook", "")]  # fmt: skip
    assert [p.channel for p in result.deliveries] == ["email", "email", "webhook"]


def test_a_replayed_batch_skips_what_was_notified_and_counts_nothing_twice(
    pipeline, tenant, make_config, db, clock
):
    config = make_config(tenant, cooldown_minutes=0)
    e = event()
    pipeline.process([e, e])  # the same event twice in a batch counts once
    clock.advance(hours=2)  # past the window and any cooldown: only the database remembers
    again = pipeline.process([e], replay=True)
    assert again.outcomes["duplicate"] == 1 and again.outcomes["notified"] == 0
    pipeline.process([e])  # a publisher's retry, not flagged: the unique key holds
    [n] = notifications(db)
    summary = db.get(AlertThrottle, (config.id, n.fingerprint))
    assert (n.occurrence_count, summary.sent_count, summary.suppressed_count) == (1, 1, 0)
