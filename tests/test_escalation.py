"""Escalation (SPEC §14) with a fixed clock: notifications made by the real pipeline, steps run
by ``escalation.run_due(now=...)`` against Postgres; step times, repeat, stop on acknowledge
and on resolve, the claim, schedule and user targets, target configs reaching the channels
(webhook, and PagerDuty and SMS through their stand-ins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alertworker.core.models import (
    AlertConfig,
    AlertNotification,
    EscalationPolicy,
    NotificationDelivery,
    NotificationPreference,
    OnCallSchedule,
    User,
)
from alertworker.delivery import deliveries
from alertworker.ingest.pipeline import Pipeline
from alertworker.paging import escalation
from alertworker.tenants import notifications
from tests.standins import TWILIO_SID, TWILIO_TOKEN

T0 = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)  # Tuesday; bob's week of the rotation below
MIN = timedelta(minutes=1)


@pytest.fixture
def acme(make_tenant, session_factory):
    """Tenant acme with users ann, bob, cy and a weekly rotation of them; returns a namespace."""
    tenant = make_tenant("acme")
    with session_factory() as s:
        people = [User(tenant_id=tenant.id, email=f"{n}@acme.test") for n in ("ann", "bob", "cy")]
        s.add_all(people)
        s.flush()
        schedule = OnCallSchedule(
            tenant_id=tenant.id, name="Primary", timezone="Europe/Berlin", overrides=[],
            layers=[{"users": [u.id for u in people], "rotation": "weekly",
                     "start": "2026-03-23T09:00:00+01:00"}],
        )  # fmt: skip
        s.add(schedule)
        s.commit()
        return tenant, [u.id for u in people], schedule.id


def policy(session_factory, tenant, steps, repeat=0) -> int:
    with session_factory() as s:
        row = EscalationPolicy(tenant_id=tenant.id, name="p", steps=steps, repeat=repeat)
        s.add(row)
        s.commit()
        return row.id


def email(address, delay=0):
    return {"delay_minutes": delay, "targets": [{"type": "email", "address": address}]}


def trigger(settings, session_factory, redis_client, *, is_test=False, at=T0, action=None) -> int:
    pipeline = Pipeline(settings, session_factory, redis_client, clock=lambda: at)
    event = {"tenant_id": "acme", "alert_type": "quota_exhausted", "title": "quota gone",
             "context": {"provider_name": "openai"}}  # fmt: skip
    if is_test:
        event["is_test"] = True
    if action:
        event["action"] = action
    result = pipeline.process([event])
    assert result.outcomes["resolved" if action else "notified"] == 1, result.outcomes
    with session_factory() as s:
        return s.scalar(select(AlertNotification.id).order_by(AlertNotification.id.desc()))


def escalation_rows(session_factory, nid):
    with session_factory() as s:
        rows = s.scalars(
            select(NotificationDelivery)
            .where(NotificationDelivery.notification_id == nid,
                   NotificationDelivery.escalation_step.is_not(None))
            .order_by(NotificationDelivery.id)
        ).all()  # fmt: skip
        assert {d.kind for d in rows} <= {escalation.KIND}
        return [(d.escalation_step, d.channel, d.recipient) for d in rows]


def state(session_factory, nid):
    with session_factory() as s:
        n = s.get(AlertNotification, nid)
        return n.escalation_step, n.escalation_next_at, n.escalation_state


@pytest.fixture
def escalating(settings, session_factory, redis_client, acme, make_config):
    """A config with a two-step policy (0 and 5 minutes), repeated once; its notification id."""
    tenant, _, _ = acme
    pid = policy(session_factory, tenant,
                 [email("first@x.test"), email("second@x.test", 5)], repeat=1)  # fmt: skip
    make_config(tenant, alert_type="quota_exhausted", channels=["in_app"],
                escalation_policy_id=pid)  # fmt: skip
    return pid, trigger(settings, session_factory, redis_client)


def test_steps_run_on_time_with_repeat(settings, session_factory, escalating):
    pid, nid = escalating
    run = lambda now: escalation.run_due(settings, session_factory, now=now)  # noqa: E731
    assert state(session_factory, nid) == (0, T0, "running")
    assert run(T0 - timedelta(seconds=1)) == []
    pending = run(T0)
    assert [(p.channel, p.delivery_id > 0) for p in pending] == [("email", True)]
    assert state(session_factory, nid) == (1, T0 + 5 * MIN, "running")
    assert run(T0 + 4 * MIN) == []
    run(T0 + 5 * MIN)  # step 2; then the repeat's step 1 (delay 0) is due at once
    assert state(session_factory, nid) == (2, T0 + 5 * MIN, "running")
    run(T0 + 5 * MIN)
    assert state(session_factory, nid) == (3, T0 + 10 * MIN, "running")
    run(T0 + 10 * MIN)
    assert state(session_factory, nid) == (4, None, "finished")
    assert run(T0 + timedelta(days=1)) == []
    assert escalation_rows(session_factory, nid) == [
        (1, "email", "first@x.test"),
        (2, "email", "second@x.test"),
        (3, "email", "first@x.test"),
        (4, "email", "second@x.test"),
    ]


def test_a_late_beat_keeps_the_plan(settings, session_factory, escalating):
    _, nid = escalating
    escalation.run_due(settings, session_factory, now=T0 + 3 * MIN)  # step 1, 3 minutes late
    assert state(session_factory, nid) == (1, T0 + 5 * MIN, "running")  # from when it was due


def test_acknowledge_stops_before_the_next_step(settings, session_factory, escalating, acme):
    _, nid = escalating
    escalation.run_due(settings, session_factory, now=T0)
    with session_factory() as s:
        notifications.acknowledge(s, acme[0].id, nid, acme[1][0], settings.delivery_lease_seconds)
    assert state(session_factory, nid) == (1, None, "stopped")
    assert escalation.run_due(settings, session_factory, now=T0 + timedelta(hours=1)) == []
    assert escalation_rows(session_factory, nid) == [(1, "email", "first@x.test")]


@pytest.mark.parametrize("closed", ["acknowledged", "resolved"])
def test_the_claim_refuses_a_closed_alert(settings, session_factory, escalating, closed):
    """An acknowledge or resolve committed between the due query and the claim: the step does
    not run."""
    _, nid = escalating
    with session_factory() as s:
        s.get(AlertNotification, nid).state = closed  # without stop(): the claim decides
        s.commit()
    assert escalation.run_due(settings, session_factory, now=T0) == []
    assert escalation_rows(session_factory, nid) == []


def test_a_resolve_before_step_2_stops_it(settings, session_factory, redis_client, escalating):
    """A resolve event (SPEC §13, through the pipeline and ``lifecycle.claim``) after step 1:
    the escalation stops in the resolve's transaction and step 2 never runs."""
    _, nid = escalating
    escalation.run_due(settings, session_factory, now=T0)
    trigger(settings, session_factory, redis_client, at=T0 + 2 * MIN, action="resolve")
    assert state(session_factory, nid) == (1, None, "stopped")
    assert escalation.run_due(settings, session_factory, now=T0 + timedelta(hours=1)) == []
    assert escalation_rows(session_factory, nid) == [(1, "email", "first@x.test")]


