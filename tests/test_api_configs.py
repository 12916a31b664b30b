"""/admin/alerts/configs: CRUD, defaults, validation per field, filters, PATCH merging."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from alertworker.core.models import AlertConfig, Tenant
from tests import test_api_support as support
from tests.test_api_support import API, SLACK_URL, assert_error, slack_config

app, client, caller = support.app, support.client, support.caller
URL = f"{API}/admin/alerts/configs"
EMAIL = {"email": {"recipients": ["ops@acme.test"]}}


def _create(client, who, **body):
    r = client.post(
        URL,
        json={"name": "n", "alert_type": "high_latency", "channels": ["in_app"]} | body,
        headers=who.h,
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_create_applies_defaults(client, caller):
    me = caller()
    r = client.post(
        URL,
        json={"name": "Breaker", "alert_type": "circuit_breaker_opened", "channels": ["in_app"]},
        headers=me.h,
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["severity"] == "error"  # the type's default
    assert body["is_active"] is True
    assert (body["cooldown_minutes"], body["max_alerts_per_hour"]) == (15, 10)
    assert body["group_similar"] is True and body["group_by"] == ["provider_name"]
    assert body["conditions"] == {} and body["description"] is None
    assert client.get(f"{URL}/{body['id']}", headers=me.h).get_json() == body


def test_create_full_config_round_trips(client, caller):
    me = caller()
    body = {
        "name": "Cost", "description": "d", "alert_type": "cost_limit_warning",
        "severity": "critical", "is_active": False, "channels": ["email", "in_app"],
        "channel_config": EMAIL, "cooldown_minutes": 0, "max_alerts_per_hour": 10000,
        "group_similar": False, "group_by": [], "conditions": {"threshold": 0.75},
    }  # fmt: skip
    created = _create(client, me, **body)
    assert {k: created[k] for k in body} == body


def test_create_bumps_config_version(client, caller, db):
    me = caller()
    before = db.get(Tenant, me.tenant_id).config_version
    _create(client, me)
    db.expire_all()
    assert db.get(Tenant, me.tenant_id).config_version > before


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"name": ""}, ["name"]),
        ({"name": "x" * 201}, ["name"]),
        ({"description": "x" * 2001}, ["description"]),
        ({"alert_type": "nope"}, ["alert_type"]),
        ({"severity": "fatal"}, ["severity"]),
        ({"channels": []}, ["channels"]),
        ({"channels": ["pager"]}, ["channels"]),
        ({"channels": ["email"]}, ["channel_config", "email"]),
        (
            {"channels": ["email"], "channel_config": {"email": {"recipients": []}}},
            ["channel_config", "email", "recipients"],
        ),
        (
            {"channels": ["email"], "channel_config": {"email": {"recipients": ["no-at"]}}},
            ["channel_config", "email", "recipients"],
        ),
        (
            {"channels": ["email"], "channel_config": {"email": {"recipients": ["a@b.test"] * 51}}},
            ["channel_config", "email", "recipients"],
        ),
        ({"channels": ["slack"]}, ["channel_config", "slack"]),
        (
            {"channels": ["slack"], "channel_config": {"slack": {"webhook_url": "ftp://x/y"}}},
            ["channel_config", "slack", "webhook_url"],
        ),
        (
            {
                "channels": ["slack"],
                "channel_config": {"slack": {"webhook_url": "http://a.test/x"}},
            },
            ["channel_config", "slack", "webhook_url"],
        ),  # http only for allow-listed hosts
        (
            {"channels": ["webhook"], "channel_config": {"webhook": {"url": "https://10.0.0.1/x"}}},
            ["channel_config", "webhook", "url"],
        ),  # private address
        (
            {
                "channels": ["webhook"],
                "channel_config": {
                    "webhook": {"url": "http://127.0.0.1:9/h", "headers": {"X-A": "1\r\nX-B: 2"}}
                },
            },
            ["channel_config", "webhook", "headers"],
        ),
        (
            {
                "channels": ["webhook"],
                "channel_config": {
                    "webhook": {"url": "http://127.0.0.1:9/h", "headers": {"Bad\nName": "v"}}
                },
            },
            ["channel_config", "webhook", "headers"],
        ),
        (
            {
                "channels": ["webhook"],
                "channel_config": {
                    "webhook": {"url": "http://127.0.0.1:9/h", "headers": {"X-A": 5}}
                },
            },
            ["channel_config", "webhook", "headers"],
        ),
        ({"channel_config": {"sms": {}}}, ["channel_config", "sms"]),
        ({"cooldown_minutes": -1}, ["cooldown_minutes"]),
        ({"cooldown_minutes": 10081}, ["cooldown_minutes"]),
        ({"cooldown_minutes": "5"}, ["cooldown_minutes"]),
        ({"max_alerts_per_hour": 0}, ["max_alerts_per_hour"]),
        ({"max_alerts_per_hour": 10001}, ["max_alerts_per_hour"]),
        ({"group_by": "provider_name"}, ["group_by"]),
        ({"conditions": {"bogus": 1}}, ["conditions", "bogus"]),
        ({"conditions": {"latency_ms": 0}}, ["conditions", "latency_ms"]),
        ({"unknown_field": 1}, ["unknown_field"]),
    ],
)
def test_create_rejects_per_field(client, caller, patch, where):
    body = {"name": "n", "alert_type": "high_latency", "channels": ["in_app"]} | patch
    error = assert_error(client.post(URL, json=body, headers=caller().h), 422, "validation_error")
    node = error["fields"]
    for key in where:
        assert key in node, error
        node = node[key]


def test_conditions_are_checked_against_the_type(client, caller):
    me = caller()
    body = {
        "name": "n",
        "alert_type": "provider_recovered",
        "channels": ["in_app"],
        "conditions": {"latency_ms": 100},
    }
    error = assert_error(client.post(URL, json=body, headers=me.h), 422)
    assert "latency_ms" in error["fields"]["conditions"]
    body["conditions"] = {"provider_names": ["openai"]}
    assert client.post(URL, json=body, headers=me.h).status_code == 201


def test_list_filters_and_scoping(client, caller):
    me = caller()
    a = _create(client, me, alert_type="high_latency")
    b = _create(client, me, alert_type="quota_exhausted", is_active=False)
    r = client.get(URL, headers=me.h)
    assert [c["id"] for c in r.get_json()["items"]] == [a["id"], b["id"]]
    r = client.get(URL, query_string={"alert_type": "quota_exhausted"}, headers=me.h)
    assert [c["id"] for c in r.get_json()["items"]] == [b["id"]]
    r = client.get(URL, query_string={"is_active": "true"}, headers=me.h)
    assert [c["id"] for c in r.get_json()["items"]] == [a["id"]]
    assert_error(client.get(URL, query_string={"is_active": "maybe"}, headers=me.h), 422)
    assert_error(client.get(URL, query_string={"alert_type": "x"}, headers=me.h), 422)


def test_put_replaces_and_resets_omitted_fields(client, caller):
    me = caller()
    created = _create(client, me, cooldown_minutes=99, conditions={"latency_ms": 900})
    r = client.put(
        f"{URL}/{created['id']}",
        headers=me.h,
        json={"name": "renamed", "alert_type": "high_latency", "channels": ["in_app"]},
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["name"], body["cooldown_minutes"], body["conditions"]) == ("renamed", 15, {})
    assert_error(client.put(f"{URL}/{created['id']}", json={"name": "x"}, headers=me.h), 422)


def test_put_without_is_active_keeps_a_paused_config_paused(client, caller):
    me = caller()
    created = _create(client, me, is_active=False)
    body = {"name": "edited", "alert_type": "high_latency", "channels": ["in_app"]}
    r = client.put(f"{URL}/{created['id']}", headers=me.h, json=body)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["is_active"] is False and r.get_json()["name"] == "edited"
    r = client.put(f"{URL}/{created['id']}", headers=me.h, json=body | {"is_active": True})
    assert r.get_json()["is_active"] is True
    r = client.put(f"{URL}/{created['id']}", headers=me.h, json=body)
    assert r.get_json()["is_active"] is True


def test_create_answers_201_with_location(client, caller):
    me = caller()
    r = client.post(
        URL, json={"name": "n", "alert_type": "high_latency", "channels": ["in_app"]}, headers=me.h
    )
    assert r.status_code == 201
    assert r.headers["Location"] == f"{URL}/{r.get_json()['id']}"
    assert client.get(r.headers["Location"], headers=me.h).get_json() == r.get_json()


def test_patch_changes_only_given_fields(client, caller):
    me = caller()
    created = _create(client, me, cooldown_minutes=99)
    r = client.patch(f"{URL}/{created['id']}", json={"is_active": False}, headers=me.h)
    assert r.status_code == 200
    body = r.get_json()
    assert body["is_active"] is False and body["cooldown_minutes"] == 99
    assert body["updated_at"] >= created["updated_at"]


def test_patch_revalidates_the_merged_config(client, caller):
    me = caller()
    created = _create(client, me, conditions={"latency_ms": 900})
    item = f"{URL}/{created['id']}"
    error = assert_error(client.patch(item, json={"channels": ["email"]}, headers=me.h), 422)
    assert "email" in error["fields"]["channel_config"]
    error = assert_error(
        client.patch(
            item, json={"channels": ["email"], "channel_config": {"email": {}}}, headers=me.h
        ),
        422,
    )
    assert "recipients" in error["fields"]["channel_config"]["email"]
    assert_error(client.patch(item, json={"cooldown_minutes": -5}, headers=me.h), 422)
    # a new type drops the old type's conditions rather than failing on them
    r = client.patch(item, json={"alert_type": "quota_exhausted"}, headers=me.h)
    assert r.status_code == 200 and r.get_json()["conditions"] == {}


def test_delete(client, caller, db):
    me = caller()
    created = _create(client, me)
    r = client.delete(f"{URL}/{created['id']}", headers=me.h)
    assert r.status_code == 204 and r.data == b""
    assert_error(client.get(f"{URL}/{created['id']}", headers=me.h), 404, "not_found")
    assert_error(client.delete(f"{URL}/{created['id']}", headers=me.h), 404)
    assert db.scalars(select(AlertConfig)).all() == []


@pytest.mark.parametrize("config_id", ["999", "0", "99999999999999999999", "abc", "-1"])
def test_unknown_ids_are_404(client, caller, config_id):
    me = caller()
    for method in ("get", "put", "patch", "delete"):
        assert_error(getattr(client, method)(f"{URL}/{config_id}", json={}, headers=me.h), 404)


def test_channels_are_deduplicated(client, caller):
    body = _create(client, caller(), channels=["in_app", "in_app"])
    assert body["channels"] == ["in_app"]


def test_slack_secret_masked_and_kept_on_put(client, caller, db):
    me = caller()
    created = _create(client, me, **slack_config())
    shown = created["channel_config"]["slack"]["webhook_url"]
    assert shown.endswith("****") and "slacksecret123" not in shown
    resend = {k: v for k, v in created.items() if k not in ("id", "created_at", "updated_at")}
    r = client.put(f"{URL}/{created['id']}", json=resend | {"name": "again"}, headers=me.h)
    assert r.status_code == 200, r.get_json()
    stored = db.scalar(select(AlertConfig)).channel_config
    assert stored["slack"] == {"webhook_url": SLACK_URL, "channel": "#ops"}


def test_delete_keeps_notifications_without_their_config(client, caller, session_factory):
    me = caller()
    created = _create(client, me)
    nid = support.add_notification(session_factory, me.tenant_id, config_id=created["id"])
    assert client.delete(f"{URL}/{created['id']}", headers=me.h).status_code == 204
    note = client.get(f"{API}/admin/alerts/notifications/{nid}", headers=me.h).get_json()
    assert note["config_id"] is None
