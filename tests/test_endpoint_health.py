"""SPEC §18 endpoint health: consecutive failed deliveries per destination (a success resets
them) shown on the config, and the ``delivery_failing`` alert: once per destination per 24 h,
routed through a config of that type when the tenant has one, in-app otherwise."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from alertworker.core.models import AlertNotification, EndpointHealth, NotificationDelivery
from alertworker.delivery import deliveries, endpoint_health
from alertworker.delivery.endpoint_health import Finished
from alertworker.ingest import trail_query
from alertworker.ingest.pipeline import Pipeline
from tests import test_api_support as support
from tests.receivers import HttpReceiver, Reply
from tests.test_api_support import API

app, client, caller = support.app, support.client, support.caller


def alerts(settings, session_factory, redis_client, n=1, alert_type="high_latency"):
    """``n`` new alerts of tenant acme through the pipeline; their delivery ids."""
    result = Pipeline(settings, session_factory, redis_client).process([
        {"tenant_id": "acme", "alert_type": alert_type, "title": f"slow {i}",
         "context": {"provider_name": uuid.uuid4().hex, "latency_ms": 9000}}
        for i in range(n)
    ])  # fmt: skip
    return [p.delivery_id for p in result.deliveries]


def health(session_factory, config_id, channel="webhook"):
    with session_factory() as s:
        return s.get(EndpointHealth, (config_id, channel))


def failing_notifications(session_factory):
    with session_factory() as s:
        return list(
            s.scalars(
                select(AlertNotification)
                .where(AlertNotification.alert_type == "delivery_failing")
                .order_by(AlertNotification.id)
            )
        )


def test_consecutive_failures_count_and_a_success_resets_them(
    settings,
    session_factory,
    redis_client,
    make_tenant,
    make_config,
    http_receiver,
    client,
    caller,
):
    settings = settings.replace(delivery_max_attempts=2)
    config = make_config(make_tenant("acme"), cooldown_minutes=0,
                         channel_config={"webhook": {"url": http_receiver.url()}})  # fmt: skip
    me = caller()
    url = f"{API}/admin/alerts/configs/{config.id}"
    assert client.get(url, headers=me.h).get_json()["health"] == {
        "webhook": {"consecutive_failures": 0, "last_failure_at": None, "last_success_at": None,
                    "last_error": None, "last_alerted_at": None}
    }  # fmt: skip

    http_receiver.reply(404, "gone")
    ids = alerts(settings, session_factory, redis_client, 3)
    deliveries.deliver(settings, session_factory, redis_client, ids)  # one batch, one upsert
    shown = client.get(url, headers=me.h).get_json()["health"]["webhook"]
    assert shown["consecutive_failures"] == 3 and "HTTP 404" in shown["last_error"]
    assert shown["last_failure_at"] and shown["last_success_at"] is None

    http_receiver.replies[:] = [Reply(503)]  # a retry is not a finished delivery: no count
    http_receiver.reply(200)
    (retried,) = alerts(settings, session_factory, redis_client)
    assert (
        deliveries.deliver(settings, session_factory, redis_client, [retried])[retried].status
        == "pending"
    )
    assert health(session_factory, config.id).consecutive_failures == 3
    deliveries.deliver(settings, session_factory, redis_client, [retried])  # delivered
    listed = client.get(f"{API}/admin/alerts/configs", headers=me.h).get_json()["items"]
    (shown,) = [c["health"]["webhook"] for c in listed]
    assert shown["consecutive_failures"] == 0 and shown["last_success_at"]
    assert shown["last_failure_at"]  # kept: when it last failed

    http_receiver.reply(404)
    ids = alerts(settings, session_factory, redis_client, 2)
    deliveries.deliver(settings, session_factory, redis_client, ids)
    assert health(session_factory, config.id).consecutive_failures == 2
    with session_factory() as s:
        assert {d.status for d in s.scalars(select(NotificationDelivery))} == {
            "delivered",
            "failed",
        }  # never disabled: every alert still got its attempt
    assert len(http_receiver.requests) == 3 + 1 + 1 + 2


def _finished(config, failed=True):
    return Finished(config.id, config.name, "acme", "webhook", not failed,
                    None if not failed else "127.0.0.1: HTTP 500")  # fmt: skip


def _record(settings, session_factory, finished, now):
    with session_factory() as s:
        failing = endpoint_health.record(s, settings, finished, now)
        s.commit()
    return failing


def test_delivery_failing_once_per_destination_per_day_in_app_without_a_config(
    settings, session_factory, make_tenant, make_config, client, caller
):
    tenant = make_tenant("acme")
    a, b = make_config(tenant, name="a"), make_config(tenant, name="b")
    day = datetime(2026, 12, 1, 9, tzinfo=UTC)
    for minute in range(4):  # four failures of a: below ENDPOINT_FAILURE_ALERT_AFTER (5)
        _record(settings, session_factory, [_finished(a)], day + timedelta(minutes=minute))
    assert failing_notifications(session_factory) == []
    fifth = _record(settings, session_factory, [_finished(a), _finished(b)],
                    day + timedelta(hours=1))  # fmt: skip
    assert fifth.events == [] and len(fifth.notifications) == 1  # in-app: no config routes it
    for hour in range(2, 24):  # the rest of the day: a keeps failing, no more alerts for it
        assert not _record(settings, session_factory, [_finished(a)], day + timedelta(hours=hour)
                           ).notifications  # fmt: skip
    (alert,) = failing_notifications(session_factory)
    assert alert.config_id is None and alert.severity == "error"
    assert alert.context == {"config_id": a.id, "channel": "webhook", "failures": 5,
                             "last_error": "127.0.0.1: HTTP 500", "config_name": "a"}  # fmt: skip
    assert health(session_factory, a.id).last_alerted_at == day + timedelta(hours=1)
    with session_factory() as s:  # the trail says why it notified without a config (§17)
        why = trail_query.get_event(s, tenant.id, alert.event_id)["outcomes"]
    assert [(o["outcome"], o["notification_id"]) for o in why] == [("notified", alert.id)]
    assert "no active delivery_failing config" in why[0]["reason"]

    almost = day + timedelta(hours=25) - timedelta(microseconds=1)  # 24 h after the alert
    assert not _record(settings, session_factory, [_finished(a)], almost).notifications
    next_day = day + timedelta(hours=25)
    again = _record(settings, session_factory, [_finished(a)], next_day)
    assert len(again.notifications) == 1 and failing_notifications(session_factory)[1].context[
        "failures"] == 29  # fmt: skip
    _record(settings, session_factory, [_finished(a, failed=False)], next_day)  # recovered
    assert health(session_factory, a.id).consecutive_failures == 0

    me = caller()
    r = client.get(f"{API}/admin/alerts/notifications?alert_type=delivery_failing", headers=me.h)
    items = r.get_json()["items"]
    assert [n["config_id"] for n in items] == [None, None]
    detail = client.get(f"{API}/admin/alerts/notifications/{items[0]['id']}", headers=me.h)
    assert [(d["channel"], d["status"]) for d in detail.get_json()["deliveries"]] == [
        ("in_app", "delivered")
    ]


def test_delivery_failing_is_routed_through_a_config_of_that_type(
    settings, session_factory, redis_client, make_tenant, make_config, http_receiver
):
    """A failing webhook; the tenant routes delivery_failing to another receiver."""
    settings = settings.replace(endpoint_failure_alert_after=2, delivery_max_attempts=1)
    tenant = make_tenant("acme")
    secret = "Bearer sk-live-0123456789abcdef"
    failing = make_config(tenant, cooldown_minutes=0, channel_config={"webhook": {
        "url": http_receiver.url(), "headers": {"Authorization": secret}}})  # fmt: skip
    other = HttpReceiver()
    try:
        ops = make_config(tenant, name="ops", alert_type="delivery_failing", severity="critical",
                          channel_config={"webhook": {"url": other.url()}})  # fmt: skip
        http_receiver.reply(
            500, echo=lambda r: f"down; Authorization: {r.headers['Authorization']}"
        )
        published: list[list[dict]] = []
        for delivery_id in alerts(settings, session_factory, redis_client, 3):
            deliveries.deliver(settings, session_factory, redis_client, [delivery_id],
                               publish=published.append)  # fmt: skip
        (events,) = published  # the second failure; the third is within the day
        (event,) = events
        assert event["context"]["config_id"] == failing.id and event["context"]["failures"] == 2
        assert secret not in repr(event) and "Authorization: ****" in event["context"]["last_error"]
        assert failing_notifications(session_factory) == []  # not in-app: a config routes it

        result = Pipeline(settings, session_factory, redis_client).process(events)
        assert result.outcomes["notified"] == 1
        (notification,) = failing_notifications(session_factory)
        assert notification.config_id == ops.id and notification.severity == "critical"
        ids = [p.delivery_id for p in result.deliveries]
        deliveries.deliver(settings, session_factory, redis_client, ids)
        (received,) = other.requests
        assert b"delivery_failing" in received.body
        assert Pipeline(settings, session_factory, redis_client).process(events).outcomes[
            "duplicate"] == 1  # a republished event is the same event  # fmt: skip
    finally:
        other.stop()


def test_a_failing_delivery_failing_destination_ends_its_chain(
    settings, session_factory, redis_client, make_tenant, make_config, http_receiver
):
    """Its own failures alert about it once, through itself; then the day's claim holds."""
    settings = settings.replace(endpoint_failure_alert_after=1, delivery_max_attempts=1)
    tenant = make_tenant("acme")
    make_config(tenant, cooldown_minutes=0,
                channel_config={"webhook": {"url": http_receiver.url()}})  # fmt: skip
    ops = make_config(tenant, name="ops", alert_type="delivery_failing", cooldown_minutes=0,
                      channel_config={"webhook": {"url": http_receiver.url("/ops")}})  # fmt: skip
    http_receiver.reply(500)
    pending = alerts(settings, session_factory, redis_client)
    rounds = 0
    while pending and rounds < 10:
        published: list[list[dict]] = []
        deliveries.deliver(settings, session_factory, redis_client, pending,
                           publish=published.append)  # fmt: skip
        events = [e for batch in published for e in batch]
        result = Pipeline(settings, session_factory, redis_client).process(events)
        pending = [p.delivery_id for p in result.deliveries]
        rounds += 1
    assert rounds == 3  # the alert, its delivery_failing, the one about ops itself; then none
    about = [n.context["config_id"] for n in failing_notifications(session_factory)]
    assert about[0] != ops.id and about[1:] == [ops.id]


