"""Escalation end to end (SPEC §14): a real worker and two real ``celery beat`` processes,
events published to the broker, emails received by a real SMTP server; and the step runner
racing itself in separate processes against Postgres.

Delays are minutes by the SPEC; the flow test uses a 1-minute second step and moves the row's
``escalation_next_at`` to now instead of waiting for it (beat runs every second here).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from alertworker.client import AlertPublisher
from alertworker.core.db import utcnow
from alertworker.core.models import (
    AlertConfig,
    AlertNotification,
    EscalationPolicy,
    NotificationDelivery,
    OnCallSchedule,
    User,
)
from alertworker.tenants import notifications
from tests.processes import ROOT, WORKER_ARGS, celery, wait_for

N, D = AlertNotification, NotificationDelivery


def setup_tenant(session_factory, make_tenant, steps, repeat):
    """acme: ann on call now (a weekly rotation of ann, bob, cy that started an hour ago), a
    policy of ``steps`` and a quota_exhausted config using it. Returns the user ids by name."""
    tenant = make_tenant("acme")
    with session_factory() as s:
        names = ("ann", "bob", "cy")
        people = {n: User(tenant_id=tenant.id, email=f"{n}@acme.test") for n in names}
        s.add_all(people.values())
        s.flush()
        ids = {n: u.id for n, u in people.items()}
        schedule = OnCallSchedule(
            tenant_id=tenant.id, name="Primary", timezone="Europe/Berlin", overrides=[],
            layers=[{"users": [ids["ann"], ids["bob"], ids["cy"]], "rotation": "weekly",
                     "start": (utcnow() - timedelta(hours=1)).isoformat()}],
        )  # fmt: skip
        s.add(schedule)
        s.flush()
        ids["schedule"] = schedule.id
        policy = EscalationPolicy(tenant_id=tenant.id, name="critical",
                                  steps=steps(ids), repeat=repeat)  # fmt: skip
        s.add(policy)
        s.flush()
        s.add(AlertConfig(tenant_id=tenant.id, name="quota", alert_type="quota_exhausted",
                          severity="critical", channels=["in_app"], cooldown_minutes=0,
                          max_alerts_per_hour=1000, escalation_policy_id=policy.id))  # fmt: skip
        s.commit()
        return tenant, ids


def sent(session_factory, nid):
    """(step, recipient) of the notification's escalation deliveries that were delivered."""
    with session_factory() as s:
        rows = s.execute(
            select(D.escalation_step, D.recipient)
            .where(D.notification_id == nid, D.escalation_step.is_not(None),
                   D.status == "delivered")
            .order_by(D.escalation_step, D.recipient)
        ).all()  # fmt: skip
    return [tuple(r) for r in rows]


def make_due(session_factory, nid):
    with session_factory() as s:
        s.execute(update(N).where(N.id == nid).values(escalation_next_at=utcnow()))
        s.commit()


