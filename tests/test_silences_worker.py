"""A silence created over the API while a storm is in flight, with a real `celery -A tasks
worker`: every event the worker processes from one second after the API answered is silenced
(SPEC §16), and the storm goes on being processed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from alertworker.client import AlertPublisher
from alertworker.core.models import AlertNotification, AlertThrottle, Tenant
from tests import test_api_support as support
from tests.processes import WORKER_ARGS, celery, wait_for

pytestmark = pytest.mark.slow
app, client, caller = support.app, support.client, support.caller


@pytest.fixture
def worker(test_env, settings, tmp_path):
    proc = celery(test_env, tmp_path / "worker.log", *WORKER_ARGS, "-c", "1")
    yield proc
    proc.stop()


def _storm(settings, stop: threading.Event) -> None:
    with AlertPublisher.from_settings(settings, max_batch=20, linger_ms=10) as pub:
        i = 0
        while not stop.is_set():
            pub.publish(tenant_id="acme", alert_type="high_latency", title=f"slow {i}",
                        context={"provider_name": "openai", "latency_ms": 9000})  # fmt: skip
            i += 1
            time.sleep(0.005)


def test_a_silence_applies_within_a_second_during_a_storm(
    settings, session_factory, make_config, client, caller, worker
):
    me = caller("acme")
    with session_factory() as s:
        tenant = s.get(Tenant, me.tenant_id)
    make_config(tenant, channels=["in_app"], cooldown_minutes=0, max_alerts_per_hour=10_000)

    def notified() -> int:
        with session_factory() as s:
            return s.scalar(select(func.count()).select_from(AlertNotification))

    def silenced() -> int:
        with session_factory() as s:
            return int(s.scalar(select(func.coalesce(func.sum(AlertThrottle.silenced_count), 0))))

    stop = threading.Event()
    storm = threading.Thread(target=_storm, args=(settings, stop), daemon=True)
    storm.start()
    try:
        wait_for(lambda: notified() >= 50, 60, worker.output)  # the storm is in flight
        r = client.post(f"{support.API}/admin/alerts/silences", headers=me.h, json={
            "matchers": [{"name": "context.provider_name", "op": "=", "value": "openai"}],
            "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "comment": "restarting openai"})  # fmt: skip
        answered = datetime.now(UTC)
        assert r.status_code == 201, r.get_json()
        wait_for(lambda: silenced() >= 100, 60, worker.output)  # and goes on, silenced
    finally:
        stop.set()
        storm.join(10)
    wait_for(lambda: worker.output().count("silenced by silence") > 0, 10, worker.output)
    with session_factory() as s:
        late = s.scalar(select(func.count()).select_from(AlertNotification).where(
            AlertNotification.triggered_at >= answered + timedelta(seconds=1)))  # fmt: skip
        before = s.scalar(select(func.count()).select_from(AlertNotification).where(
            AlertNotification.triggered_at < answered))  # fmt: skip
    assert late == 0 and before >= 50
    assert worker.alive()
