"""SPEC §14 over the API: users, on-call schedules (CRUD, oncall, shifts), escalation policies
(CRUD, validation, masking, outbound safety), a config's escalation_policy_id; 422s, 409s and
tenant isolation."""

from __future__ import annotations

import pytest

from tests import test_api_support as support
from tests.test_api_support import API, assert_error

app, client, caller = support.app, support.client, support.caller
USERS = f"{API}/admin/alerts/users"
SCHED = f"{API}/admin/alerts/schedules"
POL = f"{API}/admin/alerts/escalation-policies"
CFG = f"{API}/admin/alerts/configs"
HOOK_SECRET = "hmac-secret-value-1"
PD_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


@pytest.fixture
def team(client, caller):
    """Tenant acme's admin and three more users; returns (caller, [user ids])."""
    me = caller()
    ids = []
    for name in ("ann", "bob", "cy"):
        r = client.post(USERS, json={"email": f"{name}@acme.test"}, headers=me.h)
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    return me, ids


def weekly(ids, **extra):
    return {
        "name": "Primary",
        "timezone": "Europe/Berlin",
        "layers": [{"users": ids, "rotation": "weekly", "start": "2026-03-23T09:00:00+01:00"}],
    } | extra


def test_users_list_and_add(client, team):
    me, ids = team
    body = client.get(USERS, headers=me.h).get_json()
    assert [u["email"] for u in body["items"]] == [
        "admin@acme.test",
        "ann@acme.test",
        "bob@acme.test",
        "cy@acme.test",
    ]
    assert [u["id"] for u in body["items"]][1:] == ids
    assert_error(client.post(USERS, json={"email": "Ann@acme.test"}, headers=me.h), 409)
    assert (
        "email"
        in assert_error(client.post(USERS, json={"email": "x"}, headers=me.h), 422)["fields"]
    )


def test_schedule_crud_oncall_and_shifts(client, team):
    me, (ann, bob, cy) = team
    r = client.post(SCHED, json=weekly([ann, bob, cy]), headers=me.h)
    assert r.status_code == 201, r.get_json()
    sid = r.get_json()["id"]
    assert client.get(f"{SCHED}/{sid}", headers=me.h).get_json()["layers"][0]["users"] == [
        ann,
        bob,
        cy,
    ]
    at = client.get(f"{SCHED}/{sid}/oncall?at=2026-03-31T12:00:00Z", headers=me.h).get_json()
    assert at == {
        "user_id": bob,
        "email": "bob@acme.test",
        "layer": 0,
        "override": False,
        "until": "2026-04-06T08:00:00+00:00",
    }
    r = client.get(
        f"{SCHED}/{sid}/oncall?from=2026-03-23T08:00:00Z&to=2026-04-13T08:00:00Z", headers=me.h
    )
    shifts = r.get_json()["shifts"]
    assert [(s["user_id"], s["start"]) for s in shifts] == [
        (ann, "2026-03-23T08:00:00+00:00"),
        (bob, "2026-03-30T08:00:00+00:00"),
        (cy, "2026-04-06T08:00:00+00:00"),
    ]
    override = {"user_id": cy, "start": "2026-03-31T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
    r = client.put(f"{SCHED}/{sid}", json=weekly([ann, bob], overrides=[override]), headers=me.h)
    assert r.status_code == 200, r.get_json()
    at = client.get(f"{SCHED}/{sid}/oncall?at=2026-03-31T12:00:00Z", headers=me.h).get_json()
    assert (at["user_id"], at["override"], at["layer"]) == (cy, True, None)
    assert client.get(SCHED, headers=me.h).get_json()["items"][0]["id"] == sid
    assert client.delete(f"{SCHED}/{sid}", headers=me.h).status_code == 204
    assert_error(client.get(f"{SCHED}/{sid}", headers=me.h), 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"layers": []}, "layers"),
        ({"layers": [{"users": [1], "rotation": "weekly", "start": "2026-01-01T00:00:00Z"}] * 6},
         "layers"),
        ({"layers": [{"users": [], "rotation": "daily", "start": "2026-01-01T00:00:00Z"}]},
         "layers"),
        ({"layers": [{"users": [1], "rotation": "monthly", "start": "2026-01-01T00:00:00Z"}]},
         "layers"),
        ({"layers": [{"users": [1], "rotation": {"hours": 721}, "start": "2026-01-01T00:00Z"}]},
         "layers"),
        ({"layers": [{"users": [1], "rotation": "daily", "start": "2026-01-01T00:00:00"}]},
         "layers"),  # no offset
        ({"layers": [{"users": [1], "rotation": "daily", "start": "2026-01-01T00:00:00Z",
                      "restrictions": [{"days": ["fri", "caturday"], "start": "22:00",
                                        "end": "06:00"}]}]}, "layers"),
        ({"layers": [{"users": [1], "rotation": "daily", "start": "2026-01-01T00:00:00Z",
                      "restrictions": [{"days": ["fri"], "start": "24:00", "end": "06:00"}]}]},
         "layers"),
        ({"overrides": [{"user_id": 1, "start": "2026-01-02T00:00:00Z",
                         "end": "2026-01-01T00:00:00Z"}]}, "overrides"),
        ({"rota": 1}, "rota"),
    ],
)  # fmt: skip
def test_invalid_schedules_are_422(client, team, change, field):
    me, ids = team
    body = weekly(ids) | change
    assert field in assert_error(client.post(SCHED, json=body, headers=me.h), 422)["fields"]


