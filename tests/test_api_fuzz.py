"""Property: no body, query string or header makes any endpoint answer 5xx; every 4xx is §6-shaped.

A few thousand generated JSON bodies (random and schema-shaped), raw bytes and query strings are
thrown at every endpoint, with ids of real rows, of another tenant's rows and random ones.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from alertworker.core.catalog import ALERT_TYPES, CHANNELS, SEVERITIES
from tests import test_api_support as support
from tests.test_api_support import API, add_notification

app, client, caller = support.app, support.client, support.caller

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "",
            "0",
            "true",
            "in_app",
            "high_latency",
            "UTC",
            "22:00",
            "****",
            "a@b.test",
            "http://127.0.0.1:9/x",
            "https://10.0.0.1/",
            "\u0000",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4)
    ),
    max_leaves=12,
)
config_like = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values,
        "alert_type": st.sampled_from(list(ALERT_TYPES)) | json_values,
        "severity": st.sampled_from(SEVERITIES) | json_values,
        "channels": st.lists(st.sampled_from(CHANNELS)) | json_values,
        "channel_config": st.fixed_dictionaries(
            {},
            optional={
                "email": st.fixed_dictionaries({}, optional={"recipients": json_values}),
                "slack": st.fixed_dictionaries({}, optional={"webhook_url": json_values}),
                "webhook": st.fixed_dictionaries(
                    {}, optional={"url": json_values, "headers": json_values, "secret": json_values}
                ),
            },
        )
        | json_values,
        "cooldown_minutes": json_values,
        "max_alerts_per_hour": json_values,
        "group_by": json_values,
        "conditions": st.dictionaries(
            st.sampled_from(["threshold", "latency_ms", "provider_names", "error_rate", "x"]),
            json_values,
        )
        | json_values,
        "is_active": json_values,
        "group_similar": json_values,
        "description": json_values,
    },
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "tenant_id": st.sampled_from(["acme", "globex"]) | json_values,
        "alert_type": st.sampled_from(list(ALERT_TYPES)) | json_values,
        "title": json_values,
        "message": json_values,
        "severity": json_values,
        "context": json_values,
        "occurred_at": st.sampled_from(["2024-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00"])
        | json_values,
        "event_id": json_values,
        "is_test": json_values,
    },
)
prefs_like = st.fixed_dictionaries(
    {},
    optional={k: json_values for k in ("email_enabled", "min_severity", "digest", "in_app_enabled")}
    | {
        "quiet_hours": st.fixed_dictionaries(
            {}, optional={"start": json_values, "end": json_values, "timezone": json_values}
        )
        | json_values
    },
)
bodies = (
    json_values.map(json.dumps)
    | config_like.map(json.dumps)
    | event_like.map(json.dumps)
    | st.lists(event_like, max_size=3).map(json.dumps)
    | prefs_like.map(json.dumps)
    | st.binary(max_size=40).map(lambda b: b.decode("latin-1"))
)
query_keys = st.sampled_from(
    [
        "alert_type",
        "is_active",
        "unread_only",
        "severity",
        "config_id",
        "since",
        "limit",
        "cursor",
        "x",
    ]
) | st.text(max_size=8)
queries = st.dictionaries(query_keys, st.text(max_size=20) | st.integers().map(str), max_size=3)
ids = st.sampled_from(
    ["{mine}", "{theirs}", "0", "-1", "2147483648", "99999999999999999999", "abc"]
) | st.integers(0, 2**40).map(str)

ROUTES = [
    ("GET", "/admin/alerts/configs"),
    ("POST", "/admin/alerts/configs"),
    ("GET", "/admin/alerts/configs/{id}"),
    ("PUT", "/admin/alerts/configs/{id}"),
    ("PATCH", "/admin/alerts/configs/{id}"),
    ("DELETE", "/admin/alerts/configs/{id}"),
    ("GET", "/admin/alerts/notifications"),
    ("GET", "/admin/alerts/notifications/{id}"),
    ("GET", "/admin/alerts/notifications/unread/count"),
    ("POST", "/admin/alerts/notifications/{id}/read"),
    ("POST", "/admin/alerts/notifications/{id}/acknowledge"),
    ("POST", "/admin/alerts/notifications/mark-all-read"),
    ("POST", "/admin/alerts/test"),
    ("GET", "/admin/alerts/preferences"),
    ("PUT", "/admin/alerts/preferences"),
    ("POST", "/events"),
]


@pytest.fixture
def world(client, caller, session_factory):
    me, them = caller(), caller("globex", "b@globex.test")
    body = {"name": "n", "alert_type": "high_latency", "channels": ["in_app"]}
    mine = client.post(f"{API}/admin/alerts/configs", json=body, headers=me.h).get_json()["id"]
    theirs = client.post(f"{API}/admin/alerts/configs", json=body, headers=them.h).get_json()["id"]
    add_notification(session_factory, me.tenant_id, config_id=mine)
    add_notification(session_factory, them.tenant_id, config_id=theirs)
    return me, {"mine": str(mine), "theirs": str(theirs)}


def _check(response) -> None:
    event(f"status {response.status_code}")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        body = response.get_json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message", "fields"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["fields"], dict)


@pytest.mark.parametrize(("method", "route"), ROUTES, ids=[f"{m} {r}" for m, r in ROUTES])
@hsettings(
    max_examples=180,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    params=queries,
    the_id=ids,
    ctype=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
    ),
)
def test_no_input_makes_a_5xx(client, world, method, route, body, params, the_id, ctype):
    me, known = world
    path = API + route.replace("{id}", the_id.format(**known))
    send_body = method in ("POST", "PUT", "PATCH")
    r = client.open(
        path,
        method=method,
        headers=me.h,
        query_string=params,
        data=body.encode("utf-8", "surrogatepass") if send_body else None,
        content_type=ctype or None,
    )
    _check(r)


@hsettings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(header=st.text(max_size=60), route=st.sampled_from(ROUTES))
def test_no_authorization_header_makes_a_5xx(client, world, header, route):
    method, path = route
    try:
        r = client.open(
            API + path.replace("{id}", "1"), method=method, headers={"Authorization": header}
        )
    except ValueError:  # werkzeug refuses header values with newlines before sending
        return
    _check(r)
    assert r.status_code in (401, 404, 405)
