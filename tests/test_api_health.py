"""/healthz, /readyz, /metrics, the OpenAPI document, and the error shape of framework errors."""

from __future__ import annotations

import json
import re

import pytest

from api import create_app
from tests import test_api_support as support
from tests.test_api_support import API, assert_error

app, client, caller = support.app, support.client, support.caller


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}


def test_readyz_when_all_is_up(client):
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


@pytest.mark.parametrize(
    ("change", "down"),
    [
        ({"broker_url": "redis://127.0.0.1:1/0"}, {"broker"}),
        ({"redis_url": "redis://127.0.0.1:1/0"}, {"redis"}),
        (
            {
                "database_url": "postgresql+psycopg2://postgres@127.0.0.1:1/x",
                "redis_url": "redis://127.0.0.1:1/0",
            },
            {"database", "redis"},
        ),
    ],
)
def test_readyz_names_what_is_down(settings, change, down):
    app = create_app(settings.replace(**change))
    try:
        error = assert_error(app.test_client().get("/readyz"), 503, "unavailable")
        assert set(error["fields"]) == down
        for name in down:
            assert name in error["message"]
        assert app.test_client().get("/healthz").status_code == 200  # alive nonetheless
    finally:
        app.extensions["alertworker"].close()


def test_metrics_is_prometheus_text(client):
    client.get("/healthz")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    assert "# TYPE alertworker_api_requests_total counter" in text
    assert 'route="/healthz"' in text