@pytest.mark.slow
def test_escalation_through_a_real_worker_and_two_beats(
    test_env, settings, session_factory, make_tenant, smtp_receiver, tmp_path
):
    two_steps = lambda ids: [  # noqa: E731
        {"delay_minutes": 0, "targets": [{"type": "schedule", "schedule_id": ids["schedule"]}]},
        {"delay_minutes": 1, "targets": [{"type": "user", "user_id": ids["cy"]}]},
    ]
    tenant, ids = setup_tenant(session_factory, make_tenant, two_steps, repeat=1)
    env = {**test_env, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_receiver.port),
           "ESCALATION_INTERVAL_SECONDS": "1"}  # fmt: skip
    worker = celery(env, tmp_path / "worker.log", *WORKER_ARGS, "-c", "2")
    beats = [
        celery(
            env,
            tmp_path / f"beat{i}.log",
            "beat",
            "-s",
            str(tmp_path / f"beat{i}"),
            "-l",
            "info",
            ready="beat: Starting",
        )  # fmt: skip
        for i in (1, 2)
    ]

    def logs() -> str:  # the worker's log, then the notifications' escalation state
        with session_factory() as s:
            rows = s.execute(select(N.id, N.escalation_step, N.escalation_state,
                                    N.escalation_next_at, N.state)).all()  # fmt: skip
            deliveries = s.execute(select(D.notification_id, D.escalation_step, D.recipient,
                                          D.status, D.attempts)).all()  # fmt: skip
        return f"{worker.output()[-2000:]}\n{rows}\n{deliveries}"

    try:
        with AlertPublisher.from_settings(settings) as publisher:
            for provider in ("a", "b", "c"):
                publisher.publish(tenant_id="acme", alert_type="quota_exhausted",
                                  title=f"{provider} quota gone",
                                  context={"provider_name": provider})  # fmt: skip
        with session_factory() as s:
            wait_for(lambda: s.scalar(select(func.count()).select_from(N)) == 3, 90, logs)
            a, b, c = s.scalars(select(N.id).order_by(N.id)).all()
        # step 1 at once: the schedule's on-call user, ann, for all three
        for nid in (a, b, c):
            wait_for(lambda n=nid: sent(session_factory, n) == [(1, "ann@acme.test")], 90, logs)
        with session_factory() as s:  # B is acknowledged, C resolved by hand
            notifications.acknowledge(s, tenant.id, b, ids["ann"], settings.delivery_lease_seconds)
            notifications.resolve(s, tenant.id, c, ids["ann"], settings.delivery_lease_seconds)
        for nid in (b, c):  # their next step's time passes: nothing more is sent
            with session_factory() as s:
                s.execute(update(N).where(N.id == nid).values(escalation_next_at=utcnow()))
                s.commit()
        assert sent(session_factory, a) == [(1, "ann@acme.test")]  # step 2 waits its minute
        make_due(session_factory, a)  # ... which has passed
        # step 2, then the repeat's step 1 (delay 0 after step 2): the next beat's run, which
        # may come a few milliseconds later, so the count can go from 1 to 3 between two looks
        wait_for(lambda: len(sent(session_factory, a)) >= 3, 90, logs)
        assert sent(session_factory, a) == [  # the repeat's step 2 waits its minute
            (1, "ann@acme.test"), (2, "cy@acme.test"), (3, "ann@acme.test"),
        ]  # fmt: skip
        make_due(session_factory, a)
        wait_for(lambda: len(sent(session_factory, a)) == 4, 90, logs)
        with session_factory() as s:
            wait_for(lambda: s.get(N, a, populate_existing=True).escalation_state == "finished",
                     10, logs)  # fmt: skip
    finally:
        for proc in (*beats, worker):
            proc.stop()
    assert sent(session_factory, a) == [
        (1, "ann@acme.test"),
        (2, "cy@acme.test"),
        (3, "ann@acme.test"),
        (4, "cy@acme.test"),
    ]
    for nid in (b, c):
        assert sent(session_factory, nid) == [(1, "ann@acme.test")]
    with session_factory() as s:
        assert [s.get(N, n).escalation_state for n in (b, c)] == ["stopped", "stopped"]
    recipients = Counter(r for m in smtp_receiver.messages for r in m.rcpt_tos)
    assert recipients == {"ann@acme.test": 4, "cy@acme.test": 2}  # two beats, each step once
    assert all("[CRITICAL]" in m.email["Subject"] for m in smtp_receiver.messages)


RUNNER = """
import sys, time
from datetime import timedelta
from sqlalchemy import func, select
from alertworker.paging import escalation
from alertworker.core.db import make_engine, make_session_factory, utcnow
from alertworker.core.models import AlertNotification as N
from alertworker.core.settings import load
settings = load()
factory = make_session_factory(make_engine(settings))

def running():
    with factory() as s:
        return s.scalar(select(func.count()).where(N.escalation_state == "running"))

while time.time() < float(sys.argv[1]):
    pass
later = utcnow() + timedelta(days=1)
while running():
    escalation.run_due(settings, factory, now=later, limit=20)
"""


@pytest.mark.slow
def test_each_step_runs_once_with_runners_racing(
    test_env, settings, session_factory, make_tenant, redis_client
):
    import time

    from alertworker.ingest.pipeline import Pipeline

    steps = lambda ids: [  # noqa: E731
        {"delay_minutes": 0, "targets": [{"type": "user", "user_id": ids["ann"]}]},
        {"delay_minutes": 0, "targets": [{"type": "email", "address": "boss@acme.test"}]},
    ]
    setup_tenant(session_factory, make_tenant, steps, repeat=2)  # 6 steps each
    Pipeline(settings, session_factory, redis_client).process([
        {"tenant_id": "acme", "alert_type": "quota_exhausted", "title": f"quota {i}",
         "context": {"provider_name": f"p{i}"}} for i in range(60)
    ])  # fmt: skip
    start = str(time.time() + 3)  # both processes start their loop at the same instant
    runners = [
        subprocess.Popen([sys.executable, "-c", RUNNER, start], cwd=ROOT, env=test_env | {
            "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]  # fmt: skip
    outputs = [r.communicate(timeout=120) for r in runners]
    assert all(r.returncode == 0 for r in runners), outputs
    with session_factory() as s:
        per_step = Counter(s.execute(
            select(D.notification_id, D.escalation_step).where(D.escalation_step.is_not(None))
        ).all())  # fmt: skip
        states = Counter(s.scalars(select(N.escalation_state)))
    assert states == {"finished": 60}
    assert len(per_step) == 60 * 6 and set(per_step.values()) == {1}  # every step, each once
