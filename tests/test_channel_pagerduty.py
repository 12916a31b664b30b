"""PagerDuty (SPEC §15) against a loopback Events API v2 stand-in: trigger, acknowledge and
resolve of one alert share one dedup_key; 202 is delivered, 429 retried, 400 failed; the
routing_key is never stored in an error nor logged, and masked by the API."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import select

from alertworker.core.models import AlertConfig, NotificationDelivery
from alertworker.delivery import deliveries
from alertworker.delivery.channels.base import PermanentError, RetryableError, get_channel
from alertworker.ingest.pipeline import Pipeline
from alertworker.tenants import notifications
from tests import test_api_support as support
from tests.receivers import make_message
from tests.test_api_support import API, assert_error

app, client, caller = support.app, support.client, support.caller
KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


@pytest.fixture
def pd_settings(settings, pagerduty):
    return settings.replace(pagerduty_events_url=pagerduty.url())


def event(action="trigger", provider="openai"):
    return {"event_id": str(uuid.uuid4()), "tenant_id": "acme", "alert_type": "quota_exhausted",
            "title": f"{provider} quota gone", "action": action,
            "context": {"provider_name": provider, "quota": 1000}}  # fmt: skip


def test_trigger_acknowledge_resolve_of_one_alert_is_one_incident(
    pd_settings, session_factory, redis_client, make_tenant, make_config, pagerduty
):
    tenant = make_tenant("acme")
    config = make_config(tenant, alert_type="quota_exhausted", severity="critical",
                         channels=["in_app", "pagerduty"], cooldown_minutes=0,
                         channel_config={"pagerduty": {"routing_key": KEY}})  # fmt: skip
    pipeline = Pipeline(pd_settings, session_factory, redis_client)
    send = lambda pending: deliveries.deliver(  # noqa: E731
        pd_settings, session_factory, redis_client, [p.delivery_id for p in pending]
    )
    first = pipeline.process([event()])
    assert {o.status for o in send(first.deliveries).values()} == {"delivered"}
    send(pipeline.process([event()]).deliveries)  # the same alert again
    with session_factory() as s:
        nid = s.scalar(select(NotificationDelivery.notification_id).where(
            NotificationDelivery.id == first.deliveries[0].delivery_id))  # fmt: skip
        _, acked = notifications.acknowledge(s, tenant.id, nid, None, 300)
    send(acked)
    resolved = pipeline.process([event("resolve")])
    assert {o.status for o in send(resolved.deliveries).values()} == {"delivered"}

    assert pagerduty.problems == []
    sent = pagerduty.events()
    assert [e["event_action"] for e in sent] == ["trigger", "trigger", "acknowledge", "resolve",
                                                 "resolve"]  # fmt: skip
    assert {e["dedup_key"] for e in sent} == {sent[0]["dedup_key"]}
    assert sent[0]["dedup_key"].startswith(f"alertworker-{config.id}-")
    payload = sent[0]["payload"]
    assert (payload["summary"], payload["source"], payload["severity"]) == (
        "openai quota gone", "openai", "critical")  # fmt: skip
    assert payload["custom_details"] == {"provider_name": "openai", "quota": 1000}
    assert sent[0]["client_url"] == f"http://alerts.example.test/alerts#notification-{nid}"
    assert "payload" not in sent[2] and "payload" not in sent[3]


@pytest.mark.parametrize(
    ("route", "error", "status"),
    [("/429/v2/enqueue", RetryableError, 429), ("/400/v2/enqueue", PermanentError, 400)],
)
def test_answers_are_classified_and_never_carry_the_key(
    settings, redis_client, pagerduty, route, error, status, caplog
):
    channel = get_channel("pagerduty")(settings.replace(pagerduty_events_url=pagerduty.url(route)),
                                       redis_client)  # fmt: skip
    caplog.set_level(logging.DEBUG)
    with pytest.raises(error) as raised:
        channel.send(make_message(channel_config={"routing_key": KEY}, fingerprint="f" * 40))
    assert raised.value.status_code == status and KEY not in str(raised.value)
    if status == 429:
        assert raised.value.retry_after == 1.0
    assert KEY not in caplog.text


def test_a_summary_is_cut_to_1024_and_a_missing_key_fails(settings, redis_client, pagerduty):
    channel = get_channel("pagerduty")(settings.replace(pagerduty_events_url=pagerduty.url()),
                                       redis_client)  # fmt: skip
    channel.send(make_message(channel_config={"routing_key": KEY}, fingerprint="a" * 40,
                              title="x" * 2000, context={}))  # fmt: skip
    [sent] = pagerduty.events()
    assert len(sent["payload"]["summary"]) == 1024 and sent["payload"]["source"] == "alertworker"
    assert pagerduty.problems == []
    with pytest.raises(PermanentError):
        channel.send(make_message(channel_config={}))


def test_the_routing_key_is_validated_masked_and_kept(client, caller):
    me = caller()
    url = f"{API}/admin/alerts/configs"
    body = {"name": "pd", "alert_type": "quota_exhausted", "channels": ["pagerduty"],
            "channel_config": {"pagerduty": {"routing_key": "short"}}}  # fmt: skip
    error = assert_error(client.post(url, json=body, headers=me.h), 422)
    assert "routing_key" in str(error["fields"])
    body["channel_config"]["pagerduty"]["routing_key"] = KEY
    r = client.post(url, json=body, headers=me.h)
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert KEY not in r.get_data(as_text=True)
    assert created["channel_config"]["pagerduty"]["routing_key"] == "****"
    put = client.put(f"{url}/{created['id']}", headers=me.h, json={
        k: created[k] for k in ("name", "alert_type", "channels", "channel_config")})  # fmt: skip
    assert put.status_code == 200, put.get_json()
    with client.application.extensions["alertworker"].session_factory() as s:
        stored = s.get(AlertConfig, created["id"]).channel_config["pagerduty"]["routing_key"]
    assert stored == KEY
    missing = {**body, "channel_config": {}}
    assert "pagerduty" in str(assert_error(client.post(url, json=missing, headers=me.h),
                                           422)["fields"])  # fmt: skip
