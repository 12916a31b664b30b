"""SPEC §13 over the API: manual resolve (idempotent, with its resolve deliveries handed to the
workers), the ``state`` filter, acknowledge moving an alert to ``acknowledged``, and resolve
events accepted by ``POST /events``."""

from __future__ import annotations

import base64
import json

from sqlalchemy import select

from alertworker.core.catalog import delivery_queue
from alertworker.core.models import NotificationDelivery, Tenant
from alertworker.delivery import deliveries
from alertworker.ingest.pipeline import Pipeline
from tests import test_api_support as support
from tests.test_api_support import API, add_notification, assert_error, enqueued

app, client, caller = support.app, support.client, support.caller
URL = f"{API}/admin/alerts/notifications"


def queued(redis_client, settings, channel):
    """The delivery ids of every task waiting on a delivery queue."""
    ids = []
    for raw in redis_client.lrange(settings.redis_key_prefix + delivery_queue(channel), 0, -1):
        args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        ids.extend(args[0])
    return ids


def test_manual_resolve_is_idempotent_and_sends_one_resolve_per_channel(
    client, caller, settings, session_factory, redis_client, make_config, http_receiver
):
    me = caller()
    with session_factory() as s:
        tenant = s.get(Tenant, me.tenant_id)
    make_config(tenant, channels=["in_app", "webhook"],
                channel_config={"webhook": {"url": http_receiver.url()}})  # fmt: skip
    result = Pipeline(settings, session_factory, redis_client).process([
        {"tenant_id": "acme", "alert_type": "high_latency", "title": "slow",
         "context": {"provider_name": "openai", "latency_ms": 9000}}])  # fmt: skip
    deliveries.deliver(settings, session_factory, redis_client, [result.deliveries[0].delivery_id])
    [nid] = [n for n in _ids(client, me)]

    r = client.post(f"{URL}/{nid}/resolve", headers=me.h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["state"], body["resolve_reason"], body["resolved_by"]) == (
        "resolved", "manual", me.user_id)  # fmt: skip
    again = client.post(f"{URL}/{nid}/resolve", headers=me.h).get_json()
    assert again["resolved_at"] == body["resolved_at"]  # idempotent
    with session_factory() as s:
        resolves = s.scalars(select(NotificationDelivery.id).where(
            NotificationDelivery.kind == "resolve")).all()  # fmt: skip
    assert len(resolves) == 1
    assert queued(redis_client, settings, "webhook") == resolves  # handed to the workers

    deliveries.deliver(settings, session_factory, redis_client, resolves)
    sent = json.loads(http_receiver.requests[-1].body)
    assert (sent["status"], sent["notification_id"]) == ("resolved", nid)
    assert sent["resolved_at"] is not None
    detail = client.get(f"{URL}/{nid}", headers=me.h).get_json()
    assert [(d["kind"], d["status"]) for d in detail["deliveries"]] == [
        ("trigger", "delivered"), ("trigger", "delivered"), ("resolve", "delivered")]  # fmt: skip


def _ids(client, me, **query):
    r = client.get(URL, query_string=query, headers=me.h)
    assert r.status_code == 200, r.get_json()
    return [n["id"] for n in r.get_json()["items"]]


def test_state_filter_and_acknowledge(client, caller, session_factory):
    me = caller()
    firing, acked, done = (add_notification(session_factory, me.tenant_id) for _ in range(3))
    r = client.post(f"{URL}/{acked}/acknowledge", headers=me.h)
    assert r.get_json()["state"] == "acknowledged"
    assert client.post(f"{URL}/{done}/resolve", headers=me.h).get_json()["state"] == "resolved"
    assert _ids(client, me, state="firing") == [firing]
    assert _ids(client, me, state="firing,acknowledged") == [acked, firing]
    assert _ids(client, me, state="resolved") == [done]
    assert _ids(client, me) == [done, acked, firing]
    error = assert_error(client.get(URL, query_string={"state": "firing,closed"}, headers=me.h),
                         422)  # fmt: skip
    assert "closed" in str(error["fields"])
    # acknowledging a resolved alert records it but leaves it resolved
    late = client.post(f"{URL}/{done}/acknowledge", headers=me.h).get_json()
    assert late["state"] == "resolved" and late["acknowledged_by"] == me.user_id


def test_resolve_needs_write_scope_and_the_tenants_own_notification(
    client, caller, session_factory
):
    me, other = caller(), caller("globex", "admin@globex.test")
    reader = caller(email="reader@acme.test", scopes=["alerts:read"])
    nid = add_notification(session_factory, me.tenant_id)
    assert_error(client.post(f"{URL}/{nid}/resolve", headers=reader.h), 403)
    assert_error(client.post(f"{URL}/{nid}/resolve", headers=other.h), 404)
    assert_error(client.post(f"{URL}/999999/resolve", headers=me.h), 404)
    assert client.get(f"{URL}/{nid}", headers=me.h).get_json()["state"] == "firing"


def test_post_events_accepts_resolve_without_a_title(client, caller, redis_client, settings):
    me = caller()
    r = client.post(f"{API}/events", headers=me.h, json={
        "alert_type": "provider_unhealthy", "action": "resolve",
        "context": {"provider_name": "openai"}})  # fmt: skip
    assert r.status_code == 202, r.get_json()
    [sent] = enqueued(redis_client, settings)
    assert (sent["action"], "title" in sent) == ("resolve", False)
    bad = client.post(f"{API}/events", headers=me.h, json={
        "alert_type": "provider_unhealthy", "action": "close"})  # fmt: skip
    assert "action" in assert_error(bad, 422)["fields"]
    untitled = client.post(f"{API}/events", headers=me.h, json={"alert_type": "high_latency"})
    assert "title" in assert_error(untitled, 422)["fields"]


def test_a_manual_resolve_reaches_the_live_stream(client, caller, session_factory):
    from tests.test_api_stream import _events

    me = caller()
    nid = add_notification(session_factory, me.tenant_id)
    r = client.get(f"{URL}/stream", headers=me.h, buffered=False)
    chunks = iter(r.response)
    try:
        next(chunks)  # the unread count
        assert client.post(f"{URL}/{nid}/resolve", headers=me.h).status_code == 200
        event, data = _events([next(chunks)])[0]
        assert event == "notification.resolved" and data["type"] == event
        assert (data["notification"]["id"], data["notification"]["state"]) == (nid, "resolved")
        assert data["notification"]["resolve_reason"] == "manual"
    finally:
        r.close()