def test_schedule_users_must_be_the_tenants(client, team, caller):
    me, ids = team
    other = caller("globex", "x@globex.test")
    body = weekly([ids[0], other.user_id])
    error = assert_error(client.post(SCHED, json=body, headers=me.h), 422)
    assert error["fields"] == {
        "layers": {"0": {"users": [f"not users of this tenant: [{other.user_id}]"]}}
    }
    body = weekly(
        ids,
        overrides=[
            {
                "user_id": other.user_id,
                "start": "2026-01-01T00:00:00Z",
                "end": "2026-01-02T00:00:00Z",
            }
        ],
    )
    assert "overrides" in assert_error(client.post(SCHED, json=body, headers=me.h), 422)["fields"]


def test_oncall_queries(client, team):
    me, ids = team
    sid = client.post(SCHED, json=weekly(ids), headers=me.h).get_json()["id"]
    now = client.get(f"{SCHED}/{sid}/oncall", headers=me.h)  # default: now
    assert now.status_code == 200 and now.get_json()["user_id"] in ids
    for bad in (
        "from=2026-01-01T00:00:00Z",
        "from=2026-01-01T00:00:00Z&to=2026-02-02T00:00:00Z",
        "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "at=yesterday",
        "at=2026-01-01T00:00:00",
    ):
        assert_error(client.get(f"{SCHED}/{sid}/oncall?{bad}", headers=me.h), 422)
    before = client.get(f"{SCHED}/{sid}/oncall?at=2026-03-01T00:00:00Z", headers=me.h).get_json()
    assert before == {
        "user_id": None,
        "email": None,
        "layer": None,
        "override": False,
        "until": "2026-03-23T08:00:00+00:00",
    }


def policy(ids, sid, **extra):
    return {"name": "Critical", "repeat": 1, "steps": [
        {"delay_minutes": 0, "targets": [{"type": "schedule", "schedule_id": sid}]},
        {"delay_minutes": 15, "targets": [
            {"type": "user", "user_id": ids[2]}, {"type": "email", "address": "boss@acme.test"},
            {"type": "slack", "webhook_url": support.SLACK_URL, "channel": "#oncall"},
            {"type": "webhook", "url": "http://127.0.0.1:9/hook",
             "headers": {"X-Key": "hdr-secret-1"}, "secret": HOOK_SECRET},
            {"type": "pagerduty", "routing_key": PD_KEY}, {"type": "sms", "number": "+15005550006"},
        ]},
    ]} | extra  # fmt: skip


