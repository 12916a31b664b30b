"""/admin/alerts/preferences: the calling user's preferences (SPEC §8)."""

from __future__ import annotations

import pytest

from tests import test_api_support as support
from tests.test_api_support import API, assert_error

app, client, caller = support.app, support.client, support.caller
URL = f"{API}/admin/alerts/preferences"
DEFAULTS = {
    "in_app_enabled": True, "email_enabled": True, "slack_enabled": True,
    "webhook_enabled": True, "min_severity": "info", "quiet_hours": None, "digest": "off",
    "phone": None,
}  # fmt: skip


def test_defaults_before_any_put(client, caller):
    body = client.get(URL, headers=caller().h).get_json()
    assert {k: body[k] for k in DEFAULTS} == DEFAULTS


def test_put_replaces_and_get_reads_back(client, caller):
    me = caller()
    prefs = {
        "email_enabled": False,
        "min_severity": "error",
        "digest": "daily",
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
    }
    r = client.put(URL, json=prefs, headers=me.h)
    assert r.status_code == 200, r.get_json()
    assert client.get(URL, headers=me.h).get_json() == r.get_json()
    assert r.get_json()["in_app_enabled"] is True and r.get_json()["updated_at"]
    r = client.put(URL, json={"digest": "hourly"}, headers=me.h)  # PUT: omitted -> default
    assert r.get_json()["email_enabled"] is True and r.get_json()["quiet_hours"] is None


def test_preferences_are_per_user(client, caller):
    alice, bob = caller(email="alice@acme.test"), caller(email="bob@acme.test")
    client.put(URL, json={"digest": "daily"}, headers=alice.h)
    assert client.get(URL, headers=bob.h).get_json()["digest"] == "off"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"min_severity": "loud"}, "min_severity"),
        ({"digest": "weekly"}, "digest"),
        ({"email_enabled": "sometimes"}, "email_enabled"),
        ({"in_app_enabled": False}, "in_app_enabled"),
        (
            {"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}},
            "quiet_hours",
        ),
        ({"quiet_hours": {"start": "25:00", "end": "07:00", "timezone": "UTC"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "07:00", "end": "07:00", "timezone": "UTC"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "07:00"}}, "quiet_hours"),
        ({"nope": 1}, "nope"),
        ({"phone": "015112345678"}, "phone"),  # E.164 needs the + and the country code
        ({"phone": "+0123"}, "phone"),
    ],
)
def test_invalid_preferences_are_422(client, caller, body, field):
    error = assert_error(client.put(URL, json=body, headers=caller().h), 422)
    assert field in error["fields"]


def test_read_scope_cannot_put(client, caller):
    reader = caller(scopes=["alerts:read"])
    assert client.get(URL, headers=reader.h).status_code == 200
    assert_error(client.put(URL, json={}, headers=reader.h), 403, "forbidden")


def test_phone_is_kept_and_cleared(client, caller):
    me = caller()
    r = client.put(URL, json={"phone": "+4915112345678"}, headers=me.h)
    assert r.status_code == 200 and r.get_json()["phone"] == "+4915112345678"
    assert client.get(URL, headers=me.h).get_json()["phone"] == "+4915112345678"
    assert client.put(URL, json={}, headers=me.h).get_json()["phone"] is None
