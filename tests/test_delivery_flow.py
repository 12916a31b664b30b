"""Deliveries through the real retry loop (SPEC §7) against real receivers on loopback: each
receiver behaviour ends in the right final status after the right number of attempts."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from alertworker.client import AlertPublisher
from alertworker.core.db import utcnow
from alertworker.core.models import NotificationDelivery as D
from alertworker.delivery import deliveries
from tests.processes import WORKER_ARGS, celery, wait_for
from tests.receivers import Reply

MAX_ATTEMPTS = 4


def drive(settings, session_factory, redis_client, delivery_id, limit=10):
    """Run the delivery task as a worker would, following its short retries; the outcomes."""
    outcomes = []
    for _ in range(limit):
        outcome = deliveries.deliver(settings, session_factory, redis_client, [delivery_id])[
            delivery_id
        ]
        outcomes.append(outcome)
        if outcome.retry_in is None:
            break
        time.sleep(outcome.retry_in)
    return outcomes


def load(session_factory, delivery_id):
    with session_factory() as s:
        return s.get(D, delivery_id)


TABLE = [
    # name, replies (then the default), default, final status, attempts, last status code
    ("200 ok", [], Reply(200), "delivered", 1, 200),
    ("204 no content", [], Reply(204), "delivered", 1, 204),
    ("500 forever", [], Reply(500, "boom"), "failed", MAX_ATTEMPTS, 500),
    ("503 then 200", [Reply(503)], Reply(200), "delivered", 2, 200),
    (
        "429 with Retry-After",
        [Reply(429, headers={"Retry-After": "1"})],
        Reply(200),
        "delivered",
        2,
        200,
    ),
    ("400 invalid_payload", [], Reply(400, "invalid_payload"), "failed", 1, 400),
    ("404", [], Reply(404), "failed", 1, 404),
    ("410", [], Reply(410), "failed", 1, 410),
    ("timeout then 200", [Reply(200, delay=2.0)], Reply(200), "delivered", 2, 200),
    ("redirect", [], Reply(302, redirect="http://127.0.0.1:1/elsewhere"), "failed", 1, 302),
]


@pytest.mark.parametrize(
    ("name", "replies", "default", "status", "attempts", "code"),
    TABLE,
    ids=[row[0] for row in TABLE],
)
def test_receiver_behaviour_gives_final_status_and_attempts(
    settings,
    session_factory,
    redis_client,
    make_webhook_deliveries,
    http_receiver,
    name,
    replies,
    default,
    status,
    attempts,
    code,
):
    settings = settings.replace(delivery_max_attempts=MAX_ATTEMPTS, http_timeout_seconds=0.5)
    http_receiver.replies[:] = list(replies)
    http_receiver.default = default
    [did] = make_webhook_deliveries(http_receiver.url())
    outcomes = drive(settings, session_factory, redis_client, did)
    row = load(session_factory, did)
    assert (row.status, row.attempts, row.last_status_code) == (status, attempts, code)
    assert len(http_receiver.requests) == attempts
    assert outcomes[-1].status == status
    if status == "failed":
        assert row.last_error
    if name == "429 with Retry-After":
        assert outcomes[0].retry_in == 1.0


def test_connection_refused_retries_then_fails(
    settings, session_factory, redis_client, make_webhook_deliveries, closed_port
):
    settings = settings.replace(delivery_max_attempts=3)
    [did] = make_webhook_deliveries(
        f"http://127.0.0.1:{closed_port}/hook",
    )
    drive(settings, session_factory, redis_client, did)
    row = load(session_factory, did)
    assert (row.status, row.attempts) == (
        "failed",
        3,
    ) and "gave up after 3 attempts" in row.last_error


def test_a_long_retry_waits_on_the_row_for_the_sweeper(
    settings, session_factory, redis_client, make_webhook_deliveries, http_receiver
):
    settings = settings.replace(delivery_backoff_max_seconds=3600)
    http_receiver.replies[:] = [Reply(429, headers={"Retry-After": "120"})]
    [did] = make_webhook_deliveries(http_receiver.url())
    [outcome] = drive(settings, session_factory, redis_client, did)
    row = load(session_factory, did)
    assert outcome.retry_in is None and row.status == "pending" and row.lease_expires_at is None
    assert timedelta(seconds=110) < row.next_attempt_at - utcnow() <= timedelta(seconds=120)
    assert deliveries.due(settings, session_factory) == []
    with session_factory() as s:
        s.execute(update(D).where(D.id == did).values(next_attempt_at=utcnow()))
        s.commit()
    assert [p.delivery_id for p in deliveries.due(settings, session_factory)] == [did]
    drive(settings, session_factory, redis_client, did)
    assert load(session_factory, did).status == "delivered" and len(http_receiver.requests) == 2


def test_the_same_delivery_task_run_twice_sends_once(
    settings, session_factory, redis_client, make_webhook_deliveries, http_receiver
):
    [did] = make_webhook_deliveries(http_receiver.url())
    first = deliveries.deliver(settings, session_factory, redis_client, [did])[did]
    second = deliveries.deliver(settings, session_factory, redis_client, [did])[did]
    assert (first.status, second.status) == ("delivered", "not_claimed")
    assert len(http_receiver.requests) == 1
    assert http_receiver.requests[0].headers["Idempotency-Key"] == str(did)


def test_secrets_never_reach_the_stored_error(
    settings, session_factory, redis_client, make_webhook_deliveries, http_receiver
):
    http_receiver.default = Reply(401, "bad token Bearer s3cr3t-header-value")
    [did] = make_webhook_deliveries(
        http_receiver.url("/hook?key=s3cr3t-query"),
        secret="s3cr3t-signing-key",
        headers={"Authorization": "Bearer s3cr3t-header-value"},
    )
    drive(settings, session_factory, redis_client, did)
    row = load(session_factory, did)
    assert row.status == "failed" and "s3cr3t" not in row.last_error


@pytest.mark.slow
def test_a_real_worker_delivers_to_all_three_receivers(
    test_env,
    settings,
    session_factory,
    make_tenant,
    make_config,
    http_receiver,
    smtp_receiver,
    tmp_path,
):
    make_config(
        make_tenant("acme"),
        channels=["in_app", "email", "slack", "webhook"],
        channel_config={
            "email": {"recipients": ["oncall@example.com"]},
            "slack": {"webhook_url": http_receiver.url("/slack"), "channel": "#alerts"},
            "webhook": {"url": http_receiver.url("/hook"), "secret": "k"},
        },
    )
    http_receiver.default = Reply(200, "ok")
    env = {**test_env, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_receiver.port)}
    worker = celery(env, tmp_path / "worker.log", *WORKER_ARGS, "-c", "2")
    try:
        AlertPublisher.from_settings(settings).publish(
            tenant_id="acme",
            alert_type="high_latency",
            title="p95 above 5 s",
            context={"provider_name": "openai", "latency_ms": 7200},
        )
        wait_for(
            lambda: len(http_receiver.requests) == 2 and smtp_receiver.messages, 30, worker.output
        )
        with session_factory() as s:
            wait_for(
                lambda: {d.status for d in s.query(D).populate_existing()} == {"delivered"},
                10,
                worker.output,
            )
    finally:
        worker.stop()
    assert sorted(r.path for r in http_receiver.requests) == ["/hook", "/slack"]
    assert smtp_receiver.messages[0].rcpt_tos == ["oncall@example.com"]
    assert "[WARNING] p95 above 5 s" in smtp_receiver.messages[0].email["Subject"]


def test_one_destinations_deliveries_go_in_one_batch(
    settings, session_factory, redis_client, make_webhook_deliveries, http_receiver
):
    ids = make_webhook_deliveries(http_receiver.url(), 5)
    http_receiver.replies[:] = [Reply(200), Reply(503)]
    outcomes = deliveries.deliver(settings, session_factory, redis_client, ids + ids[:1])
    assert [outcomes[i].status for i in ids] == ["delivered", "pending"] + ["delivered"] * 3
    assert len(http_receiver.requests) == 5
    assert [load(session_factory, i).attempts for i in ids] == [1] * 5


def test_a_slow_receiver_releases_the_rest_of_the_batch_within_the_lease(
    settings, session_factory, redis_client, make_webhook_deliveries, http_receiver
):
    settings = settings.replace(delivery_lease_seconds=5)  # sending stops after 2.5 s
    http_receiver.default = Reply(200, delay=1.5)
    ids = make_webhook_deliveries(http_receiver.url(), 3)
    outcomes = deliveries.deliver(settings, session_factory, redis_client, ids)
    assert [outcomes[i].status for i in ids] == ["delivered", "delivered", "pending"]
    assert outcomes[ids[2]].retry_in == 0.0
    released = load(session_factory, ids[2])
    assert (released.status, released.attempts) == ("pending", 0)
