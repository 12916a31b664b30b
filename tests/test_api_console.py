"""What the admin console reads besides the resources: ``GET /me``, a config's
``last_fired_at``, the documentation page at ``/docs`` and ``GET /``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests import test_api_support as support
from tests.test_api_support import API, add_notification, assert_error

app, client, caller = support.app, support.client, support.caller
CONFIGS = f"{API}/admin/alerts/configs"


def test_me_names_the_tenant_user_and_scopes(client, caller):
    me = caller(scopes=["alerts:read"])
    r = client.get(f"{API}/me", headers=me.h)
    assert r.status_code == 200
    assert r.get_json() == {
        "tenant": "acme", "tenant_id": me.tenant_id, "user_id": me.user_id,
        "email": "admin@acme.test", "scopes": ["alerts:read"],
    }  # fmt: skip
    assert_error(client.get(f"{API}/me"), 401)
    assert_error(client.get(f"{API}/me", headers=caller(scopes=["events:write"]).h), 403)


def test_configs_say_when_they_last_fired(client, caller, session_factory):
    me = caller()
    body = {"name": "n", "alert_type": "high_latency", "channels": ["in_app"]}
    fired = client.post(CONFIGS, json=body, headers=me.h).get_json()
    never = client.post(CONFIGS, json=body, headers=me.h).get_json()
    assert fired["last_fired_at"] is None
    then = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    for minutes in (0, 5):
        add_notification(session_factory, me.tenant_id, fired["id"],
                         triggered_at=then + timedelta(minutes=minutes))  # fmt: skip
    items = {c["id"]: c for c in client.get(CONFIGS, headers=me.h).get_json()["items"]}
    assert items[fired["id"]]["last_fired_at"].startswith("2026-11-30T09:05:00")
    assert items[never["id"]]["last_fired_at"] is None
    one = client.get(f"{CONFIGS}/{fired['id']}", headers=me.h).get_json()
    assert one["last_fired_at"] == items[fired["id"]]["last_fired_at"]
    # sent back with the rest, the computed field is dropped, as health is, not refused
    back = {k: v for k, v in one.items() if k not in ("id", "created_at", "updated_at")}
    r = client.put(f"{CONFIGS}/{fired['id']}", json=back, headers=me.h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["last_fired_at"] == one["last_fired_at"]


def test_root_redirects_to_the_documentation_page(client):
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"] == "/docs"


def test_the_documentation_page_prints_the_openapi_document(client):
    r = client.get("/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    policy = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    html = r.get_data(as_text=True)
    assert "<script" not in html and not re.search(r"<[^>]*\s(on[a-z]+|style)\s*=", html)
    assert 'href="/alerts"' in html and 'href="/openapi.json"' in html
    document = client.get("/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method in item:
            assert f'id="{item[method]["operationId"]}"' in html, (method, path)
    assert 'id="schema-Notification"' in html and 'href="#schema-ConfigOut"' in html
    assert "Requires the <code>alerts:read</code> scope." in html
    assert "/docs" not in document["paths"] and "/" not in document["paths"]
