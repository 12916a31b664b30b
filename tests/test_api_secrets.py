"""Secrets are write-only: never in a response body or a log line; masks round-trip on PUT."""

from __future__ import annotations

import logging

from sqlalchemy import select

from alertworker.core.models import AlertConfig, NotificationDelivery
from tests import test_api_support as support
from tests.test_api_support import API, SLACK_URL, add_notification, slack_config

app, client, caller = support.app, support.client, support.caller
CFG = f"{API}/admin/alerts/configs"
HEADER_SECRET = "Bearer hdr-secret-4f9a"
SIGNING_SECRET = "sign-secret-77c1"
SECRETS = (
    "slacksecret123",
    "/services/T000/B000",
    HEADER_SECRET,
    "hdr-secret-4f9a",
    SIGNING_SECRET,
)


def _all_channels() -> dict:
    return slack_config(
        channels=["in_app", "slack", "webhook"],
        channel_config={
            "slack": {"webhook_url": SLACK_URL},
            "webhook": {
                "url": "http://127.0.0.1:9/hook",
                "headers": {"Authorization": HEADER_SECRET, "X-Team": "ops"},
                "secret": SIGNING_SECRET,
            },
        },
    )


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret!r} leaked"


def test_secrets_never_in_responses_or_logs(client, caller, caplog, session_factory):
    caplog.set_level(logging.DEBUG)
    me = caller()
    bodies = []
    r = client.post(CFG, json=_all_channels(), headers=me.h)
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    item = f"{CFG}/{created['id']}"
    shown = created["channel_config"]
    assert shown["slack"]["webhook_url"] == "http://127.0.0.1/…****"
    assert shown["webhook"]["headers"] == {"Authorization": "****", "X-Team": "****"}
    assert shown["webhook"]["secret"] == "****"
    assert shown["webhook"]["url"] == "http://127.0.0.1:9/hook"  # not a secret
    resend = {k: v for k, v in created.items() if k not in ("id", "created_at", "updated_at")}
    bodies += [
        r,
        client.get(item, headers=me.h),
        client.get(CFG, headers=me.h),
        client.put(item, json=resend, headers=me.h),
        client.patch(item, json={"channel_config": shown, "name": "x"}, headers=me.h),
        client.patch(
            item,
            json={
                "channel_config": dict(
                    shown, webhook=dict(shown["webhook"], url="https://10.1.2.3/x")
                )
            },
            headers=me.h,
        ),
        client.post(CFG, json=dict(_all_channels(), cooldown_minutes=-1), headers=me.h),
    ]
    nid = add_notification(
        session_factory, me.tenant_id, config_id=created["id"], deliveries=("slack",)
    )
    with session_factory() as s:  # a channel that quoted its URL in an error, say
        s.execute(
            NotificationDelivery.__table__.update().values(
                last_error=f"POST {SLACK_URL} failed; header {HEADER_SECRET}"
            )
        )
        s.commit()
    bodies.append(client.get(f"{API}/admin/alerts/notifications/{nid}", headers=me.h))
    assert [b.status_code for b in bodies] == [201, 200, 200, 200, 200, 422, 422, 200]
    for body in bodies:
        _clean(body.get_data(as_text=True))
    _clean("\n".join(r.getMessage() for r in caplog.records))
    assert me.token not in caplog.text


def test_masked_values_keep_the_stored_secrets(client, caller, db):
    me = caller()
    created = client.post(CFG, json=_all_channels(), headers=me.h).get_json()
    shown = created["channel_config"]
    shown["webhook"]["headers"]["X-New"] = "fresh"
    r = client.patch(f"{CFG}/{created['id']}", json={"channel_config": shown}, headers=me.h)
    assert r.status_code == 200, r.get_json()
    stored = db.scalar(select(AlertConfig)).channel_config
    assert stored["slack"]["webhook_url"] == SLACK_URL
    assert stored["webhook"]["headers"] == {
        "Authorization": HEADER_SECRET,
        "X-Team": "ops",
        "X-New": "fresh",
    }
    assert stored["webhook"]["secret"] == SIGNING_SECRET


def test_a_mask_without_a_stored_secret_is_422(client, caller):
    me = caller()
    body = _all_channels()
    body["channel_config"]["slack"]["webhook_url"] = "https://hooks.slack.com/…****"
    body["channel_config"]["webhook"]["secret"] = "****"
    r = client.post(CFG, json=body, headers=me.h)
    assert r.status_code == 422
    fields = r.get_json()["error"]["fields"]["channel_config"]
    assert "webhook_url" in fields["slack"] and "secret" in fields["webhook"]


def test_reserved_headers_are_refused(client, caller):
    body = _all_channels()
    body["channel_config"]["webhook"]["headers"] = {"X-Alertworker-Signature": "v1=forged"}
    assert client.post(CFG, json=body, headers=caller().h).status_code == 422
