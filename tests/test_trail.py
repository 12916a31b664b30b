"""The trail (SPEC §17): a table of events against configs giving every outcome once, each read
through the API with its reason; a storm of 1,000 identical events stored once where every
event id answers; the list and its filters; retention; another tenant's event is 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from alertworker.core.models import EventTrail, InhibitRule, Silence, User
from alertworker.delivery import deliveries
from alertworker.ingest.pipeline import Pipeline
from alertworker.tenants import retention
from alertworker.tenants.preferences import put_preferences
from tests import test_api_support as support
from tests.test_api_support import API

app, client, caller = support.app, support.client, support.caller
EVENTS = f"{API}/admin/alerts/events"


def ev(alert_type, title="t", action="trigger", **context):
    return {"event_id": str(uuid.uuid4()), "tenant_id": "acme", "alert_type": alert_type,
            "title": title, "context": context, "action": action}  # fmt: skip


def trail_of(client, me, event):
    r = client.get(f"{EVENTS}/{event['event_id']}", headers=me.h)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def only(body, outcome):
    found = [o for o in body["outcomes"] if o["outcome"] == outcome]
    assert len(found) == 1, body
    return found[0]


def test_every_outcome_once_with_its_reason(
    client,
    caller,
    smtp_settings,
    session_factory,
    redis_client,
    make_config,  # noqa: F811
):
    me = caller()
    with session_factory() as s:
        s.add(User(tenant_id=me.tenant_id, email="off@acme.test"))
        s.commit()
        put_preferences(s, s.scalar(select(User.id).where(User.email == "off@acme.test")),
                        {"email_enabled": False})  # fmt: skip
    tenant = type("T", (), {"id": me.tenant_id})
    latency = make_config(tenant, name="slow", channels=["in_app", "email"],
                          channel_config={"email": {"recipients": ["off@acme.test"]}},
                          conditions={"latency_ms": 5000})  # fmt: skip
    inactive = make_config(tenant, name="off", alert_type="rate_limit_exceeded", is_active=False)
    filtered = make_config(tenant, name="openai only", alert_type="provider_unhealthy",
                           conditions={"provider_names": ["openai"]})  # fmt: skip
    capped = make_config(tenant, name="capped", alert_type="high_error_rate", cooldown_minutes=0,
                         max_alerts_per_hour=1)  # fmt: skip
    silenced = make_config(tenant, name="silenced", alert_type="cost_limit_exceeded")
    source = make_config(tenant, name="breaker", alert_type="circuit_breaker_opened")
    target = make_config(tenant, name="cost", alert_type="cost_limit_warning")
    now = datetime.now(UTC)
    with session_factory() as s:
        s.add(Silence(tenant_id=me.tenant_id, starts_at=now - timedelta(minutes=1),
                      ends_at=now + timedelta(hours=1), comment="maintenance",
                      matchers=[{"name": "alert_type", "op": "=",
                                 "value": "cost_limit_exceeded"}]))  # fmt: skip
        s.add(InhibitRule(tenant_id=me.tenant_id, equal=["context.provider_name"],
                          source=[{"name": "alert_type", "op": "=",
                                   "value": "circuit_breaker_opened"}],
                          target=[{"name": "alert_type", "op": "=",
                                   "value": "cost_limit_warning"}]))  # fmt: skip
        s.commit()
        silence_id = s.scalar(select(Silence.id))

    e = {
        "no_config": ev("quota_exhausted", provider_name="openai"),
        "inactive": ev("rate_limit_exceeded", provider_name="openai"),
        "not_met": ev("high_latency", provider_name="openai", latency_ms=3000),
        "filtered": ev("provider_unhealthy", provider_name="anthropic"),
        "notified": ev("high_latency", provider_name="openai", latency_ms=9000),
        "cooldown": ev("high_latency", provider_name="openai", latency_ms=9500),
        "first": ev("high_error_rate", provider_name="a", error_rate=0.5),
        "capped": ev("high_error_rate", provider_name="b", error_rate=0.5),
        "silenced": ev("cost_limit_exceeded", provider_name="openai"),
        "source": ev("circuit_breaker_opened", provider_name="openai"),
        "inhibited": ev("cost_limit_warning", provider_name="openai", percentage=95),
        "resolve": ev("circuit_breaker_opened", action="resolve", provider_name="openai"),
        "nothing": ev("provider_unhealthy", action="resolve", provider_name="zzz"),
    }
    rejected = ev("no_such_type")
    pipeline = Pipeline(smtp_settings, session_factory, redis_client)
    for batch in (
        [e["no_config"], e["inactive"], e["not_met"], e["filtered"], e["notified"], e["first"],
         e["silenced"], e["source"], rejected],
        [e["cooldown"], e["capped"], e["inhibited"]],
        [e["resolve"], e["nothing"]],
    ):  # fmt: skip
        pipeline.process(batch)
    pipeline.process([e["notified"]], replay=True)  # the same event again: a duplicate
    with session_factory() as s:
        email = s.scalar(select(deliveries.D.id).where(deliveries.D.channel == "email"))
    deliveries.deliver(smtp_settings, session_factory, redis_client, [email])

    def one(key, outcome, config=None):
        body = trail_of(client, me, e[key])
        assert body["event_id"] == e[key]["event_id"] and body["title"] == "t"
        o = only(body, outcome)
        assert o["config_id"] == (config.id if config else None)
        assert o["config_name"] == (config.name if config else None)
        return o

    assert "no config" in one("no_config", "no_matching_config")["reason"]
    assert "inactive" in one("inactive", "inactive", inactive)["reason"]
    assert one("not_met", "condition_not_met", latency)["reason"] == (
        "context.latency_ms = 3000 is below 5000"
    )
    assert one("filtered", "provider_filtered", filtered)["reason"] == (
        'context.provider_name = "anthropic" is not in provider_names ["openai"]'
    )
    notified = one("notified", "notified", latency)
    assert [(d["channel"], d["recipient"], d["status"], d["preference"])
            for d in notified["deliveries"]] == [
        ("in_app", "", "delivered", None),
        ("email", "off@acme.test", "skipped", {"decision": "skipped", "reason": "opted_out"}),
    ]  # fmt: skip
    duplicate = one("notified", "duplicate", latency)
    assert "already notified" in duplicate["reason"] and "received_at" in duplicate
    cooldown = one("cooldown", "cooldown", latency)
    assert cooldown["notification_id"] == notified["notification_id"]
    assert "15 min" in cooldown["reason"] and "fingerprint" not in cooldown
    until = datetime.fromisoformat(cooldown["until"])
    assert timedelta(minutes=14) < until - datetime.now(UTC) <= timedelta(minutes=15)
    capped_o = one("capped", "hourly_cap", capped)
    assert (capped_o["count"], capped_o["cap"]) == (1, 1) and "max_alerts_per_hour" in capped_o[
        "reason"]  # fmt: skip
    assert datetime.fromisoformat(capped_o["until"]) > datetime.now(UTC) + timedelta(minutes=59)
    sil = one("silenced", "silenced", silenced)
    assert sil["silence_id"] == silence_id and str(silence_id) in sil["reason"]
    source_id = one("source", "notified", source)["notification_id"]
    assert one("inhibited", "inhibited", target)["notification_id"] == source_id
    assert one("resolve", "resolved", source)["notification_ids"] == [source_id]
    assert "no open alert" in one("nothing", "nothing_to_resolve")["reason"]
    rej = trail_of(client, me, rejected)
    assert rej["alert_type"] == "no_such_type"
    assert only(rej, "rejected")["reason"].startswith("invalid:")
    assert "alert_type" in only(rej, "rejected")["reason"]

    # the list, newest first, filtered by outcome and type, with a cursor
    listed = client.get(f"{EVENTS}?outcome=cooldown", headers=me.h).get_json()
    assert [i["event_id"] for i in listed["items"]] == [e["cooldown"]["event_id"]]
    page = client.get(f"{EVENTS}?alert_type=high_latency&limit=2", headers=me.h).get_json()
    rest = client.get(f"{EVENTS}?cursor={page['next_cursor']}&alert_type=high_latency",
                      headers=me.h).get_json()  # fmt: skip
    ids = [i["event_id"] for i in page["items"] + rest["items"]]
    assert ids == [e[k]["event_id"] for k in ("notified", "cooldown", "notified", "not_met")]
    assert rest["next_cursor"] is None
    assert client.get(f"{EVENTS}?outcome=nope", headers=me.h).status_code == 422


def test_a_storm_is_one_row_and_every_event_id_answers(
    client, caller, settings, session_factory, redis_client, make_config
):
    me = caller()
    config = make_config(type("T", (), {"id": me.tenant_id}), channels=["in_app"])
    storm = [ev("high_latency", provider_name="openai", latency_ms=9000) for _ in range(1000)]
    Pipeline(settings, session_factory, redis_client).process(storm)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(EventTrail)) == 1
    first = None
    for event in storm:
        body = trail_of(client, me, event)
        assert body["event_id"] == event["event_id"] and body["event_count"] == 1000
        o = only(body, "notified")
        assert o["config_id"] == config.id and "1000 identical events" in o["reason"]
        first = first or o["notification_id"]
        assert o["notification_id"] == first


def test_retention_prunes_in_batches(settings, session_factory, redis_client, make_tenant):
    make_tenant("acme")
    pipeline = Pipeline(settings, session_factory, redis_client)
    for i in range(5):
        pipeline.process([ev("quota_exhausted", title=f"t{i}")])
    later = datetime.now(UTC) + timedelta(hours=settings.trail_retention_hours)
    assert retention.prune(settings, session_factory, now=later - timedelta(minutes=1),
                           batch=2)["event_trail"] == 0  # fmt: skip
    assert retention.prune(settings, session_factory, now=later + timedelta(minutes=1),
                           batch=2)["event_trail"] == 5  # fmt: skip
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(EventTrail)) == 0


@pytest.mark.parametrize("bad", ["not-a-uuid", str(uuid.uuid4())])
def test_unknown_and_other_tenants_events_are_404(
    client, caller, settings, session_factory, redis_client, bad
):
    me, other = caller("acme"), caller("other", "admin@other.test")
    event = ev("quota_exhausted")
    Pipeline(settings, session_factory, redis_client).process([event])
    assert client.get(f"{EVENTS}/{event['event_id']}", headers=me.h).status_code == 200
    assert client.get(f"{EVENTS}/{event['event_id']}", headers=other.h).status_code == 404
    assert client.get(EVENTS, headers=other.h).get_json()["items"] == []
    assert client.get(f"{EVENTS}/{bad}", headers=me.h).status_code == 404


def test_the_trail_can_be_turned_off_for_the_benchmark(settings, session_factory, redis_client,
                                                        make_tenant):  # fmt: skip
    make_tenant("acme")
    off = settings.replace(trail_enabled=False)
    Pipeline(off, session_factory, redis_client).process([ev("quota_exhausted")])
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(EventTrail)) == 0


def test_the_embedded_default_finds_events_on_sqlite(tmp_path, settings, redis_client):
    """SQLite keeps ``event_ids`` as JSON and finds an id in it as text (no GIN there)."""
    from alertworker.core.db import make_engine, make_session_factory, migrate
    from alertworker.ingest import trail_query
    from alertworker.tenants.auth import create_token

    lite = settings.replace(database_url=f"sqlite:///{tmp_path}/trail.db")
    migrate(lite)
    engine = make_engine(lite)
    factory = make_session_factory(engine)
    with factory() as s:
        row, _ = create_token(s, "acme", "admin@acme.test", "alerts:read")
        tenant_id = row.tenant_id
    storm = [ev("quota_exhausted") for _ in range(3)]
    Pipeline(lite, factory, redis_client).process(storm)
    with factory() as s:
        for event in storm:
            body = trail_query.get_event(s, tenant_id, event["event_id"])
            assert body["event_count"] == 3 and only(body, "no_matching_config")
        with pytest.raises(trail_query.NotFoundError):
            trail_query.get_event(s, tenant_id, str(uuid.uuid4()))
        listed = trail_query.list_events(s, tenant_id, outcome="no_matching_config")
        assert [i["event_id"] for i in listed["items"]] == [storm[0]["event_id"]]
    engine.dispose()


def test_the_openapi_document_describes_the_trail(client):
    doc = client.get("/openapi.json").get_json()
    one = doc["paths"][f"{EVENTS}/{{event_id}}"]["get"]
    assert one["parameters"][0] == {"in": "path", "name": "event_id", "required": True,
                                    "schema": {"type": "string"}}  # fmt: skip
    assert {"401", "403", "404"} <= set(one["responses"])
    listed = doc["paths"][EVENTS]["get"]
    assert {p["name"] for p in listed["parameters"]} >= {"since", "outcome", "alert_type", "limit",
                                                         "cursor"}  # fmt: skip
    outcome = doc["components"]["schemas"]["TrailOutcome"]["properties"]["outcome"]
    assert "hourly_cap" in outcome["enum"]


def test_trail_settings_are_parsed_and_checked():
    from alertworker.core.settings import Settings, SettingsError

    s = Settings.from_env({"TRAIL_RETENTION_HOURS": "24", "TRAIL_ENABLED": "false"})
    assert (s.trail_retention_hours, s.trail_enabled) == (24, False)
    assert Settings.from_env({}).trail_retention_hours == 72 and Settings.from_env({}).trail_enabled
    for env, message in ({"TRAIL_ENABLED": "maybe"}, "TRAIL_ENABLED must be true or false"), (
        {"TRAIL_RETENTION_HOURS": "0"}, "TRAIL_RETENTION_HOURS must be >= 1"
    ):  # fmt: skip
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env)