def test_a_lost_publish_gives_the_claim_back(
    settings, session_factory, redis_client, make_tenant, make_config, http_receiver
):
    settings = settings.replace(endpoint_failure_alert_after=1, delivery_max_attempts=1)
    tenant = make_tenant("acme")
    config = make_config(tenant, cooldown_minutes=0,
                         channel_config={"webhook": {"url": http_receiver.url()}})  # fmt: skip
    make_config(tenant, name="ops", alert_type="delivery_failing", channels=["in_app"],
                channel_config={})  # fmt: skip
    http_receiver.reply(500)

    def broker_down(events):
        raise ConnectionError("broker unreachable")

    first, second = alerts(settings, session_factory, redis_client, 2)
    deliveries.deliver(settings, session_factory, redis_client, [first], publish=broker_down)
    assert health(session_factory, config.id).last_alerted_at is None
    published: list[list[dict]] = []
    deliveries.deliver(settings, session_factory, redis_client, [second], publish=published.append)
    assert [e["context"]["failures"] for batch in published for e in batch] == [2]
    assert health(session_factory, config.id).last_alerted_at is not None


def test_health_is_per_tenant_config_and_goes_with_it(
    settings, session_factory, make_tenant, make_config, client, caller
):
    config = make_config(make_tenant("acme"))
    _record(settings, session_factory, [_finished(config)], datetime.now(UTC))
    me, other = caller(), caller("globex", "ops@globex.test")
    url = f"{API}/admin/alerts/configs/{config.id}"
    shown = client.get(url, headers=me.h).get_json()["health"]["webhook"]
    assert shown["consecutive_failures"] == 1
    assert client.get(url, headers=other.h).status_code == 404
    assert client.delete(url, headers=me.h).status_code == 204
    assert health(session_factory, config.id) is None
