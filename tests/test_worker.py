"""A real `celery -A tasks worker` subprocess: events published with the client end up as rows,
and no garbage on `alerts.events` crashes, blocks or loops it (SPEC §3, FIELD-NOTES.md)."""

import json
import os
import subprocess

import pytest
from kombu import Connection, Producer, Queue
from sqlalchemy import func, select

from alertworker.client import AlertPublisher
from alertworker.core.models import AlertNotification, RejectedEvent
from tests.processes import BIN, ROOT, WORKER_ARGS, celery, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def worker(test_env, settings, tmp_path):
    proc = celery(test_env, tmp_path / "worker.log", *WORKER_ARGS, "-c", "2")
    yield proc
    proc.stop()


def count(session_factory, model, *where):
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_events_published_by_the_client_become_rows(
    settings, session_factory, make_tenant, make_config, worker
):
    make_config(make_tenant("acme"), channels=["in_app"])
    with AlertPublisher.from_settings(settings, max_batch=50) as pub:
        pub.publish_many(
            [
                {
                    "tenant_id": "acme",
                    "alert_type": "high_latency",
                    "title": f"slow {i}",
                    "context": {"provider_name": f"p{i}", "latency_ms": 8000},
                }
                for i in range(120)
            ]
        )
    wait_for(lambda: count(session_factory, AlertNotification) == 10, 30, worker.output)
    with session_factory() as s:
        n = s.scalars(select(AlertNotification).limit(1)).one()
        assert [(d.channel, d.status) for d in n.deliveries] == [("in_app", "delivered")]
    assert worker.alive()


def _publish_garbage(settings, redis_client):
    """Every kind of bad message; returns how many rejections they must produce."""
    url, prefix = settings.broker_url, settings.redis_key_prefix
    with Connection(url, transport_options={"global_keyprefix": prefix}) as conn:
        p = Producer(conn)
        send = lambda body, **kw: p.publish(  # noqa: E731
            body, routing_key="alerts.events", declare=[Queue("alerts.events")], **kw
        )
        send("garbage", serializer="json")  # a bare JSON string
        send([1, 2, 3], serializer="json")  # a JSON shape that is no task message
        send({"task": "x"}, serializer="json")  # protocol-1 look-alike
        send(b"\xff\xfe\x00", content_type="application/json", content_encoding="binary")
        send("x", serializer="pickle")  # content type the worker refuses
    queue = f"{prefix}alerts.events"
    for raw in (b"\x00\x01 raw bytes", json.dumps("bare string"), b'{"properties": 5}'):
        redis_client.lpush(queue, raw)
    app = AlertPublisher.from_settings(settings)._app
    app.send_task("alertworker.ingest", args=[123], queue="alerts.events")
    app.send_task("alertworker.ingest", kwargs={"surprise": 1}, queue="alerts.events")
    app.send_task(
        "alertworker.ingest", args=[["not an event", {"tenant_id": "ghost"}]], queue="alerts.events"
    )
    app.send_task("alertworker.nope", args=[1], queue="alerts.events")
    return 13


def test_garbage_on_the_events_queue_is_recorded_and_the_worker_goes_on(
    settings, session_factory, redis_client, make_tenant, make_config, worker
):
    make_config(make_tenant("acme"), channels=["in_app"])
    expected = _publish_garbage(settings, redis_client)
    AlertPublisher.from_settings(settings).publish(
        tenant_id="acme",
        alert_type="high_latency",
        title="after the garbage",
        context={"provider_name": "openai", "latency_ms": 9999},
    )
    wait_for(lambda: count(session_factory, AlertNotification) == 1, 30, worker.output)
    wait_for(lambda: count(session_factory, RejectedEvent) >= expected, 30, worker.output)
    assert count(session_factory, RejectedEvent) == expected
    with session_factory() as s:
        reasons = s.scalars(select(RejectedEvent.reason)).all()
    assert all(r.startswith("invalid") for r in reasons), reasons
    assert worker.alive() and "Unrecoverable" not in worker.output()


def test_a_batch_redelivered_too_often_is_parked_as_rejected(
    test_env, settings, session_factory, redis_client, make_tenant, make_config, tmp_path
):
    """A batch that keeps killing its worker comes back flagged `redelivered` each time (kombu's
    restore and requeue set it); after MAX_REDELIVERIES it is recorded as rejected, not run."""
    from tasks.ingest import MAX_REDELIVERIES

    make_config(make_tenant("acme"), alert_type="quota_exhausted", channels=["in_app"])
    queue = f"{settings.redis_key_prefix}alerts.events"
    AlertPublisher.from_settings(settings).publish(
        tenant_id="acme",
        alert_type="quota_exhausted",
        title="quota gone",
        context={"provider_name": "openai"},
    )
    envelope = json.loads(redis_client.rpop(queue))
    envelope["properties"]["delivery_info"]["redelivered"] = True
    for _ in range(MAX_REDELIVERIES + 2):
        redis_client.lpush(queue, json.dumps(envelope))
    worker = celery(test_env, tmp_path / "worker.log", *WORKER_ARGS, "-c", "1")
    try:
        wait_for(lambda: count(session_factory, RejectedEvent) == 2, 30, worker.output)
    finally:
        worker.stop()
    with session_factory() as s:
        assert {r.reason for r in s.scalars(select(RejectedEvent))} == {
            f"poison: batch redelivered more than {MAX_REDELIVERIES} times"
        }
    assert count(session_factory, AlertNotification) == 1  # the runs before parking: one


@pytest.mark.parametrize("command", [WORKER_ARGS, ["beat", "-l", "info"]])
def test_without_a_broker_url_worker_and_beat_exit_saying_so(test_env, tmp_path, command):
    """On Celery's in-process broker they would run and reach nobody (SPEC §12)."""
    env = {**os.environ, **test_env, "BROKER_URL": ""}
    done = subprocess.run([str(BIN / "celery"), "-A", "tasks", *command], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0
    assert "BROKER_URL is not set" in done.stderr + done.stdout