def test_a_manual_resolve_stops_it(settings, session_factory, escalating, acme):
    _, nid = escalating
    with session_factory() as s:
        notifications.resolve(s, acme[0].id, nid, acme[1][0], settings.delivery_lease_seconds)
    assert state(session_factory, nid) == (0, None, "stopped")
    assert escalation.run_due(settings, session_factory, now=T0 + timedelta(hours=1)) == []


def test_test_alerts_and_configs_without_policy_do_not_escalate(
    settings, session_factory, redis_client, acme, make_config
):
    tenant, _, _ = acme
    pid = policy(session_factory, tenant, [email("a@x.test")])
    make_config(tenant, alert_type="quota_exhausted", channels=["in_app"],
                escalation_policy_id=pid)  # fmt: skip
    nid = trigger(settings, session_factory, redis_client, is_test=True)
    assert state(session_factory, nid) == (None, None, None)


def test_a_deleted_policy_finishes_the_escalation(settings, session_factory, escalating):
    pid, nid = escalating
    escalation.run_due(settings, session_factory, now=T0)
    with session_factory() as s:  # first free it from its config, as the API demands
        for c in s.scalars(select(AlertConfig)):
            c.escalation_policy_id = None
        s.delete(s.get(EscalationPolicy, pid))
        s.commit()
    escalation.run_due(settings, session_factory, now=T0 + 5 * MIN)
    assert state(session_factory, nid)[2] == "finished"
    assert len(escalation_rows(session_factory, nid)) == 1