def test_policy_crud_masks_secrets_and_keeps_them(client, team, db):
    me, ids = team
    sid = client.post(SCHED, json=weekly(ids), headers=me.h).get_json()["id"]
    r = client.post(POL, json=policy(ids, sid), headers=me.h)
    assert r.status_code == 201, r.get_json()
    shown = r.get_json()
    text = r.get_data(as_text=True)
    for secret in ("slacksecret123", HOOK_SECRET, "hdr-secret-1", PD_KEY):
        assert secret not in text
    targets = shown["steps"][1]["targets"]
    assert targets[2]["webhook_url"].endswith("****") and targets[3]["secret"] == "****"
    assert targets[3]["headers"] == {"X-Key": "****"} and targets[4]["routing_key"] == "****"
    assert client.get(f"{POL}/{shown['id']}", headers=me.h).get_json() == shown
    shown["name"] = "Critical v2"
    body = {k: shown[k] for k in ("name", "steps", "repeat")}
    r = client.put(f"{POL}/{shown['id']}", json=body, headers=me.h)  # masked values sent back
    assert r.status_code == 200, r.get_json()
    from alertworker.core.models import EscalationPolicy

    stored = db.get(EscalationPolicy, shown["id"]).steps[1]["targets"]
    assert stored[2]["webhook_url"] == support.SLACK_URL and stored[3]["secret"] == HOOK_SECRET
    assert stored[3]["headers"] == {"X-Key": "hdr-secret-1"} and stored[4]["routing_key"] == PD_KEY
    assert [p["name"] for p in client.get(POL, headers=me.h).get_json()["items"]] == ["Critical v2"]
    body["steps"] = [{"delay_minutes": 0, "targets": [targets[2]]}]  # masked at another place
    assert_error(client.put(f"{POL}/{shown['id']}", json=body, headers=me.h), 422)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"delay_minutes": 0, "targets": [{"type": "email", "address": "a@b.test"}]}]
          * 11}, "steps"),
        ({"steps": [{"delay_minutes": 1441, "targets": [{"type": "email", "address": "a@b.c"}]}]},
         "steps"),
        ({"steps": [{"delay_minutes": 0, "targets": []}]}, "steps"),
        ({"steps": [{"delay_minutes": 0, "targets": [{"type": "pager"}]}]}, "steps"),
        ({"steps": [{"delay_minutes": 0, "targets": [{"type": "email", "address": "nope"}]}]},
         "steps"),
        ({"steps": [{"delay_minutes": 0, "targets": [{"type": "sms", "number": "12345"}]}]},
         "steps"),
        ({"steps": [{"delay_minutes": 0, "targets": [{"type": "pagerduty", "routing_key": "x"}]}]},
         "steps"),
        ({"steps": [{"delay_minutes": 0, "targets": [
            {"type": "webhook", "url": "https://10.0.0.1/hook"}]}]}, "steps"),  # SSRF guard
        ({"steps": [{"delay_minutes": 0, "targets": [
            {"type": "webhook", "url": "https://hooks.example.com/", "headers": {"Host": "x"}}]}]},
         "steps"),
        ({"steps": [{"delay_minutes": 0, "targets": [{"type": "user", "user_id": 999999}]}]},
         "steps"),
        ({"steps": [{"delay_minutes": 0, "targets": [{"type": "schedule", "schedule_id": 999}]}]},
         "steps"),
        ({"repeat": 6}, "repeat"),
        ({"name": ""}, "name"),
    ],
)  # fmt: skip
def test_invalid_policies_are_422(client, team, change, field):
    me, ids = team
    sid = client.post(SCHED, json=weekly(ids), headers=me.h).get_json()["id"]
    body = policy(ids, sid) | change
    assert field in assert_error(client.post(POL, json=body, headers=me.h), 422)["fields"]


def test_config_policy_id_and_what_is_in_use(client, team, caller):
    me, ids = team
    sid = client.post(SCHED, json=weekly(ids), headers=me.h).get_json()["id"]
    pid = client.post(POL, json=policy(ids, sid), headers=me.h).get_json()["id"]
    config = {"name": "Quota", "alert_type": "quota_exhausted", "channels": ["in_app"]}
    r = client.post(CFG, json=config | {"escalation_policy_id": pid}, headers=me.h)
    assert r.status_code == 201 and r.get_json()["escalation_policy_id"] == pid
    cid = r.get_json()["id"]
    assert_error(client.delete(f"{POL}/{pid}", headers=me.h), 409)
    assert_error(client.delete(f"{SCHED}/{sid}", headers=me.h), 409)  # the policy targets it
    other = caller("globex", "x@globex.test")
    theirs = client.post(CFG, json=config | {"escalation_policy_id": pid}, headers=other.h)
    assert "escalation_policy_id" in assert_error(theirs, 422)["fields"]
    r = client.patch(f"{CFG}/{cid}", json={"escalation_policy_id": None}, headers=me.h)
    assert r.status_code == 200 and r.get_json()["escalation_policy_id"] is None
    assert client.delete(f"{POL}/{pid}", headers=me.h).status_code == 204
    assert client.delete(f"{SCHED}/{sid}", headers=me.h).status_code == 204


