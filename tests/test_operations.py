"""Operations: JSON log lines with their context, retention in bounded batches."""

import json
import logging
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from alertworker.core.db import utcnow
from alertworker.core.logs import JsonFormatter
from alertworker.core.models import AlertNotification, NotificationDelivery, RejectedEvent
from alertworker.ingest.pipeline import Pipeline
from alertworker.tenants.retention import prune


def test_json_log_lines_carry_task_and_event_ids():
    record = logging.makeLogRecord(
        {
            "name": "alertworker.ingest.pipeline",
            "levelname": "INFO",
            "msg": "batch: %d events",
            "args": (1,),
            "task_id": "t-1",
            "event_id": "e-1",
        }
    )
    line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["task_id"], line["event_id"]) == ("batch: 1 events", "t-1", "e-1")
    assert line["level"] == "INFO" and line["ts"].endswith("+00:00")


def test_prune_deletes_old_rows_with_their_deliveries_in_batches(
    settings, session_factory, redis_client, make_tenant, make_config, db
):
    make_config(make_tenant("acme"), cooldown_minutes=0, max_alerts_per_hour=100)
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "tenant_id": "acme",
            "alert_type": "high_latency",
            "title": f"t{i}",
            "context": {"provider_name": f"p{i}", "latency_ms": 9000},
        }
        for i in range(7)
    ]
    old = utcnow() - timedelta(days=settings.notification_retention_days + 1)
    Pipeline(settings, session_factory, redis_client, clock=lambda: old).process(
        events[:5] + ["bad"]
    )
    Pipeline(settings, session_factory, redis_client).process(events[5:])
    db.execute(RejectedEvent.__table__.update().values(received_at=old))
    db.commit()

    deleted = prune(settings, session_factory, batch=2)
    assert deleted == {"alert_notifications": 5, "notification_digests": 0, "rejected_events": 1,
                       "event_trail": 5}  # fmt: skip
    assert db.scalar(select(func.count()).select_from(AlertNotification)) == 2
    assert db.scalar(select(func.count()).select_from(NotificationDelivery)) == 4


def test_queue_depth_is_reported_per_queue(settings):
    from alertworker.client import AlertPublisher
    from alertworker.core.queues import queue_depths
    from api import create_app

    with AlertPublisher.from_settings(settings, max_batch=1) as pub:
        pub.publish_many([{"tenant_id": "acme", "alert_type": "high_latency", "title": "t"}] * 3)
    depths = queue_depths(settings)
    assert depths["alerts.events"] == 3 and depths["alerts.deliver.webhook"] == 0
    body = create_app(settings).test_client().get("/metrics").get_data(as_text=True)
    assert 'alertworker_queue_depth{queue="alerts.events"} 3.0' in body


def test_only_the_relaxed_engine_skips_the_wal_flush_wait(settings):
    from alertworker.core.db import make_engine

    for relaxed, expected in ((False, "on"), (True, "off")):
        engine = make_engine(settings, relaxed_commit=relaxed)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == expected
        engine.dispose()
