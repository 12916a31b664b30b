"""/admin/alerts/notifications: newest first, filters, keyset pages, detail, read, acknowledge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alertworker.core.models import AlertConfig
from tests import test_api_support as support
from tests.test_api_support import API, add_notification, assert_error

app, client, caller = support.app, support.client, support.caller
URL = f"{API}/admin/alerts/notifications"


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [n["id"] for n in response.get_json()["items"]]


def test_list_newest_first_with_summary_fields(client, caller, session_factory):
    me = caller()
    ids = [add_notification(session_factory, me.tenant_id) for _ in range(3)]
    r = client.get(URL, headers=me.h)
    assert _ids(r) == ids[::-1]
    first = r.get_json()["items"][0]
    assert first["is_read"] is False and first["read_at"] is None
    assert first["context"] == {"provider_name": "openai", "latency_ms": 7200}
    assert r.get_json()["next_cursor"] is None


def test_filters(client, caller, session_factory, db):
    me = caller()
    config = AlertConfig(
        tenant_id=me.tenant_id,
        name="c",
        alert_type="quota_exhausted",
        severity="critical",
        channels=["in_app"],
    )
    db.add(config)
    db.commit()
    old = add_notification(
        session_factory, me.tenant_id, triggered_at=datetime.now(UTC) - timedelta(days=2)
    )
    typed = add_notification(
        session_factory,
        me.tenant_id,
        config_id=config.id,
        alert_type="quota_exhausted",
        severity="critical",
    )
    read = add_notification(session_factory, me.tenant_id, read_at=datetime.now(UTC))
    q = lambda **kw: _ids(client.get(URL, query_string=kw, headers=me.h))  # noqa: E731
    assert q(unread_only="true") == [typed, old]
    assert q(alert_type="quota_exhausted") == [typed]
    assert q(severity="critical") == [typed]
    assert q(config_id=config.id) == [typed]
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert q(since=since) == [read, typed]
    assert q(since=since.replace("+00:00", "")) == [read, typed]  # naive means UTC


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "x"},
        {"severity": "loud"},
        {"alert_type": "nope"},
        {"since": "yesterday"},
        {"config_id": "0"},
        {"config_id": "99999999999"},
        {"cursor": "garbage!"},
        {"cursor": "bjE6MA"},
        {"unread_only": "perhaps"},
        {"bogus": "1"},
    ],
)
def test_bad_filters_are_422(client, caller, params):
    error = assert_error(client.get(URL, query_string=params, headers=caller().h), 422)
    assert set(error["fields"]) == set(params)


def test_cursor_pages_are_stable_under_inserts(client, caller, session_factory):
    me = caller()
    ids = [add_notification(session_factory, me.tenant_id) for _ in range(5)]
    r = client.get(URL, query_string={"limit": 2}, headers=me.h)
    assert _ids(r) == [ids[4], ids[3]]
    cursor = r.get_json()["next_cursor"]
    add_notification(session_factory, me.tenant_id)  # newer rows do not shift older pages
    r = client.get(URL, query_string={"limit": 2, "cursor": cursor}, headers=me.h)
    assert _ids(r) == [ids[2], ids[1]]
    r = client.get(
        URL, query_string={"limit": 2, "cursor": r.get_json()["next_cursor"]}, headers=me.h
    )
    assert _ids(r) == [ids[0]] and r.get_json()["next_cursor"] is None


def test_detail_has_deliveries(client, caller, session_factory):
    me = caller()
    nid = add_notification(session_factory, me.tenant_id, deliveries=("in_app", "webhook"))
    r = client.get(f"{URL}/{nid}", headers=me.h)
    assert r.status_code == 200
    deliveries = r.get_json()["deliveries"]
    assert [(d["channel"], d["recipient"], d["status"], d["attempts"]) for d in deliveries] == [
        ("in_app", "", "delivered", 1),
        ("webhook", "", "failed", 1),
    ]
    assert deliveries[1]["digest_id"] is None
    assert deliveries[1]["last_error"] == "HTTP 500 from receiver"
    assert_error(client.get(f"{URL}/{nid + 100}", headers=me.h), 404)


def test_unread_count_read_and_acknowledge(client, caller, session_factory):
    me = caller()
    a, b, _ = (add_notification(session_factory, me.tenant_id) for _ in range(3))
    count = lambda: client.get(f"{URL}/unread/count", headers=me.h).get_json()  # noqa: E731
    assert count() == {"count": 3}
    r = client.post(f"{URL}/{a}/read", headers=me.h)
    assert r.status_code == 200 and r.get_json()["is_read"] is True
    read_at = r.get_json()["read_at"]
    again = client.post(f"{URL}/{a}/read", headers=me.h).get_json()
    assert again["read_at"] == read_at  # idempotent
    assert count() == {"count": 2}
    r = client.post(f"{URL}/{b}/acknowledge", headers=me.h)
    body = r.get_json()
    assert r.status_code == 200 and body["acknowledged_by"] == me.user_id
    assert body["acknowledged_at"] is not None and body["is_read"] is True
    assert count() == {"count": 1}
    for action in ("read", "acknowledge"):
        assert_error(client.post(f"{URL}/999999/{action}", headers=me.h), 404)


def test_mark_all_read_returns_how_many_changed(client, caller, session_factory):
    me = caller()
    for _ in range(4):
        add_notification(session_factory, me.tenant_id)
    client.post(f"{URL}/{add_notification(session_factory, me.tenant_id)}/read", headers=me.h)
    assert client.post(f"{URL}/mark-all-read", headers=me.h).get_json() == {"count": 4}
    assert client.post(f"{URL}/mark-all-read", headers=me.h).get_json() == {"count": 0}


def test_wrong_methods_are_405(client, caller):
    me = caller()
    error = assert_error(client.delete(URL, headers=me.h), 405, "method_not_allowed")
    assert error["message"]
    assert_error(client.get(f"{URL}/mark-all-read", headers=me.h), 405)
