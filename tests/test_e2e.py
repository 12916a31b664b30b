"""End to end, distributed (SPEC §10, §11): the exact commands of docker-compose.yml (migrate,
the gunicorn API, two prefork workers, two delivery workers on threads, one beat) as
subprocesses against the local Postgres and a Redis or RabbitMQ broker. 2,000 events over 200
fingerprints are published with `trigger_alert`; one worker of each kind is SIGKILLed while
webhook deliveries are in flight. Afterwards
every expected notification exists once and every delivery reached the receiver, duplicates
only under the same Idempotency-Key. Then 20 of the alerts are resolved with `resolve_alert`
and each gets exactly one resolve delivery.

The kill comes once every notification exists: on the Redis transport a killed worker's
unacked *ingest* messages return only after the visibility timeout (minutes); that replay is
idempotent (tests/test_pipeline.py), deliveries are what the lease and the sweeper must save.
"""

import json
import subprocess
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from alertworker import client
from alertworker.client import resolve_alert, trigger_alert
from alertworker.core.models import AlertNotification
from alertworker.core.models import NotificationDelivery as D
from tests.processes import ROOT, Proc, command, start_stack, wait_for
from tests.receivers import Reply
from tests.servers import rabbitmq_vhost

pytestmark = pytest.mark.slow

EVENTS, FINGERPRINTS, RESOLVED = 2000, 200, 20


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request, test_env):
    if request.param == "redis":
        yield test_env["BROKER_URL"]
        return
    with rabbitmq_vhost() as url:
        yield url


@pytest.fixture
def stack(test_env, settings, broker_url, tmp_path):
    """migrate, api, worker x2, delivery x2 and beat, each run with its compose command."""
    env = {**test_env, "BROKER_URL": broker_url, "DELIVERY_LEASE_SECONDS": "5",
           "SWEEPER_INTERVAL_SECONDS": "1"}  # fmt: skip
    procs: dict[str, Proc] = {}
    try:  # stop whatever was started, even when a later start fails
        api = start_stack(env, tmp_path, procs)
        yield env, procs, api
    finally:
        for proc in procs.values():
            proc.stop()


def _base_env():
    import os

    return dict(os.environ)


def test_a_killed_worker_loses_nothing(stack, session_factory, http_receiver, monkeypatch):
    env, procs, api = stack
    http_receiver.default = Reply(200, delay=0.05)  # keep deliveries in flight for a while

    out = subprocess.run(
        command(
            [
                "alertworker",
                "create-token",
                "--tenant",
                "acme",
                "--email",
                "ops@acme.test",
                "--scopes",
                "alerts:read,alerts:write",
            ]
        ),
        cwd=ROOT,
        env={**_base_env(), **env},
        check=True,
        capture_output=True,
        text=True,
    )
    token = out.stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{api}/healthz", timeout=5).status_code == 200
    created = requests.post(
        f"{api}/api/v1/admin/alerts/configs",
        headers=auth,
        timeout=10,
        json={
            "name": "circuit opened",
            "alert_type": "circuit_breaker_opened",
            "channels": ["in_app", "webhook"],
            "channel_config": {"webhook": {"url": http_receiver.url()}},
            "cooldown_minutes": 60,
            "max_alerts_per_hour": 10_000,
        },
    )
    assert created.status_code == 201, created.text

    monkeypatch.setenv("BROKER_URL", env["BROKER_URL"])
    monkeypatch.setenv("REDIS_KEY_PREFIX", env["REDIS_KEY_PREFIX"])
    monkeypatch.setattr(client, "_default", None)
    for i in range(EVENTS):
        trigger_alert(
            tenant_id="acme",
            alert_type="circuit_breaker_opened",
            title="circuit opened",
            context={"provider_name": f"provider-{i % FINGERPRINTS}", "consecutive_failures": 5},
        )

    def notifications():
        with session_factory() as s:
            return s.scalar(select(func.count()).select_from(AlertNotification))

    logs = lambda: "\n".join(p.output()[-1500:] for p in procs.values())  # noqa: E731
    wait_for(
        lambda: notifications() == FINGERPRINTS,
        120,
        lambda: f"{notifications()} notifications\n{logs()}",
    )
    wait_for(lambda: len(http_receiver.requests) >= 40, 60, logs)
    procs["delivery1"].kill()  # SIGKILL, the whole process group, mid-delivery
    procs["worker1"].kill()  # and the one of a worker (events, the sweeper's runs)

    with session_factory() as s:
        webhook_ids = set(s.scalars(select(D.id).where(D.channel == "webhook")))

        def all_delivered():
            statuses = Counter(
                s.scalars(
                    select(D.status)
                    .where(D.channel == "webhook")
                    .execution_options(populate_existing=True)
                )
            )
            return statuses == Counter({"delivered": FINGERPRINTS})

        wait_for(all_delivered, 120, logs)
        per_fingerprint = s.execute(
            select(AlertNotification.fingerprint, func.count()).group_by(
                AlertNotification.fingerprint
            )
        ).all()

    keys = Counter(r.headers["Idempotency-Key"] for r in http_receiver.requests)
    assert len(per_fingerprint) == FINGERPRINTS and {n for _, n in per_fingerprint} == {1}
    assert {int(k) for k in keys} == webhook_ids  # every delivery arrived, none unknown
    assert len(http_receiver.requests) == sum(keys.values())  # duplicates only as same key
    for name in ("worker2", "delivery2", "beat", "api"):
        assert procs[name].alive(), name
    metrics = requests.get(
        f"http://127.0.0.1:{procs['delivery2'].metrics_port}/metrics", timeout=5
    ).text
    assert "alertworker_deliveries_total" in metrics

    # SPEC §13: the gateway resolves what it triggered; each alert gets one resolve delivery.
    # (Storm events still queued may trigger a resolved alert again: a new alert, by design.)
    resolve_ids = [
        resolve_alert(tenant_id="acme", alert_type="circuit_breaker_opened",
                      context={"provider_name": f"provider-{i}"})
        for i in range(RESOLVED)
    ]  # fmt: skip
    with session_factory() as s:

        def resolves():
            return s.execute(
                select(AlertNotification.id, D.status)
                .join(D, D.notification_id == AlertNotification.id)
                .where(AlertNotification.resolved_by_event_id.in_(resolve_ids), D.kind == "resolve")
                .execution_options(populate_existing=True)
            ).all()  # fmt: skip

        wait_for(lambda: [st for _, st in resolves()] == ["delivered"] * RESOLVED, 240, logs)
        closed = {nid for nid, _ in resolves()}
    bodies = [json.loads(r.body) for r in http_receiver.requests]
    assert {b["notification_id"] for b in bodies if b["status"] == "resolved"} == closed
    assert len(closed) == RESOLVED
