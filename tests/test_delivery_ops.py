"""SPEC §18 attempts and replay: every send attempt recorded through the real retry loop against
real receivers; a failed delivery replayed (one, or in bulk) keeps its id and Idempotency-Key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import event, insert, select, update

from alertworker.core.catalog import delivery_queue
from alertworker.core.models import DeliveryAttempt, EndpointHealth, NotificationDelivery
from alertworker.delivery import deliveries
from alertworker.ingest.pipeline import Pipeline
from tests import test_api_support as support
from tests.receivers import Reply
from tests.standins import TWILIO_SID, TWILIO_TOKEN
from tests.test_api_support import API, add_notification, assert_error
from tests.test_delivery_flow import drive
from tests.test_scrub import leaks

app, client, caller = support.app, support.client, support.caller
URL = f"{API}/admin/alerts/deliveries"


def queued(redis_client, settings, channel="webhook") -> list[list[int]]:
    """The id lists of the delivery tasks waiting on a channel's queue, oldest first."""
    key = settings.redis_key_prefix + delivery_queue(channel)
    tasks = []
    for raw in reversed(redis_client.lrange(key, 0, -1)):
        args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        tasks.append(args[0])
    return tasks


def test_attempts_of_a_500_then_200_receiver(
    settings,
    session_factory,
    redis_client,
    make_webhook_deliveries,
    http_receiver,
    client,
    caller,
):
    http_receiver.replies[:] = [Reply(500, "upstream down")]
    (delivery_id,) = make_webhook_deliveries(http_receiver.url())
    before = datetime.now(UTC)
    outcomes = drive(settings, session_factory, redis_client, delivery_id)
    assert [o.status for o in outcomes] == ["pending", "delivered"]

    r = client.get(f"{URL}/{delivery_id}", headers=caller().h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["id"] == delivery_id and body["status"] == "delivered" and body["attempts"] == 2
    first, second = body["attempt_log"]
    assert first["attempt"] == 1 and first["outcome"] == "retry" and first["status_code"] == 500
    assert "HTTP 500" in first["error"] and "upstream down" in first["error"]
    assert second == second | {"attempt": 2, "outcome": "delivered", "status_code": 200,
                               "error": None}  # fmt: skip
    starts = [datetime.fromisoformat(a["started_at"]) for a in (first, second)]
    assert before <= starts[0] < starts[1] <= datetime.now(UTC)
    assert all(0 <= a["duration_ms"] < 5000 for a in (first, second))


def test_attempt_errors_are_cut_to_500_characters(
    settings, session_factory, redis_client, make_webhook_deliveries, http_receiver
):
    http_receiver.reply(400, "x" * 5000)
    settings = settings.replace(delivery_max_attempts=1)
    (delivery_id,) = make_webhook_deliveries(http_receiver.url())
    drive(settings, session_factory, redis_client, delivery_id)
    with session_factory() as s:
        (attempt,) = s.scalars(select(DeliveryAttempt))
    assert attempt.outcome == "failed" and 0 < len(attempt.error) <= 500


def test_replay_a_404d_delivery_after_the_receiver_is_fixed(
    settings,
    session_factory,
    redis_client,
    make_webhook_deliveries,
    http_receiver,
    client,
    caller,
):
    http_receiver.reply(404, "no such hook")
    (delivery_id,) = make_webhook_deliveries(http_receiver.url())
    assert [o.status for o in drive(settings, session_factory, redis_client, delivery_id)] == [
        "failed"
    ]
    me = caller()
    http_receiver.reply(200)  # the receiver is fixed

    r = client.post(f"{URL}/{delivery_id}/retry", headers=me.h)
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["status"] == "pending" and r.get_json()["attempts"] == 0
    assert queued(redis_client, settings) == [[delivery_id]]  # enqueued after the commit

    assert [o.status for o in drive(settings, session_factory, redis_client, delivery_id)] == [
        "delivered"
    ]
    keys = [req.headers["Idempotency-Key"] for req in http_receiver.requests]
    assert keys == [str(delivery_id), str(delivery_id)]
    log = client.get(f"{URL}/{delivery_id}", headers=me.h).get_json()["attempt_log"]
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in log] == [
        (1, "failed", 404),
        (1, "delivered", 200),
    ]
    again = client.post(f"{URL}/{delivery_id}/retry", headers=me.h)
    assert "delivered" in assert_error(again, 409, "conflict")["message"]


