"""The delivery row's lifecycle (SPEC §7): lease-guarded claims, parking, the sweeper's picks."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from alertworker.core.db import utcnow
from alertworker.core.models import NotificationDelivery as D
from alertworker.delivery import deliveries, retry


@pytest.fixture
def delivery_id(make_webhook_deliveries):
    """A pending webhook delivery made by the real pipeline."""
    [did] = make_webhook_deliveries()
    return did


def set_row(session_factory, did, **values):
    with session_factory() as s:
        s.execute(update(D).where(D.id == did).values(**values))
        s.commit()


def row(session_factory, did):
    with session_factory() as s:
        return s.get(D, did)


def test_a_claim_is_exclusive_until_its_lease_expires(settings, session_factory, delivery_id):
    with session_factory() as s:
        assert deliveries._claim(s, settings, [delivery_id])[0] == {delivery_id: 1}
        s.commit()
    with session_factory() as s:
        assert deliveries._claim(s, settings, [delivery_id])[0] == {}
    set_row(session_factory, delivery_id, lease_expires_at=utcnow() - timedelta(seconds=1))
    with session_factory() as s:
        assert deliveries._claim(s, settings, [delivery_id])[0] == {delivery_id: 2}


def test_a_channel_without_an_implementation_fails_with_the_reason(
    settings, session_factory, redis_client, delivery_id
):
    set_row(session_factory, delivery_id, channel="in_app")
    outcome = deliveries.deliver(settings, session_factory, redis_client, [delivery_id])[
        delivery_id
    ]
    r = row(session_factory, delivery_id)
    assert outcome.status == r.status == "failed"
    assert "not implemented" in r.last_error and r.attempts == 1


def test_a_delivered_row_is_never_sent_again(settings, session_factory, redis_client, delivery_id):
    set_row(session_factory, delivery_id, status="delivered")
    assert (
        deliveries.deliver(settings, session_factory, redis_client, [delivery_id])[
            delivery_id
        ].status
        == "not_claimed"
    )
    assert row(session_factory, delivery_id).attempts == 0


def test_work_that_keeps_dying_is_parked_after_max_attempts(
    settings, session_factory, redis_client, delivery_id
):
    set_row(
        session_factory,
        delivery_id,
        attempts=settings.delivery_max_attempts,
        status="sending",
        lease_expires_at=utcnow() - timedelta(seconds=1),
    )
    deliveries.deliver(settings, session_factory, redis_client, [delivery_id])[delivery_id]
    r = row(session_factory, delivery_id)
    assert r.status == "failed" and "gave up" in r.last_error


def test_the_sweeper_picks_lost_due_and_stuck_rows_only(settings, session_factory, delivery_id):
    now = utcnow()
    past, future = now - timedelta(seconds=5), now + timedelta(minutes=5)
    with session_factory() as s:
        base = s.get(D, delivery_id)
        specs = {
            "lost": dict(status="pending", lease_expires_at=past),
            "fresh": dict(status="pending", lease_expires_at=future),
            "stuck": dict(status="sending", lease_expires_at=past),
            "working": dict(status="sending", lease_expires_at=future),
            "due retry": dict(status="pending", next_attempt_at=past, lease_expires_at=None),
            "later retry": dict(status="pending", next_attempt_at=future, lease_expires_at=None),
            "delivered": dict(status="delivered"),
            "failed": dict(status="failed"),
        }
        ids = {}
        for i, (name, values) in enumerate(specs.items()):
            d = D(
                notification_id=base.notification_id,
                tenant_id=base.tenant_id,
                channel="email" if i % 2 else "slack",
                **values,
            )
            if i >= 2:  # (notification, channel) is unique: give the rest their own notification
                d.notification_id = _clone_notification(s, base.notification_id)
            s.add(d)
            s.flush()
            ids[d.id] = name
        s.execute(update(D).where(D.id == delivery_id).values(status="delivered"))
        s.commit()
    picked = {ids[did] for _, _, did in deliveries.due(settings, session_factory)}
    assert picked == {"lost", "stuck", "due retry"}
    assert deliveries.due(settings, session_factory) == []  # marked as enqueued
    with session_factory() as s:
        assert {s.get(D, did).status for did, name in ids.items() if name == "stuck"} == {"pending"}


def _clone_notification(session, notification_id):
    from alertworker.core.models import AlertNotification as N

    n = session.get(N, notification_id)
    copy = N(**{c.key: getattr(n, c.key) for c in N.__table__.columns if c.key != "id"})
    copy.event_id = str(uuid.uuid4())
    session.add(copy)
    session.flush()
    return copy.id


def test_backoff_is_capped_jittered_exponential_and_honours_retry_after(settings):
    s = settings.replace(delivery_backoff_base_seconds=10, delivery_backoff_max_seconds=100)
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (30, 100)]:
        delays = [retry.backoff(s, attempt) for _ in range(50)]
        assert all(0 <= d <= ceiling for d in delays) and max(delays) > ceiling / 4
    assert retry.backoff(s, 1, retry_after=42) == 42
    assert retry.backoff(s, 1, retry_after=5000) == 100


def test_a_result_whose_lease_was_taken_over_is_not_recorded(
    settings, session_factory, delivery_id
):
    from alertworker.delivery.channels.base import PermanentError

    with session_factory() as s:
        assert deliveries._claim(s, settings, [delivery_id])[0] == {delivery_id: 1}
        s.commit()
    # our lease expires and another worker claims the row (attempt 2) while we are still sending
    set_row(session_factory, delivery_id, attempts=2)
    for error in (None, PermanentError("nope")):
        with session_factory() as s:
            messages = {delivery_id: (None, "webhook")}
            outcomes = deliveries._record(
                s, settings, {delivery_id: 1}, {delivery_id: error}, {}, messages
            )
            s.commit()
        assert outcomes[delivery_id].status == "not_claimed"
        r = row(session_factory, delivery_id)
        assert (r.status, r.attempts, r.last_error) == ("sending", 2, None)


def test_a_delivered_batch_costs_two_statements_and_keeps_its_bookkeeping(
    settings,
    session_factory,
    redis_client,
    make_webhook_deliveries,
    http_receiver,
    engine,
    monkeypatch,
):
    """On Postgres the claim (with the messages), the check of the tenant's webhook preference
    (SPEC §8) and the write-back (rows, attempts, health) are one statement each, in
    autocommit; the health of a destination that had failed is reset, its last error kept; a
    send whose lease was taken over is logged, not written."""
    from sqlalchemy import event

    from alertworker.core.models import AlertConfig, DeliveryAttempt, EndpointHealth

    ids = make_webhook_deliveries(http_receiver.url(), n=3)
    with session_factory() as s:
        config_id = s.scalar(select(AlertConfig.id))
        s.add(EndpointHealth(config_id=config_id, channel="webhook", consecutive_failures=3,
                             last_error="HTTP 500"))  # fmt: skip
        s.commit()
    statements: list[str] = []

    def count(conn, cursor, statement, *_):
        statements.append(statement.split()[0])

    taken_over = ids[2]
    original = deliveries._send

    def send_then_lose_the_lease(settings, sender, channel, attempt, message):
        if message.delivery_id == taken_over:  # another worker claims it meanwhile
            set_row(session_factory, taken_over, attempts=attempt + 1)
        return original(settings, sender, channel, attempt, message)

    monkeypatch.setattr(deliveries, "_send", send_then_lose_the_lease)
    event.listen(engine, "before_cursor_execute", count)
    try:
        outcomes = deliveries.deliver(settings, session_factory, redis_client, ids)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == ["WITH", "UPDATE", "WITH"]  # claim, the other worker's, write-back
    assert [outcomes[i].status for i in ids] == ["delivered", "delivered", "not_claimed"]
    assert len(http_receiver.requests) == 3
    with session_factory() as s:
        statuses = [row(session_factory, i).status for i in ids]
        assert statuses == ["delivered", "delivered", "sending"]
        codes = [row(session_factory, i).last_status_code for i in ids]
        assert codes == [200, 200, None]  # the receiver's answer, on the rows still ours
        logged = s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.delivery_id)).all()
        assert [(a.delivery_id, a.attempt, a.outcome, a.status_code) for a in logged] == [
            (ids[0], 1, "delivered", 200), (ids[1], 1, "delivered", 200),
            (ids[2], 1, "delivered", 200),
        ]  # fmt: skip
        health = s.get(EndpointHealth, (config_id, "webhook"))
        assert (health.consecutive_failures, health.last_error) == (0, "HTTP 500")
        assert health.last_success_at is not None