def test_schedule_and_user_targets(settings, session_factory, redis_client, acme, make_config):
    tenant, (ann, bob, cy), sid = acme
    pid = policy(session_factory, tenant, [{"delay_minutes": 0, "targets": [
        {"type": "schedule", "schedule_id": sid}, {"type": "user", "user_id": cy},
        {"type": "user", "user_id": bob},  # bob twice (on call, and named): one email
    ]}])  # fmt: skip
    make_config(tenant, alert_type="quota_exhausted", channels=["in_app"],
                escalation_policy_id=pid)  # fmt: skip
    nid = trigger(settings, session_factory, redis_client)
    escalation.run_due(settings, session_factory, now=T0)  # bob is on call on T0
    assert escalation_rows(session_factory, nid) == [
        (1, "email", "bob@acme.test"),
        (1, "email", "cy@acme.test"),
    ]


@pytest.fixture
def sms_settings(settings, twilio):
    return settings.replace(sms_api_url=twilio.url(""), twilio_account_sid=TWILIO_SID,
                            twilio_auth_token=TWILIO_TOKEN, sms_from="+15005550006")  # fmt: skip


@pytest.mark.parametrize("sms_enabled", [True, False])
def test_a_user_targets_preferences_apply(
    sms_settings, session_factory, redis_client, acme, make_config, twilio, sms_enabled
):
    tenant, (ann, _, _), _ = acme
    with session_factory() as s:
        s.add(NotificationPreference(user_id=ann, email_enabled=False, phone="+4915112345678",
                                     sms_enabled=sms_enabled))  # fmt: skip
        s.commit()
    pid = policy(
        session_factory,
        tenant,
        [{"delay_minutes": 0, "targets": [{"type": "user", "user_id": ann}]}],
    )
    make_config(tenant, alert_type="quota_exhausted", channels=["in_app"],
                escalation_policy_id=pid)  # fmt: skip
    nid = trigger(sms_settings, session_factory, redis_client)
    pending = escalation.run_due(sms_settings, session_factory, now=T0)
    ids = [p.delivery_id for p in pending]
    outcome = deliveries.deliver(sms_settings, session_factory, redis_client, ids)
    assert outcome[ids[0]].status == "skipped"  # her email is off
    with session_factory() as s:
        assert s.get(NotificationDelivery, ids[0]).last_error == "skipped: email off"
    texted = [(1, "sms", "+4915112345678")] if sms_enabled else []  # her phone, unless opted out
    assert escalation_rows(session_factory, nid) == [(1, "email", "ann@acme.test"), *texted]
    assert [f["To"] for f in twilio.forms()] == ["+4915112345678"] * sms_enabled
    assert twilio.problems == []


