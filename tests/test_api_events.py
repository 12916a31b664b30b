"""POST /events and POST /admin/alerts/test: validated, enqueued on the real broker, 202."""

from __future__ import annotations

import pytest

from alertworker.core.catalog import ALERT_TYPES
from alertworker.ingest.conditions import evaluate
from api import create_app
from tests import test_api_support as support
from tests.test_api_support import API, assert_error, enqueued

app, client, caller = support.app, support.client, support.caller
EVENTS = f"{API}/events"
TEST = f"{API}/admin/alerts/test"
EVENT = {
    "alert_type": "high_latency",
    "title": "p95 over 5s",
    "context": {"provider_name": "openai", "latency_ms": 7200},
}


def test_one_event_is_enqueued(client, caller, redis_client, settings):
    me = caller(scopes=["events:write"])
    r = client.post(EVENTS, json=EVENT, headers=me.h)
    assert r.status_code == 202, r.get_json()
    (event_id,) = r.get_json()["event_ids"]
    (sent,) = enqueued(redis_client, settings)
    assert sent["event_id"] == event_id and sent["tenant_id"] == "acme"  # filled in
    assert sent["context"] == EVENT["context"]


def test_an_array_is_enqueued_in_order(client, caller, redis_client, settings):
    me = caller(scopes=["events:write"])
    batch = [dict(EVENT, title=f"e{i}", tenant_id="acme") for i in range(500)]
    batch[7]["event_id"] = "6f1c3d1e-8a8f-4c1e-9d43-1d5b1c1f0a77"
    r = client.post(EVENTS, json=batch, headers=me.h)
    assert r.status_code == 202
    ids = r.get_json()["event_ids"]
    assert len(ids) == 500 and ids[7] == batch[7]["event_id"]
    assert [e["event_id"] for e in enqueued(redis_client, settings)] == ids


@pytest.mark.parametrize("body", [[], [EVENT] * 501, "event", 5, [EVENT, "nope"]])
def test_bad_shapes_are_422(client, caller, body, redis_client, settings):
    assert_error(client.post(EVENTS, json=body, headers=caller().h), 422)
    assert enqueued(redis_client, settings) == []


@pytest.mark.parametrize("data", [b"", b"{", b"[1,", b"NaN", b'{"a": Infinity}', b"\xff\xfe"])
def test_malformed_json_is_400(client, caller, data):
    r = client.post(EVENTS, data=data, headers=caller().h, content_type="application/json")
    assert_error(r, 400, "malformed_json")


def test_invalid_fields_are_reported_per_field_and_index(client, caller, redis_client, settings):
    me = caller()
    error = assert_error(
        client.post(EVENTS, json=dict(EVENT, alert_type="x", is_test=True), headers=me.h), 422
    )
    assert set(error["fields"]) == {"alert_type", "is_test"}  # test-only fields are not public
    error = assert_error(
        client.post(EVENTS, json=[EVENT, dict(EVENT, title="")], headers=me.h), 422
    )
    assert error["fields"] == {"1": {"title": ["Length must be between 1 and 200."]}}
    big = dict(EVENT, context={"blob": "x" * 17000})
    assert "context" in assert_error(client.post(EVENTS, json=big, headers=me.h), 422)["fields"]
    assert enqueued(redis_client, settings) == []


def test_a_trigger_with_a_null_title_is_422_not_a_rejection_later(
    client, caller, redis_client, settings
):
    """The worker rejects a trigger without a title; the API must not accept one either."""
    me = caller()
    error = assert_error(client.post(EVENTS, json=dict(EVENT, title=None), headers=me.h), 422)
    assert error["fields"] == {"title": ["Field may not be null."]}
    resolve = {"alert_type": "high_latency", "action": "resolve", "title": None,
               "context": {"provider_name": "openai"}}  # fmt: skip
    assert client.post(EVENTS, json=resolve, headers=me.h).status_code == 202  # optional there
    assert [e["action"] for e in enqueued(redis_client, settings)] == ["resolve"]


def test_another_tenants_events_are_refused(client, caller, redis_client, settings):
    me = caller()
    error = assert_error(
        client.post(EVENTS, json=[EVENT, dict(EVENT, tenant_id="globex")], headers=me.h), 403
    )
    assert error["fields"] == {"1": {"tenant_id": ["must be this token's tenant, 'acme'"]}}
    assert enqueued(redis_client, settings) == []


def test_scope_events_write_is_needed(client, caller):
    assert_error(client.post(EVENTS, json=EVENT, headers=caller(scopes=["alerts:write"]).h), 403)


