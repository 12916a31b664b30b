"""Tenant isolation: tenant B's token sees 404 for every id of tenant A and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from alertworker.core.models import AlertConfig, AlertNotification
from tests import test_api_support as support
from tests.test_api_support import API, add_notification, assert_error

app, client, caller = support.app, support.client, support.caller
CFG = f"{API}/admin/alerts/configs"
NOTE = f"{API}/admin/alerts/notifications"
VALID = {"name": "mine now", "alert_type": "high_latency", "channels": ["in_app"]}


@pytest.fixture
def world(client, caller, session_factory):
    a, b = caller("acme", "a@acme.test"), caller("globex", "b@globex.test")
    config = client.post(CFG, json=VALID | {"name": "A's"}, headers=a.h).get_json()
    nid = add_notification(
        session_factory, a.tenant_id, config_id=config["id"], deliveries=("in_app", "email")
    )
    return a, b, config["id"], nid


def _snapshot(db):
    db.expire_all()
    configs = [(c.id, c.name, c.is_active, c.updated_at) for c in db.scalars(select(AlertConfig))]
    notes = [(n.id, n.read_at, n.acknowledged_at) for n in db.scalars(select(AlertNotification))]
    return configs, notes


def test_every_id_endpoint_is_404_for_another_tenant(client, world, db):
    a, b, config_id, nid = world
    before = _snapshot(db)
    calls = [
        ("get", f"{CFG}/{config_id}", None),
        ("put", f"{CFG}/{config_id}", VALID),
        ("patch", f"{CFG}/{config_id}", {"is_active": False}),
        ("delete", f"{CFG}/{config_id}", None),
        ("get", f"{NOTE}/{nid}", None),
        ("post", f"{NOTE}/{nid}/read", None),
        ("post", f"{NOTE}/{nid}/acknowledge", None),
        ("post", f"{API}/admin/alerts/test?config_id={config_id}", None),
    ]
    for method, url, body in calls:
        r = getattr(client, method)(url, json=body, headers=b.h)
        assert_error(r, 404, "not_found")
    assert _snapshot(db) == before
    # and the owner still can
    assert client.get(f"{CFG}/{config_id}", headers=a.h).status_code == 200
    assert client.get(f"{NOTE}/{nid}", headers=a.h).status_code == 200


def test_lists_counts_and_bulk_changes_are_scoped(client, world, db):
    a, b, config_id, nid = world
    before = _snapshot(db)
    assert client.get(CFG, headers=b.h).get_json() == {"items": []}
    assert client.get(NOTE, headers=b.h).get_json() == {"items": [], "next_cursor": None}
    assert (
        client.get(NOTE, query_string={"config_id": config_id}, headers=b.h).get_json()["items"]
        == []
    )
    assert client.get(f"{NOTE}/unread/count", headers=b.h).get_json() == {"count": 0}
    assert client.post(f"{NOTE}/mark-all-read", headers=b.h).get_json() == {"count": 0}
    assert _snapshot(db) == before
    assert client.get(f"{NOTE}/unread/count", headers=a.h).get_json() == {"count": 1}


def test_cursor_of_another_tenant_reveals_nothing(client, world, session_factory):
    a, b, _, _ = world
    for _ in range(3):
        add_notification(session_factory, a.tenant_id)
    cursor = client.get(NOTE, query_string={"limit": 1}, headers=a.h).get_json()["next_cursor"]
    assert client.get(NOTE, query_string={"cursor": cursor}, headers=b.h).get_json()["items"] == []


def test_preferences_are_the_callers_own(client, world):
    a, b, _, _ = world
    client.put(f"{API}/admin/alerts/preferences", json={"digest": "daily"}, headers=a.h)
    assert client.get(f"{API}/admin/alerts/preferences", headers=b.h).get_json()["digest"] == "off"
