"""A delivery and an ingest batch ride out a Postgres outage longer than Celery's default three
retries (issue 11, FIELD-NOTES.md): a real worker against a private Postgres that is stopped,
then started again."""

import pytest
from sqlalchemy import select

from alertworker.client import AlertPublisher
from alertworker.core.catalog import delivery_queue, delivery_task
from alertworker.core.db import make_engine, make_session_factory, migrate
from alertworker.core.models import AlertConfig, NotificationDelivery, Tenant
from alertworker.core.settings import Settings
from alertworker.ingest.pipeline import Pipeline
from tests.processes import WORKER_ARGS, celery, wait_for

pytestmark = pytest.mark.slow


def alert(i):
    return {"tenant_id": "acme", "alert_type": "high_latency", "title": f"slow {i}",
            "context": {"provider_name": f"p{i}", "latency_ms": 9000}}  # fmt: skip


def retries(output, task):
    return sum(f"{task}: database error, retry" in line for line in output.splitlines())


def test_tasks_ride_out_a_postgres_outage_longer_than_three_retries(
    test_env, settings, redis_client, private_postgres, http_receiver, tmp_path
):
    env = {**test_env, "DATABASE_URL": private_postgres.url, "DB_RETRY_MAX_SECONDS": "0.5"}
    own = Settings.from_env(env)
    migrate(own)
    engine = make_engine(own)
    sessions = make_session_factory(engine)
    with sessions() as s:
        tenant = Tenant(slug="acme", name="Acme")
        s.add(tenant)
        s.flush()
        s.add(AlertConfig(tenant_id=tenant.id, name="latency", alert_type="high_latency",
                          severity="warning", channels=["webhook"], cooldown_minutes=0,
                          channel_config={"webhook": {"url": http_receiver.url()}},
                          conditions={}))  # fmt: skip
        s.commit()
    [pending] = Pipeline(own, sessions, redis_client).process([alert(0)]).deliveries
    engine.dispose()
    worker = celery(env, tmp_path / "worker.log", *WORKER_ARGS, "-c", "1")
    try:
        private_postgres.stop()
        publisher = AlertPublisher.from_settings(own)
        publisher._app.send_task(
            delivery_task("webhook"), args=[[pending.delivery_id]], queue=delivery_queue("webhook")
        )
        with publisher:
            publisher.publish_many([alert(1)])
        out = worker.output
        wait_for(lambda: retries(out(), delivery_task("webhook")) >= 6, 90, out)
        wait_for(lambda: retries(out(), "alertworker.ingest") >= 6, 90, out)
        assert http_receiver.requests == []
        private_postgres.start()
        wait_for(lambda: len(http_receiver.requests) == 2, 60, out)
        with sessions() as s:
            statuses = s.scalars(select(NotificationDelivery.status)).all()
        assert statuses == ["delivered", "delivered"]
        assert worker.alive()
    finally:
        worker.stop()
        engine.dispose()