def test_replay_is_tenant_scoped_and_needs_write(client, caller, session_factory):
    me, other = caller(), caller("globex", "ops@globex.test")
    nid = add_notification(session_factory, other.tenant_id, deliveries=("webhook",))
    with session_factory() as s:
        foreign = s.scalar(select(NotificationDelivery.id).where(
            NotificationDelivery.notification_id == nid))  # fmt: skip
    assert_error(client.get(f"{URL}/{foreign}", headers=me.h), 404, "not_found")
    assert_error(client.post(f"{URL}/{foreign}/retry", headers=me.h), 404, "not_found")
    assert_error(client.get(f"{URL}/99999999999", headers=me.h), 404)
    reader = caller("globex", "reader@globex.test", scopes=["alerts:read"])
    assert client.get(f"{URL}/{foreign}", headers=reader.h).status_code == 200
    assert_error(client.post(f"{URL}/{foreign}/retry", headers=reader.h), 403)
    with session_factory() as s:
        assert s.get(NotificationDelivery, foreign).status == "failed"


def _failed(session_factory, tenant_id, n, *, created_at, config_id=None, channel="webhook"):
    """``n`` failed deliveries of one new notification, in one bulk insert."""
    nid = add_notification(session_factory, tenant_id, config_id=config_id, deliveries=())
    with session_factory() as s:
        s.execute(insert(NotificationDelivery), [
            {"notification_id": nid, "tenant_id": tenant_id, "channel": channel,
             "recipient": f"r{i}@x.test",
             "status": "failed", "attempts": 1, "created_at": created_at,
             "updated_at": created_at}
            for i in range(n)
        ])  # fmt: skip
        s.commit()


def _statuses(session_factory, tenant_id):
    with session_factory() as s:
        rows = s.execute(select(NotificationDelivery.status).where(
            NotificationDelivery.tenant_id == tenant_id)).scalars()  # fmt: skip
        return sorted(rows)


def test_bulk_replay_filters_by_range_config_and_channel_within_the_tenant(
    client, caller, session_factory, make_config, redis_client, settings
):
    me, other = caller(), caller("globex", "ops@globex.test")
    from alertworker.core.models import Tenant

    with session_factory() as s:
        tenant = s.get(Tenant, me.tenant_id)
    a = make_config(tenant, name="a")
    b = make_config(tenant, name="b")
    t0 = datetime(2026, 11, 30, 12, tzinfo=UTC)
    _failed(session_factory, me.tenant_id, 2, created_at=t0, config_id=a.id)
    _failed(session_factory, me.tenant_id, 3, created_at=t0 + timedelta(hours=2), config_id=a.id)
    _failed(session_factory, me.tenant_id, 4, created_at=t0 + timedelta(hours=2), config_id=b.id)
    _failed(session_factory, me.tenant_id, 5, created_at=t0 + timedelta(hours=2),
            config_id=b.id, channel="email")  # fmt: skip
    _failed(session_factory, other.tenant_id, 7, created_at=t0 + timedelta(hours=2))

    def bulk(**body):
        return client.post(f"{URL}/retry", json=body, headers=me.h)

    since, until = (t0 + timedelta(hours=1)).isoformat(), (t0 + timedelta(hours=3)).isoformat()
    r = bulk(since=since, until=until, config_id=a.id)
    assert r.status_code == 202 and r.get_json() == {"count": 3, "truncated": False}
    assert bulk(since=since, config_id=b.id, channel="email").get_json()["count"] == 5
    assert bulk(since=t0.isoformat(), until=since).get_json()["count"] == 2
    assert bulk(since=since).get_json() == {"count": 4, "truncated": False}  # the rest: b, webhook
    assert bulk(since=t0.isoformat()).get_json()["count"] == 0  # nothing failed is left
    assert _statuses(session_factory, me.tenant_id) == ["pending"] * 14
    assert _statuses(session_factory, other.tenant_id) == ["failed"] * 7
    assert sum(map(len, queued(redis_client, settings))) == 9
    assert sum(map(len, queued(redis_client, settings, "email"))) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-30T12:00:00Z", "until": "2026-11-30T11:00:00Z"}, "until"),
        ({"since": "2026-11-30T12:00:00Z", "until": "2026-11-30T12:00:00Z"}, "until"),
        ({"since": "2026-11-30T12:00:00Z", "channel": "pigeon"}, "channel"),
        ({"since": "2026-11-30T12:00:00Z", "config_id": 0}, "config_id"),
        ({"since": "2026-11-30T12:00:00Z", "status": "failed"}, "status"),
    ],
)
def test_bulk_replay_validation(client, caller, body, field):
    err = assert_error(client.post(f"{URL}/retry", json=body, headers=caller().h), 422)
    assert field in err["fields"]


