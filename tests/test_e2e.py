"""End to end, distributed (SPEC §10, §11): the exact commands of docker-compose.yml (migrate,
the gunicorn API, two prefork workers, one beat) as subprocesses against the local Postgres and
a Redis or RabbitMQ broker. 2,000 events over 200 fingerprints are published with
`trigger_alert`; one worker is SIGKILLed while webhook deliveries are in flight. Afterwards
every expected notification exists once and every delivery reached the receiver, duplicates
only under the same Idempotency-Key. Then 20 of the alerts are resolved with `resolve_alert`
and each gets exactly one resolve delivery.

The kill comes once every notification exists: on the Redis transport a killed worker's
unacked *ingest* messages return only after the visibility timeout (minutes); that replay is
idempotent (tests/test_pipeline.py), deliveries are what the lease and the sweeper must save.
"""

import json
import subprocess
import uuid
from collections import Counter

import pytest
import requests
import yaml
from sqlalchemy import func, select

from alertworker import client
from alertworker.client import resolve_alert, trigger_alert
from alertworker.models import AlertNotification
from alertworker.models import NotificationDelivery as D
from tests.processes import ROOT, Proc, command, wait_for
from tests.receivers import Reply, free_port

pytestmark = pytest.mark.slow

SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
EVENTS, FINGERPRINTS, RESOLVED = 2000, 200, 20


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request, test_env):
    if request.param == "redis":
        yield test_env["BROKER_URL"]
        return
    vhost = f"awtest-{uuid.uuid4().hex[:8]}"
    ctl = ["rabbitmqctl", "-q"]
    subprocess.run([*ctl, "add_vhost", vhost], check=True, timeout=60)
    subprocess.run(
        [*ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, timeout=60
    )
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run([*ctl, "delete_vhost", vhost], check=False, timeout=60)


@pytest.fixture
def stack(test_env, settings, broker_url, tmp_path):
    """migrate, api, worker x2 and beat, each run with its compose command."""
    port = free_port()
    env = {
        **test_env,
        "BROKER_URL": broker_url,
        "DELIVERY_LEASE_SECONDS": "5",
        "SWEEPER_INTERVAL_SECONDS": "1",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }
    subprocess.run(
        command(SERVICES["migrate"]["command"]),
        cwd=ROOT,
        env={**_base_env(), **env},
        check=True,
        timeout=120,
    )
    procs: dict[str, Proc] = {}
    try:  # stop whatever was started, even when a later start fails
        api = command(SERVICES["api"]["command"])
        procs["api"] = Proc(api, env, tmp_path / "api.log", "Booting worker")
        for i in (1, 2):
            metrics_dir = tmp_path / f"prom{i}"
            metrics_dir.mkdir()
            worker_env = {
                **env,
                "WORKER_METRICS_PORT": str(free_port()),
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            }
            # In compose each container has its own hostname, hence its own node name; here two
            # workers share one host, so they are named apart (RabbitMQ insists: exclusive pidbox).
            argv = [*command(SERVICES["worker"]["command"]), "--hostname", f"worker{i}@%h"]
            procs[f"worker{i}"] = Proc(argv, worker_env, tmp_path / f"worker{i}.log", "ready.")
            procs[f"worker{i}"].metrics_port = worker_env["WORKER_METRICS_PORT"]
        (tmp_path / "var").mkdir()
        beat = command(SERVICES["beat"]["command"])
        procs["beat"] = Proc(beat, env, tmp_path / "beat.log", "beat: Starting", cwd=tmp_path)
        yield env, procs, f"http://127.0.0.1:{port}"
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
    procs["worker1"].kill()  # SIGKILL, the whole process group, mid-delivery

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
    assert procs["worker2"].alive() and procs["beat"].alive() and procs["api"].alive()
    metrics = requests.get(
        f"http://127.0.0.1:{procs['worker2'].metrics_port}/metrics", timeout=5
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