def test_tenant_isolation(client, team, caller):
    me, ids = team
    sid = client.post(SCHED, json=weekly(ids), headers=me.h).get_json()["id"]
    pid = client.post(POL, json=policy(ids, sid), headers=me.h).get_json()["id"]
    other = caller("globex", "x@globex.test")
    assert [u["email"] for u in client.get(USERS, headers=other.h).get_json()["items"]] == [
        "x@globex.test"
    ]
    assert client.get(SCHED, headers=other.h).get_json() == {"items": []}
    assert client.get(POL, headers=other.h).get_json() == {"items": []}
    for method, url, body in [
        ("get", f"{SCHED}/{sid}", None),
        ("put", f"{SCHED}/{sid}", weekly([other.user_id])),
        ("delete", f"{SCHED}/{sid}", None),
        ("get", f"{SCHED}/{sid}/oncall", None),
        ("get", f"{POL}/{pid}", None),
        ("delete", f"{POL}/{pid}", None),
        (
            "put",
            f"{POL}/{pid}",
            {
                "name": "x",
                "steps": [
                    {"delay_minutes": 0, "targets": [{"type": "email", "address": "a@b.test"}]}
                ],
            },
        ),
    ]:
        assert_error(getattr(client, method)(url, json=body, headers=other.h), 404)
    assert client.get(f"{POL}/{pid}", headers=me.h).get_json()["name"] == "Critical"
    assert client.get(f"{SCHED}/{sid}", headers=me.h).status_code == 200
    # and the other tenant cannot put acme's users or schedules into its own policy
    mine = {
        "name": "x",
        "steps": [
            {
                "delay_minutes": 0,
                "targets": [
                    {"type": "user", "user_id": ids[0]},
                    {"type": "schedule", "schedule_id": sid},
                ],
            }
        ],
    }
    error = assert_error(client.post(POL, json=mine, headers=other.h), 422)
    assert set(error["fields"]["steps"]["0"]["targets"]) == {"0", "1"}


def test_read_scope_cannot_write(client, team, caller):
    reader = caller(email="reader@acme.test", scopes=["alerts:read"])
    assert client.get(USERS, headers=reader.h).status_code == 200
    assert_error(client.post(USERS, json={"email": "z@acme.test"}, headers=reader.h), 403)
    assert_error(client.post(SCHED, json={}, headers=reader.h), 403)
    assert_error(client.post(POL, json={}, headers=reader.h), 403)


def test_notification_detail_shows_the_escalation(
    client, team, settings, session_factory, redis_client
):
    from alertworker.ingest.pipeline import Pipeline

    me, ids = team
    body = {"name": "p", "steps": [{"delay_minutes": 10, "targets": [
        {"type": "user", "user_id": ids[0]}]}]}  # fmt: skip
    pid = client.post(POL, json=body, headers=me.h).get_json()["id"]
    config = {"name": "Quota", "alert_type": "quota_exhausted", "channels": ["in_app"],
              "escalation_policy_id": pid}  # fmt: skip
    assert client.post(CFG, json=config, headers=me.h).status_code == 201
    Pipeline(settings, session_factory, redis_client).process(
        [{"tenant_id": "acme", "alert_type": "quota_exhausted", "title": "quota gone"}]
    )
    NOTE = f"{API}/admin/alerts/notifications"
    [item] = client.get(NOTE, headers=me.h).get_json()["items"]
    detail = client.get(f"{NOTE}/{item['id']}", headers=me.h).get_json()
    esc = detail["escalation"]
    assert (esc["policy_id"], esc["step"], esc["state"]) == (pid, 0, "running")
    assert esc["next_at"] > detail["triggered_at"]
    assert client.post(f"{NOTE}/{item['id']}/acknowledge", headers=me.h).status_code == 200
    esc = client.get(f"{NOTE}/{item['id']}", headers=me.h).get_json()["escalation"]
    assert esc == {"policy_id": pid, "step": 0, "next_at": None, "state": "stopped"}


def test_every_create_answers_201_with_the_location_of_the_new_resource(client, team, caller):
    """users, schedules, policies, silences, inhibit rules (configs: test_api_configs)."""
    from tests.test_api_silences import QUOTA_RULE, RULES, SIL, silence

    me, ids = team
    user = {"email": "dee@acme.test"}
    schedule = weekly(ids)
    policy = {"name": "p", "steps": [{"delay_minutes": 0, "targets": [
        {"type": "email", "address": "ops@acme.test"}]}]}  # fmt: skip
    for url, body in [(USERS, user), (SCHED, schedule), (POL, policy), (SIL, silence()),
                      (RULES, QUOTA_RULE)]:  # fmt: skip
        r = client.post(url, json=body, headers=me.h)
        assert r.status_code == 201, (url, r.get_json())
        assert r.headers["Location"] == f"{url}/{r.get_json()['id']}"
        shown = client.get(r.headers["Location"], headers=me.h)
        assert shown.status_code == 200 and shown.get_json() == r.get_json(), url
    other = caller("globex", "b@globex.test")
    assert_error(client.get(f"{USERS}/{ids[0]}", headers=other.h), 404)
