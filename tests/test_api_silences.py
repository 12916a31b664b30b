"""/admin/alerts/silences and /admin/alerts/inhibit-rules (SPEC §16): CRUD, derived state,
expire, the 409 on an expired silence, 422s per field, tenant isolation, the OpenAPI paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alertworker.core.models import Silence, Tenant
from tests import test_api_support as support
from tests.test_api_support import API, assert_error

app, client, caller = support.app, support.client, support.caller
SIL = f"{API}/admin/alerts/silences"
RULES = f"{API}/admin/alerts/inhibit-rules"
OPENAI = [{"name": "context.provider_name", "op": "=", "value": "openai"}]
QUOTA_RULE = {
    "source": [{"name": "alert_type", "op": "=", "value": "quota_exhausted"}],
    "target": [{"name": "alert_type", "op": "=~",
                "value": "cost_limit_warning|high_error_rate|high_latency"}],
    "equal": ["context.provider_name"],
}  # fmt: skip


def iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def silence(**body):
    return {"matchers": OPENAI, "ends_at": iso(timedelta(hours=2)), "comment": "restart"} | body


def test_create_defaults_to_now_and_records_the_author(client, caller):
    me = caller()
    r = client.post(SIL, json=silence(), headers=me.h)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["state"] == "active" and body["created_by"] == me.user_id
    assert body["matchers"] == OPENAI and body["comment"] == "restart"
    starts = datetime.fromisoformat(body["starts_at"])
    assert abs((starts - datetime.now(UTC)).total_seconds()) < 5
    assert client.get(f"{SIL}/{body['id']}", headers=me.h).get_json() == body


def test_states_filter_put_and_expire(client, caller, db):
    me = caller()
    active = client.post(SIL, json=silence(), headers=me.h).get_json()
    pending = client.post(SIL, json=silence(starts_at=iso(timedelta(hours=1))), headers=me.h)
    pending = pending.get_json()
    assert pending["state"] == "pending"

    def ids(state):
        r = client.get(f"{SIL}?state={state}", headers=me.h)
        return [s["id"] for s in r.get_json()["items"]]

    assert ids("active") == [active["id"]] and ids("pending") == [pending["id"]]
    assert ids("expired") == []

    before = db.get(Tenant, me.tenant_id).config_version
    changed = client.put(f"{SIL}/{pending['id']}", json=silence(comment="longer", ends_at=iso(
        timedelta(days=3))), headers=me.h)  # fmt: skip
    assert changed.status_code == 200 and changed.get_json()["comment"] == "longer"
    assert changed.get_json()["state"] == "active"  # PUT without starts_at: from now
    db.expire_all()
    assert db.get(Tenant, me.tenant_id).config_version > before  # the workers reload

    expired = client.post(f"{SIL}/{active['id']}/expire", headers=me.h)
    assert expired.status_code == 200 and expired.get_json()["state"] == "expired"
    again = client.post(f"{SIL}/{active['id']}/expire", headers=me.h).get_json()
    assert again["ends_at"] == expired.get_json()["ends_at"]  # idempotent
    assert ids("expired") == [active["id"]]
    err = assert_error(client.put(f"{SIL}/{active['id']}", json=silence(), headers=me.h), 409)
    assert "expired" in err["message"]


def test_expiring_a_pending_silence_never_lets_it_start(client, caller):
    me = caller()
    later = client.post(SIL, json=silence(starts_at=iso(timedelta(hours=1))), headers=me.h)
    body = client.post(f"{SIL}/{later.get_json()['id']}/expire", headers=me.h).get_json()
    assert body["state"] == "expired" and body["starts_at"] <= body["ends_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (silence(matchers=[{"name": "context.x", "op": "=~", "value": "(unclosed"}]), "matchers"),
        (silence(matchers=[{"name": "context.x", "op": "=~", "value": "a" * 257}]), "matchers"),
        (silence(matchers=[{"name": "context.x", "op": "=~", "value": r"(a)\1"}]), "matchers"),
        (silence(matchers=[{"name": "region", "op": "=", "value": "eu"}]), "matchers"),
        (silence(matchers=[{"name": "context.", "op": "=", "value": "eu"}]), "matchers"),
        (
            silence(matchers=[{"name": "alert_type", "op": "==", "value": "high_latency"}]),
            "matchers",
        ),
        (silence(matchers=[{"name": "alert_type", "op": "=", "value": "nope"}]), "matchers"),
        (silence(matchers=[]), "matchers"),
        (silence(matchers=OPENAI * 21), "matchers"),
        (silence(ends_at=iso(-timedelta(minutes=1))), "ends_at"),
        (silence(starts_at=iso(timedelta(hours=3))), "ends_at"),  # end before start
        (silence(ends_at=iso(timedelta(days=91))), "ends_at"),  # parametrised at collection time
        (
            silence(starts_at=iso(-timedelta(hours=2)), ends_at=iso(-timedelta(hours=1))),
            "ends_at",
        ),  # already over
        (silence(ends_at="tomorrow"), "ends_at"),
        (silence(comment=""), "comment"),
        (silence(comment="x" * 501), "comment"),
        ({"matchers": OPENAI, "comment": "no end"}, "ends_at"),
        (silence(surprise=1), "surprise"),
    ],
)
def test_invalid_silences_are_422_per_field(client, caller, body, field, db):
    me = caller()
    err = assert_error(client.post(SIL, json=body, headers=me.h), 422)
    assert field in err["fields"], err
    assert db.query(Silence).count() == 0


def test_a_bad_regex_names_the_matcher_and_the_reason(client, caller):
    body = silence(matchers=OPENAI + [{"name": "alert_type", "op": "!~", "value": "a{2,1}"}])
    err = assert_error(client.post(SIL, json=body, headers=caller().h), 422)
    assert "regular expression" in str(err["fields"]["matchers"]["1"]["value"])


def test_inhibit_rules_crud_and_validation(client, caller):
    me = caller()
    r = client.post(RULES, json=QUOTA_RULE, headers=me.h)
    assert r.status_code == 201, r.get_json()
    rule = r.get_json()
    assert {k: rule[k] for k in QUOTA_RULE} == QUOTA_RULE
    assert client.get(RULES, headers=me.h).get_json()["items"] == [rule]
    changed = client.put(f"{RULES}/{rule['id']}", json=QUOTA_RULE | {"equal": []}, headers=me.h)
    assert changed.status_code == 200 and changed.get_json()["equal"] == []
    for bad in ({"equal": ["severity"]}, {"target": []}, {"source": [{"name": "x"}]}):
        err = assert_error(client.post(RULES, json=QUOTA_RULE | bad, headers=me.h), 422)
        assert set(err["fields"]) == set(bad)
    assert client.delete(f"{RULES}/{rule['id']}", headers=me.h).status_code == 204
    assert_error(client.get(f"{RULES}/{rule['id']}", headers=me.h), 404)


def test_another_tenants_silences_and_rules_are_404(client, caller, db):
    a, b = caller("acme", "a@acme.test"), caller("globex", "b@globex.test")
    sid = client.post(SIL, json=silence(), headers=a.h).get_json()["id"]
    rid = client.post(RULES, json=QUOTA_RULE, headers=a.h).get_json()["id"]
    for method, url, body in [
        ("get", f"{SIL}/{sid}", None), ("put", f"{SIL}/{sid}", silence()),
        ("post", f"{SIL}/{sid}/expire", None), ("get", f"{RULES}/{rid}", None),
        ("put", f"{RULES}/{rid}", QUOTA_RULE), ("delete", f"{RULES}/{rid}", None),
    ]:  # fmt: skip
        assert_error(getattr(client, method)(url, json=body, headers=b.h), 404)
    assert client.get(SIL, headers=b.h).get_json()["items"] == []
    assert client.get(RULES, headers=b.h).get_json()["items"] == []
    assert client.get(f"{SIL}/{sid}", headers=a.h).get_json()["state"] == "active"
    assert client.get(f"{RULES}/{rid}", headers=a.h).status_code == 200


def test_scopes(client, caller):
    reader = caller(scopes=["alerts:read"])
    assert_error(client.post(SIL, json=silence(), headers=reader.h), 403)
    assert_error(client.post(RULES, json=QUOTA_RULE, headers=reader.h), 403)
    assert client.get(SIL, headers=reader.h).status_code == 200


def test_the_openapi_document_has_the_endpoints(client):
    doc = client.get("/openapi.json").get_json()
    paths = doc["paths"]
    assert set(paths[f"{SIL}"]) == {"get", "post"}
    assert set(paths[f"{SIL}/{{silence_id}}"]) == {"get", "put"}
    assert set(paths[f"{SIL}/{{silence_id}}/expire"]) == {"post"}
    assert set(paths[f"{RULES}/{{rule_id}}"]) == {"get", "put", "delete"}
    assert "Silence" in doc["components"]["schemas"]