def test_pagerduty_and_sms_targets_reach_their_services(
    sms_settings, session_factory, redis_client, acme, make_config, pagerduty, twilio
):
    settings = sms_settings.replace(pagerduty_events_url=pagerduty.url())
    tenant, _, _ = acme
    key = "0123456789abcdef0123456789ABCDEF"
    pid = policy(session_factory, tenant, [{"delay_minutes": 0, "targets": [
        {"type": "pagerduty", "routing_key": key}, {"type": "sms", "number": "+14155550100"},
    ]}])  # fmt: skip
    make_config(tenant, alert_type="quota_exhausted", channels=["in_app"],
                escalation_policy_id=pid)  # fmt: skip
    nid = trigger(settings, session_factory, redis_client)
    pending = escalation.run_due(settings, session_factory, now=T0)
    assert sorted(p.channel for p in pending) == ["pagerduty", "sms"]
    outcome = deliveries.deliver(settings, session_factory, redis_client,
                                 [p.delivery_id for p in pending])  # fmt: skip
    assert {o.status for o in outcome.values()} == {"delivered"}
    [event] = pagerduty.events()
    assert (event["routing_key"], event["event_action"]) == (key, "trigger")  # pages as a trigger
    assert event["payload"]["summary"] == "quota gone"
    [form] = twilio.forms()
    assert form["To"] == "+14155550100" and form["Body"].startswith("[")
    assert "quota gone" in form["Body"]
    assert pagerduty.problems == twilio.problems == []
    assert escalation_rows(session_factory, nid) == [
        (1, "pagerduty", ""),
        (1, "sms", "+14155550100"),
    ]


def test_a_webhook_target_is_sent_with_its_own_config(
    settings, session_factory, redis_client, acme, make_config, http_receiver
):
    tenant, _, _ = acme
    target = {"type": "webhook", "url": http_receiver.url("/page"), "headers": {"X-Team": "sre"},
              "secret": "target-secret-1"}  # fmt: skip
    pid = policy(session_factory, tenant, [{"delay_minutes": 0, "targets": [target]}])
    make_config(tenant, alert_type="quota_exhausted", escalation_policy_id=pid)  # its own hook
    trigger(settings, session_factory, redis_client)
    [pending] = escalation.run_due(settings, session_factory, now=T0)
    outcome = deliveries.deliver(settings, session_factory, redis_client, [pending.delivery_id])
    assert outcome[pending.delivery_id].status == "delivered"
    [request] = http_receiver.requests
    assert request.path == "/page" and request.headers["X-Team"] == "sre"
    assert request.headers["X-Alertworker-Signature"].startswith("v1=")
    assert request.headers["Idempotency-Key"] == str(pending.delivery_id)


def test_an_escalated_pagerduty_incident_is_acknowledged_and_resolved(
    settings, session_factory, redis_client, acme, make_config, pagerduty
):
    """The incident a step opened on the target's routing key hears the acknowledge and the
    resolve (SPEC §13), once each however many steps paged it; e-mail targets get neither."""
    settings = settings.replace(pagerduty_events_url=pagerduty.url())
    tenant, users, _ = acme
    key = "0123456789abcdef0123456789ABCDEF"
    page = {"delay_minutes": 0, "targets": [{"type": "pagerduty", "routing_key": key}]}
    pid = policy(session_factory, tenant, [page, email("boss@x.test", 5)], repeat=1)
    make_config(tenant, alert_type="quota_exhausted", channels=["in_app"],
                escalation_policy_id=pid)  # fmt: skip
    nid = trigger(settings, session_factory, redis_client)

    def send(pending):
        ids = [p.delivery_id for p in pending]
        outcome = deliveries.deliver(settings, session_factory, redis_client, ids)
        assert {o.status for o in outcome.values()} == {"delivered"}

    send(escalation.run_due(settings, session_factory, now=T0))  # step 1: the page
    assert [p.channel for p in escalation.run_due(settings, session_factory,
                                                   now=T0 + 5 * MIN)] == ["email"]  # fmt: skip
    send(escalation.run_due(settings, session_factory, now=T0 + 5 * MIN))  # the repeat's page
    with session_factory() as s:
        _, pending = notifications.acknowledge(s, tenant.id, nid, users[0],
                                               settings.delivery_lease_seconds)  # fmt: skip
    send(pending)
    with session_factory() as s:
        _, _, pending = notifications.resolve(s, tenant.id, nid, users[0],
                                              settings.delivery_lease_seconds)  # fmt: skip
    assert [p.channel for p in pending] == ["pagerduty"]
    send(pending)
    actions = [(e["routing_key"], e["event_action"]) for e in pagerduty.events()]
    assert actions == [(key, "trigger"), (key, "trigger"), (key, "acknowledge"), (key, "resolve")]
    assert len({e["dedup_key"] for e in pagerduty.events()}) == 1