def test_bulk_replay_refuses_another_tenants_config(client, caller, make_config, session_factory):
    me, other = caller(), caller("globex", "ops@globex.test")
    from alertworker.core.models import Tenant

    with session_factory() as s:
        foreign = make_config(s.get(Tenant, other.tenant_id))
    r = client.post(f"{URL}/retry", json={"since": "2026-01-01T00:00:00Z",
                                          "config_id": foreign.id}, headers=me.h)  # fmt: skip
    assert "config_id" in assert_error(r, 422)["fields"]


def test_bulk_replay_takes_at_most_10000_per_call(
    client, caller, session_factory, redis_client, settings
):
    me = caller()
    t0 = datetime(2026, 11, 30, 12, tzinfo=UTC)
    _failed(session_factory, me.tenant_id, 10_001, created_at=t0)
    body = {"since": t0.isoformat()}
    r = client.post(f"{URL}/retry", json=body, headers=me.h)
    assert r.status_code == 202 and r.get_json() == {"count": 10_000, "truncated": True}
    tasks = queued(redis_client, settings)
    assert len(tasks) == 200 and all(len(t) == 50 for t in tasks)
    r = client.post(f"{URL}/retry", json=body, headers=me.h)
    assert r.get_json() == {"count": 1, "truncated": False}
    with session_factory() as s:
        left = s.scalar(select(NotificationDelivery.id).where(
            NotificationDelivery.status == "failed"))  # fmt: skip
    assert left is None


def test_secrets_never_reach_attempts(
    settings,
    session_factory,
    redis_client,
    make_webhook_deliveries,
    http_receiver,
    client,
    caller,
):
    """The receiver quotes the secret headers back, whole, in part, URL-encoded and
    upper-cased: no 8 characters of any secret are in the stored attempt or the API's answer
    (alertworker/core/scrub.py, as tests/test_scrub.py checks for last_error)."""
    secrets = {"Authorization": "Bearer sk-live-0123456789abcdef", "X-Api-Key": "k3y-abcdef-9876"}
    signing = "hmac-secret-0123456789"

    def echo(request) -> str:
        sent = [f"{n}: {request.headers[n]}" for n in secrets]
        parts = [v[3:14] for v in secrets.values()] + [quote(signing), signing.upper()[2:12]]
        return "bad request, you sent " + " ".join(sent + parts)

    http_receiver.default = Reply(400, echo=echo)
    (delivery_id,) = make_webhook_deliveries(http_receiver.url(), headers=secrets,
                                             secret=signing)  # fmt: skip
    drive(settings, session_factory, redis_client, delivery_id)
    with session_factory() as s:
        (attempt,) = s.scalars(select(DeliveryAttempt))
        s.execute(update(NotificationDelivery).values(last_error=None))  # only the attempt's
        s.commit()
    assert "HTTP 400" in attempt.error and "X-Api-Key: ****" in attempt.error
    body = json.dumps(client.get(f"{URL}/{delivery_id}", headers=caller().h).get_json())
    assert "X-Api-Key: ****" in body
    for text in (attempt.error, body):
        assert not leaks(text, [*secrets.values(), signing]), text