def test_metrics_in_multiprocess_mode(client, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"


def test_openapi_is_generated_from_the_schemas(client):
    doc = client.get(f"{API}/openapi.json").get_json()
    assert doc == client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path, methods in {
        "/admin/alerts/configs": {"get", "post"},
        "/admin/alerts/configs/{config_id}": {"get", "put", "patch", "delete"},
        "/admin/alerts/notifications": {"get"},
        "/admin/alerts/notifications/{notification_id}": {"get"},
        "/admin/alerts/notifications/unread/count": {"get"},
        "/admin/alerts/notifications/{notification_id}/read": {"post"},
        "/admin/alerts/notifications/{notification_id}/acknowledge": {"post"},
        "/admin/alerts/notifications/{notification_id}/resolve": {"post"},
        "/admin/alerts/notifications/mark-all-read": {"post"},
        "/admin/alerts/notifications/stream": {"get"},
        "/admin/alerts/test": {"post"},
        "/admin/alerts/preferences": {"get", "put"},
        "/admin/alerts/users": {"get", "post"},
        "/admin/alerts/schedules": {"get", "post"},
        "/admin/alerts/schedules/{schedule_id}": {"get", "put", "delete"},
        "/admin/alerts/schedules/{schedule_id}/oncall": {"get"},
        "/admin/alerts/escalation-policies": {"get", "post"},
        "/admin/alerts/escalation-policies/{policy_id}": {"get", "put", "delete"},
        "/events": {"post"},
    }.items():
        assert set(paths[API + path]) == methods, path
    schemas = doc["components"]["schemas"]
    config = schemas["Config"]
    assert set(config["required"]) == {"name", "alert_type", "channels"}
    assert config["properties"]["cooldown_minutes"]["maximum"] == 10080
    assert "Error" in schemas and "NotificationDetail" in schemas
    assert config["properties"]["auto_resolve_minutes"]["maximum"] == 10080  # SPEC §13
    assert "notify_on_resolve" in config["properties"]
    assert set(schemas["Notification"]["properties"]) >= {
        "state",
        "resolved_at",
        "resolve_reason",
        "resolved_by",
        "resolved_by_event_id",
    }
    channel_config = schemas["ChannelConfig"]["properties"]
    assert {"pagerduty", "sms"} <= set(channel_config)
    events = paths[f"{API}/events"]["post"]["requestBody"]["content"]["application/json"]
    one, many = events["schema"]["oneOf"]  # one event, or an array of up to 500 (SPEC §3)
    assert many == {"type": "array", "items": one, "minItems": 1, "maxItems": 500}
    event = schemas[one["$ref"].rsplit("/", 1)[1]]
    assert event["properties"]["action"]["enum"] == ["trigger", "resolve"]
    assert "title" not in event.get("required", [])
    query = {p["name"] for p in paths[f"{API}/admin/alerts/notifications"]["get"]["parameters"]}
    assert "state" in query
    assert schemas["Policy"]["properties"]["repeat"]["maximum"] == 5
    assert set(schemas["Schedule"]["required"]) == {"name", "timezone", "layers"}
    assert "escalation" in schemas["NotificationDetail"]["properties"]
    oncall = paths[f"{API}/admin/alerts/schedules/{{schedule_id}}/oncall"]["get"]
    assert {p["name"] for p in oncall["parameters"]} >= {"schedule_id", "at", "from", "to"}
    create = paths[f"{API}/admin/alerts/configs"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Config"
    }
    assert set(create["responses"]) >= {"201", "401", "403", "422"}
    listing = paths[f"{API}/admin/alerts/notifications"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"unread_only", "limit", "cursor"}
    for ref in re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', json.dumps(doc)):
        assert ref[1] in doc["components"][ref[0]], ref


def test_openapi_lists_409_and_503_where_they_occur(client):
    """409 on the operations that refuse a change for the current state, 503 wherever a
    dependency is needed (every authenticated call reads its token from the database)."""
    doc = client.get("/openapi.json").get_json()
    with_409 = {
        (path.removeprefix(API), method)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "409" in op["responses"]
    }
    assert with_409 == {
        ("/admin/alerts/test", "post"),
        ("/admin/alerts/deliveries/{delivery_id}/retry", "post"),
        ("/admin/alerts/silences/{silence_id}", "put"),
        ("/admin/alerts/escalation-policies/{policy_id}", "delete"),
        ("/admin/alerts/schedules/{schedule_id}", "delete"),
        ("/admin/alerts/users", "post"),
    }
    for path, ops in doc["paths"].items():
        for op in ops.values():
            if "security" in op or path == "/readyz":
                assert op["responses"]["503"] == {"$ref": "#/components/responses/E503"}, path
    assert "unavailable" in doc["components"]["responses"]["E503"]["description"]


def test_unknown_path_and_method_errors_have_the_shape(client):
    assert_error(client.get(f"{API}/nope"), 404, "not_found")
    r = client.post("/healthz")
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"]


def test_body_too_large_is_413(client, caller):
    me = caller()
    r = client.post(
        f"{API}/events",
        data=b"[" + b"1," * (6 * 1024 * 1024) + b"1]",
        headers=me.h,
        content_type="application/json",
    )
    assert_error(r, 413, "payload_too_large")


def test_deep_nesting_and_nul_bytes_never_reach_the_database(client, caller):
    me = caller()
    deep = "[" * 100000 + "]" * 100000
    assert_error(
        client.post(
            f"{API}/admin/alerts/configs", data=deep, headers=me.h, content_type="application/json"
        ),
        400,
    )
    body = {"name": "a\u0000b", "alert_type": "high_latency", "channels": ["in_app"]}
    error = assert_error(client.post(f"{API}/admin/alerts/configs", json=body, headers=me.h), 422)
    assert "name" in error["fields"]
    body = json.dumps({"name": "\ud800", "alert_type": "high_latency", "channels": ["in_app"]})
    assert_error(
        client.post(
            f"{API}/admin/alerts/configs", data=body, headers=me.h, content_type="application/json"
        ),
        422,
    )


def test_an_unexpected_error_is_a_500_in_the_same_shape(app, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("bug")

    error = assert_error(app.test_client().get("/boom"), 500, "internal_error")
    assert error["message"] == "internal error"  # no details leak to the caller
    assert "unhandled error" in caplog.text
