"""SPEC §8 applied at delivery time, against real Postgres, Redis and an SMTP receiver: one email
row per recipient, each decided by its user's preferences; everyone else gets every email."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from alertworker.core.models import NotificationDelivery as D
from alertworker.core.models import NotificationPreference, User
from alertworker.delivery import deliveries
from alertworker.ingest.pipeline import Pipeline
from alertworker.tenants.preferences import put_preferences
from tests import test_api_support as support
from tests.test_api_support import API

app, client, caller = support.app, support.client, support.caller


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("acme")


def add_user(session_factory, tenant, email, **prefs):
    with session_factory() as s:
        user = User(tenant_id=tenant.id, email=email)
        s.add(user)
        s.commit()
        if prefs:
            put_preferences(s, user.id, prefs)
        return user.id


def set_prefs(session_factory, user_id, **prefs):
    with session_factory() as s:
        put_preferences(s, user_id, prefs)


def notify(settings, session_factory, redis_client, title="p95 above 5 s"):
    """One event through the real pipeline; the email delivery ids by recipient."""
    Pipeline(settings, session_factory, redis_client).process([{
        "event_id": str(uuid.uuid4()), "tenant_id": "acme", "alert_type": "high_latency",
        "title": title, "context": {"provider_name": "openai", "latency_ms": 9000},
    }])  # fmt: skip
    with session_factory() as s:
        rows = s.execute(select(D.recipient, D.id).where(D.channel == "email").order_by(D.id))
        return dict(rows.all())


def deliver(settings, session_factory, redis_client, ids):
    outcomes = deliveries.deliver(settings, session_factory, redis_client, list(ids))
    return {i: o.status for i, o in outcomes.items()}


def rows(session_factory):
    with session_factory() as s:
        return {d.recipient: d for d in s.scalars(select(D).where(D.channel == "email"))}


def decisions(decision, reason):
    labels = {"decision": decision, "reason": reason}
    return REGISTRY.get_sample_value("alertworker_preference_decisions_total", labels) or 0.0


def quiet_now(offset=timedelta(0)):
    """Quiet hours (UTC) around the real current time, ending in about two hours (or later
    by ``offset``: from 3 hours on, a window the current time is not in)."""
    now = datetime.now(UTC) + offset
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "timezone": "UTC"}


def test_opt_out_and_min_severity_on_a_mixed_recipient_list(
    smtp_settings, session_factory, redis_client, tenant, make_config, smtp_receiver
):
    add_user(session_factory, tenant, "off@acme.test", email_enabled=False)
    add_user(session_factory, tenant, "Picky@acme.test", min_severity="error")
    add_user(session_factory, tenant, "all@acme.test")  # a user with default preferences
    recipients = ["OFF@acme.test", "picky@acme.test", "all@acme.test", "pager@elsewhere.test"]
    make_config(
        tenant,
        channels=["in_app", "email"],
        severity="warning",
        cooldown_minutes=0,
        channel_config={"email": {"recipients": [*recipients, "Pager@Elsewhere.test"]}},
    )
    before = decisions("skip", "email_off"), decisions("send", "not_a_user")

    ids = notify(smtp_settings, session_factory, redis_client)
    assert list(ids) == recipients  # one row per recipient; a case-duplicate dropped
    outcomes = deliver(smtp_settings, session_factory, redis_client, ids.values())

    assert list(outcomes.values()) == ["skipped", "skipped", "delivered", "delivered"]
    assert sorted(m.rcpt_tos[0] for m in smtp_receiver.messages) == [
        "all@acme.test", "pager@elsewhere.test"]  # fmt: skip
    assert all(len(m.rcpt_tos) == 1 for m in smtp_receiver.messages)
    r = rows(session_factory)
    assert (r["OFF@acme.test"].last_error, r["OFF@acme.test"].attempts) == ("skipped: email off", 0)
    assert r["picky@acme.test"].last_error == "skipped: below min_severity error"
    assert r["pager@elsewhere.test"].status == "delivered"
    assert decisions("skip", "email_off") == before[0] + 1
    assert decisions("send", "not_a_user") == before[1] + 1


def test_severity_at_or_above_min_severity_is_sent(
    smtp_settings, session_factory, redis_client, tenant, make_config, smtp_receiver
):
    add_user(session_factory, tenant, "picky@acme.test", min_severity="error")
    make_config(tenant, channels=["email"], severity="error",
                channel_config={"email": {"recipients": ["picky@acme.test"]}})  # fmt: skip
    ids = notify(smtp_settings, session_factory, redis_client)
    assert deliver(smtp_settings, session_factory, redis_client, ids.values()) == {
        ids["picky@acme.test"]: "delivered"}  # fmt: skip
    assert smtp_receiver.messages[0].email["Subject"] == "[ERROR] p95 above 5 s"


def test_quiet_hours_defer_until_they_end_and_the_sweeper_sends_then(
    smtp_settings, session_factory, redis_client, tenant, make_config, smtp_receiver
):
    user = add_user(session_factory, tenant, "sleepy@acme.test", quiet_hours=quiet_now())
    make_config(
        tenant,
        channels=["email"],
        severity="error",
        cooldown_minutes=0,
        channel_config={"email": {"recipients": ["sleepy@acme.test", "ops@x.test"]}},
    )
    ids = notify(smtp_settings, session_factory, redis_client)
    sleepy = ids["sleepy@acme.test"]

    outcomes = deliver(smtp_settings, session_factory, redis_client, ids.values())
    assert outcomes == {sleepy: "deferred", ids["ops@x.test"]: "delivered"}
    row = rows(session_factory)["sleepy@acme.test"]
    assert row.status == "deferred" and row.attempts == 0 and row.lease_expires_at is None
    assert timedelta(minutes=118) < row.next_attempt_at - datetime.now(UTC) <= timedelta(hours=2)
    assert row.last_error == f"deferred until {row.next_attempt_at.isoformat()} (quiet hours)"
    assert [m.rcpt_tos for m in smtp_receiver.messages] == [["ops@x.test"]]
    assert deliveries.due(smtp_settings, session_factory) == []  # not before its time

    def make_due():
        with session_factory() as s:
            s.execute(update(D).where(D.id == sleepy).values(next_attempt_at=datetime.now(UTC)))
            s.commit()
        return [p.delivery_id for p in deliveries.due(smtp_settings, session_factory)]

    # due, but the preferences are decided again: still quiet hours, so it waits again
    assert make_due() == [sleepy]
    assert deliver(smtp_settings, session_factory, redis_client, [sleepy]) == {sleepy: "deferred"}
    # the quiet hours are over (the user moved them): the sweeper's pick is sent
    set_prefs(session_factory, user, quiet_hours=quiet_now(offset=timedelta(hours=4)))
    assert make_due() == [sleepy]
    assert deliver(smtp_settings, session_factory, redis_client, [sleepy]) == {sleepy: "delivered"}
    row = rows(session_factory)["sleepy@acme.test"]
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)
    assert [m.rcpt_tos for m in smtp_receiver.messages][-1] == ["sleepy@acme.test"]


def test_a_deferred_email_is_skipped_if_the_user_turns_email_off_meanwhile(
    smtp_settings, session_factory, redis_client, tenant, make_config, smtp_receiver
):
    user = add_user(session_factory, tenant, "sleepy@acme.test", quiet_hours=quiet_now())
    make_config(tenant, channels=["email"], channel_config={"email": {
        "recipients": ["sleepy@acme.test"]}})  # fmt: skip
    [did] = notify(smtp_settings, session_factory, redis_client).values()
    assert deliver(smtp_settings, session_factory, redis_client, [did]) == {did: "deferred"}
    set_prefs(session_factory, user, email_enabled=False)
    with session_factory() as s:
        s.execute(update(D).where(D.id == did).values(next_attempt_at=datetime.now(UTC)))
        s.commit()
    assert [p.delivery_id for p in deliveries.due(smtp_settings, session_factory)] == [did]
    assert deliver(smtp_settings, session_factory, redis_client, [did]) == {did: "skipped"}
    assert smtp_receiver.messages == []


def test_critical_bypasses_quiet_hours(
    smtp_settings, session_factory, redis_client, tenant, make_config, smtp_receiver
):
    add_user(session_factory, tenant, "sleepy@acme.test", quiet_hours=quiet_now())
    make_config(tenant, channels=["email"], severity="critical",
                channel_config={"email": {"recipients": ["sleepy@acme.test"]}})  # fmt: skip
    before = decisions("send", "critical")
    [did] = notify(smtp_settings, session_factory, redis_client).values()
    assert deliver(smtp_settings, session_factory, redis_client, [did]) == {did: "delivered"}
    assert smtp_receiver.messages[0].email["Subject"] == "[CRITICAL] p95 above 5 s"
    assert decisions("send", "critical") == before + 1


def test_the_notification_detail_shows_each_recipient_and_why(
    client, caller, settings, session_factory, redis_client, make_config, smtp_receiver
):
    me = caller("acme", "admin@acme.test")
    body = {"email_enabled": True, "min_severity": "info", "digest": "off",
            "quiet_hours": quiet_now()}  # fmt: skip
    assert client.put(f"{API}/admin/alerts/preferences", json=body, headers=me.h).status_code == 200
    make_config(
        SimpleNamespace(id=me.tenant_id),
        channels=["in_app", "email"],
        channel_config={"email": {"recipients": ["admin@acme.test", "ops@x.test"]}},
    )
    smtp = settings.replace(smtp_host="127.0.0.1", smtp_port=smtp_receiver.port)
    ids = notify(smtp, session_factory, redis_client)
    deliver(smtp, session_factory, redis_client, ids.values())
    with session_factory() as s:
        nid = s.scalar(select(D.notification_id).where(D.id == ids["ops@x.test"]))

    detail = client.get(f"{API}/admin/alerts/notifications/{nid}", headers=me.h).get_json()
    shown = [(d["channel"], d["recipient"], d["status"]) for d in detail["deliveries"]]
    assert shown == [("in_app", "", "delivered"), ("email", "admin@acme.test", "deferred"),
                     ("email", "ops@x.test", "delivered")]  # fmt: skip
    deferred = detail["deliveries"][1]
    assert deferred["last_error"].startswith("deferred until ") and deferred["next_attempt_at"]


def test_unusable_stored_preferences_fail_open(
    smtp_settings, session_factory, redis_client, tenant, make_config, smtp_receiver
):
    user = add_user(session_factory, tenant, "odd@acme.test")
    with session_factory() as s:  # written around the API, which would refuse it
        s.add(
            NotificationPreference(
                user_id=user, quiet_hours={"start": "late", "end": "x", "timezone": "Mars/Olympus"}
            )
        )
        s.commit()
    make_config(tenant, channels=["email"], channel_config={"email": {
        "recipients": ["odd@acme.test"]}})  # fmt: skip
    [did] = notify(smtp_settings, session_factory, redis_client).values()
    assert deliver(smtp_settings, session_factory, redis_client, [did]) == {did: "delivered"}


def test_slack_and_webhook_are_muted_when_every_user_with_preferences_turns_them_off(
    settings, session_factory, redis_client, tenant, make_config, http_receiver
):
    """SPEC §8: slack_enabled / webhook_enabled. The tenant's shared destinations are skipped
    ("skipped: <channel> off") once all its users who saved preferences turned them off;
    users who never saved any (e.g. added for schedules) do not keep them on."""
    admin = add_user(session_factory, tenant, "admin@acme.test", slack_enabled=False)
    add_user(session_factory, tenant, "oncall@acme.test")  # never saved preferences
    hook = {"url": http_receiver.url("/hook")}
    make_config(tenant, channels=["slack", "webhook"], cooldown_minutes=0,
                channel_config={"slack": {"webhook_url": http_receiver.url("/slack")},
                                "webhook": hook})  # fmt: skip

    def send(title):
        Pipeline(settings, session_factory, redis_client).process([{
            "event_id": str(uuid.uuid4()), "tenant_id": "acme", "alert_type": "high_latency",
            "title": title, "context": {"provider_name": "openai", "latency_ms": 9000},
        }])  # fmt: skip
        with session_factory() as s:
            ids = dict(s.execute(select(D.channel, D.id).where(D.status == "pending")).all())
        deliver(settings, session_factory, redis_client, ids.values())
        with session_factory() as s:
            return {c: (s.get(D, i).status, s.get(D, i).last_error) for c, i in ids.items()}

    before = decisions("skip", "slack_off")
    assert send("one") == {"slack": ("skipped", "skipped: slack off"),
                           "webhook": ("delivered", None)}  # fmt: skip
    assert [r.path for r in http_receiver.requests] == ["/hook"]
    assert decisions("skip", "slack_off") == before + 1

    set_prefs(session_factory, admin, slack_enabled=False, webhook_enabled=False)
    assert send("two") == {"slack": ("skipped", "skipped: slack off"),
                           "webhook": ("skipped", "skipped: webhook off")}  # fmt: skip
    assert len(http_receiver.requests) == 1

    add_user(session_factory, tenant, "ops@acme.test", min_severity="info")  # webhook on
    assert send("three") == {"slack": ("delivered", None), "webhook": ("delivered", None)}