def test_failed_resolves_on_pagerduty_and_sms_have_attempts_health_and_replay(
    settings,
    session_factory,
    redis_client,
    make_tenant,
    make_config,
    pagerduty,
    twilio,
    client,
    caller,
):
    """Lifecycle deliveries are deliveries: a resolve that fails on the new channels is in the
    attempt log and the destination's health, and a replay sends the resolve again."""
    good = settings.replace(
        pagerduty_events_url=pagerduty.url(), sms_api_url=twilio.url(""),
        twilio_account_sid=TWILIO_SID, twilio_auth_token=TWILIO_TOKEN, sms_from="+15005550006",
    )  # fmt: skip
    bad = good.replace(pagerduty_events_url=pagerduty.url("/400/v2/enqueue"),
                       twilio_auth_token="not-the-token-0123")  # fmt: skip
    config = make_config(
        make_tenant("acme"), alert_type="quota_exhausted", channels=["pagerduty", "sms"],
        channel_config={"pagerduty": {"routing_key": "R0UT1NGKEY0123456789abcdefABCDEF"},
                        "sms": {"numbers": ["+4915112345678"]}},
    )  # fmt: skip
    pipeline = Pipeline(good, session_factory, redis_client)
    event = {"tenant_id": "acme", "alert_type": "quota_exhausted", "title": "quota gone",
             "context": {"provider_name": "openai"}}  # fmt: skip

    def send(s, result):
        ids = [p.delivery_id for p in result.deliveries]
        return ids, [o.status for o in deliveries.deliver(s, session_factory, None, ids).values()]

    assert send(good, pipeline.process([event]))[1] == ["delivered", "delivered"]
    resolves, statuses = send(bad, pipeline.process([event | {"action": "resolve"}]))
    assert statuses == ["failed", "failed"]
    with session_factory() as s:
        health = {h.channel: h for h in s.scalars(select(EndpointHealth))}
        assert {c: (h.config_id, h.consecutive_failures) for c, h in health.items()} == {
            "pagerduty": (config.id, 1), "sms": (config.id, 1)}  # fmt: skip
        assert all(h.last_success_at for h in health.values())

    me = caller()
    for delivery_id in resolves:
        r = client.post(f"{URL}/{delivery_id}/retry", headers=me.h)
        assert r.status_code == 202 and r.get_json()["kind"] == "resolve", r.get_json()
    outcomes = deliveries.deliver(good, session_factory, None, resolves)
    assert [o.status for o in outcomes.values()] == ["delivered", "delivered"]
    sent = pagerduty.events()  # the refused resolve (400) too
    assert [e["event_action"] for e in sent] == ["trigger", "resolve", "resolve"]
    assert len({e["dedup_key"] for e in sent}) == 1
    bodies = [f["Body"].split("]")[0] for f in twilio.forms()]  # the refused one (401) too
    assert bodies == ["[WARNING", "[RESOLVED", "[RESOLVED"]
    logs = [client.get(f"{URL}/{i}", headers=me.h).get_json()["attempt_log"] for i in resolves]
    assert [[(a["outcome"], a["status_code"]) for a in log] for log in logs] == [
        [("failed", 400), ("delivered", 202)],
        [("failed", 401), ("delivered", 201)],
    ]
    with session_factory() as s:
        assert {h.consecutive_failures for h in s.scalars(select(EndpointHealth))} == {0}


def test_a_batch_writes_its_attempts_and_health_in_one_statement_each(
    settings, session_factory, engine, make_webhook_deliveries, http_receiver
):
    http_receiver.replies[:] = [Reply(500, "busy"), Reply(400, "no")]  # then 200
    ids = make_webhook_deliveries(http_receiver.url(), n=5)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement.split("(")[0].strip())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        outcomes = deliveries.deliver(settings, session_factory, None, ids)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [outcomes[i].status for i in ids] == [
        "pending", "failed", "delivered", "delivered", "delivered"]  # fmt: skip
    assert statements.count("INSERT INTO delivery_attempts") == 1
    assert statements.count("INSERT INTO endpoint_health") == 1
    with session_factory() as s:
        assert len(s.scalars(select(DeliveryAttempt)).all()) == 5
        (health,) = s.scalars(select(EndpointHealth))
        assert health.consecutive_failures == 0 and health.last_failure_at is not None