def test_broker_down_is_503(settings, caller):
    app = create_app(settings.replace(broker_url="redis://127.0.0.1:1/0"))
    try:
        r = app.test_client().post(EVENTS, json=EVENT, headers=caller().h)
        error = assert_error(r, 503, "unavailable")
        assert "broker" in error["message"]
    finally:
        app.extensions["alertworker"].close()


def test_no_broker_at_all_is_503_not_an_accepted_event_nobody_reads(
    settings, caller, tmp_path, monkeypatch
):
    """No BROKER_URL and no `alertworker run` serving from the working directory (SPEC §3)."""
    monkeypatch.delenv("BROKER_URL", raising=False)
    monkeypatch.delenv("ALERTWORKER_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    app = create_app(settings.replace(broker_url=""))
    try:
        r = app.test_client().post(EVENTS, json=EVENT, headers=caller().h)
        assert "broker" in assert_error(r, 503, "unavailable")["message"]
    finally:
        app.extensions["alertworker"].close()


@pytest.mark.parametrize("alert_type", sorted(ALERT_TYPES))
def test_test_alert_sample_meets_default_conditions(
    client, caller, redis_client, settings, alert_type
):
    me = caller()
    _config(client, me, alert_type)
    r = client.post(TEST, query_string={"alert_type": alert_type}, headers=me.h)
    assert r.status_code == 202, r.get_json()
    (sent,) = enqueued(redis_client, settings)
    assert sent["event_id"] == r.get_json()["event_id"]
    assert sent["is_test"] is True and "config_id" not in sent
    assert sent["alert_type"] == alert_type and sent["tenant_id"] == "acme"
    assert evaluate(alert_type, {}, sent["context"]).met
    assert sent["context"]  # realistic keys, e.g. provider_name, latency_ms


def _config(client, me, alert_type, **values):
    body = {"name": "c", "alert_type": alert_type, "channels": ["in_app"]} | values
    r = client.post(f"{API}/admin/alerts/configs", headers=me.h, json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_test_alert_by_type_without_an_active_config_is_409(client, caller, redis_client, settings):
    """SPEC §6: a test by type with nothing to reach says why, instead of a 202 doing nothing."""
    me = caller()
    r = client.post(TEST, query_string={"alert_type": "high_latency"}, headers=me.h)
    assert "no high_latency config" in assert_error(r, 409, "conflict")["message"]
    paused = _config(client, me, "high_latency", name="p95", is_active=False)
    _config(client, me, "quota_exhausted")  # active, but of another type
    r = client.post(TEST, query_string={"alert_type": "high_latency"}, headers=me.h)
    message = assert_error(r, 409, "conflict")["message"]
    assert "no active high_latency config" in message and f"{paused['id']} ('p95')" in message
    assert f"config_id={paused['id']}" in message
    assert enqueued(redis_client, settings) == []
    r = client.post(TEST, query_string={"config_id": paused["id"]}, headers=me.h)
    assert r.status_code == 202, r.get_json()  # aimed at the paused config: sent anyway


def test_test_alert_for_a_config_meets_its_conditions(client, caller, redis_client, settings):
    me = caller()
    conditions = {"provider_names": ["anthropic"], "error_rate": 0.5, "min_requests": 5000}
    config = client.post(
        f"{API}/admin/alerts/configs",
        headers=me.h,
        json={
            "name": "errors",
            "alert_type": "high_error_rate",
            "channels": ["in_app"],
            "conditions": conditions,
        },
    ).get_json()
    r = client.post(TEST, query_string={"config_id": config["id"]}, headers=me.h)
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["config_id"] == config["id"]
    (sent,) = enqueued(redis_client, settings)
    assert sent["config_id"] == config["id"] and sent["is_test"] is True
    assert evaluate("high_error_rate", conditions, sent["context"]).met


def test_test_alert_errors(client, caller, redis_client, settings):
    me = caller()
    assert_error(client.post(TEST, query_string={"alert_type": "nope"}, headers=me.h), 422)
    assert_error(client.post(TEST, headers=me.h), 422)
    assert_error(client.post(TEST, query_string={"config_id": 424242}, headers=me.h), 404)
    config = client.post(
        f"{API}/admin/alerts/configs",
        headers=me.h,
        json={"name": "q", "alert_type": "quota_exhausted", "channels": ["in_app"]},
    ).get_json()
    error = assert_error(
        client.post(
            TEST,
            query_string={"config_id": config["id"], "alert_type": "high_latency"},
            headers=me.h,
        ),
        422,
    )
    assert "alert_type" in error["fields"]
    assert_error(
        client.post(
            TEST,
            query_string={"alert_type": "high_latency"},
            headers=caller(scopes=["alerts:read"]).h,
        ),
        403,
    )
    assert enqueued(redis_client, settings) == []
