"""SMS (SPEC §15) against a loopback Twilio stand-in that checks the form body and Basic auth:
one delivery per number, 201 delivered, 429 retried, 400 failed, the body cut to 320, the
auth token never in an error nor a log line, E.164 checked at config time, and a user's
``sms_enabled`` opting their number out."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import select

from alertworker.core.models import NotificationDelivery, NotificationPreference, User
from alertworker.delivery import deliveries
from alertworker.delivery.channels.base import PermanentError, RetryableError, get_channel
from alertworker.ingest.pipeline import Pipeline
from tests import test_api_support as support
from tests.receivers import make_message
from tests.standins import TWILIO_SID, TWILIO_TOKEN
from tests.test_api_support import API, assert_error

app, client, caller = support.app, support.client, support.caller
NUMBERS = ["+4915112345678", "+14155550100"]


@pytest.fixture
def sms_settings(settings, twilio):
    return settings.replace(sms_api_url=twilio.url(""), twilio_account_sid=TWILIO_SID,
                            twilio_auth_token=TWILIO_TOKEN, sms_from="+15005550006")  # fmt: skip


def test_one_sms_per_number_then_one_resolve_each(
    sms_settings, session_factory, redis_client, make_tenant, make_config, twilio
):
    tenant = make_tenant("acme")
    make_config(tenant, alert_type="quota_exhausted", severity="critical",
                channels=["in_app", "sms"],
                channel_config={"sms": {"numbers": NUMBERS}})  # fmt: skip
    pipeline = Pipeline(sms_settings, session_factory, redis_client)
    ctx = {"provider_name": "openai"}
    result = pipeline.process([{"tenant_id": "acme", "alert_type": "quota_exhausted",
                                "title": "openai quota gone", "message": "0 left",
                                "context": ctx}])  # fmt: skip
    ids = [p.delivery_id for p in result.deliveries]
    outcomes = deliveries.deliver(sms_settings, session_factory, redis_client, ids)
    assert [o.status for o in outcomes.values()] == ["delivered", "delivered"]
    closing = pipeline.process([{"event_id": str(uuid.uuid4()), "tenant_id": "acme",
                                 "alert_type": "quota_exhausted", "action": "resolve",
                                 "context": ctx}])  # fmt: skip
    deliveries.deliver(sms_settings, session_factory, redis_client,
                       [p.delivery_id for p in closing.deliveries])  # fmt: skip
    assert twilio.problems == []
    forms = twilio.forms()
    assert [(f["To"], f["Body"]) for f in forms] == [
        (NUMBERS[0], "[CRITICAL] openai quota gone: 0 left"),
        (NUMBERS[1], "[CRITICAL] openai quota gone: 0 left"),
        (NUMBERS[0], "[RESOLVED] openai quota gone"),
        (NUMBERS[1], "[RESOLVED] openai quota gone"),
    ]
    assert {f["From"] for f in forms} == {"+15005550006"}


@pytest.mark.parametrize(
    ("to", "error", "status"),
    [("+15005550429", RetryableError, 429), ("+15005550400", PermanentError, 400)],
)
def test_answers_are_classified_and_never_carry_the_token(
    sms_settings, redis_client, twilio, to, error, status, caplog
):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(error) as raised:
        get_channel("sms")(sms_settings, redis_client).send(make_message(recipient=to))
    assert raised.value.status_code == status and TWILIO_TOKEN not in str(raised.value)
    assert TWILIO_TOKEN not in caplog.text


def test_bad_auth_fails_and_a_long_body_is_cut_to_320(sms_settings, redis_client, twilio):
    channel = get_channel("sms")(sms_settings, redis_client)
    channel.send(make_message(recipient=NUMBERS[0], message="x" * 1000))
    body = twilio.forms()[0]["Body"]
    assert len(body) == 320 and body.endswith("…") and twilio.problems == []
    wrong = get_channel("sms")(sms_settings.replace(twilio_auth_token="wrong-token-x"),
                               redis_client)  # fmt: skip
    with pytest.raises(PermanentError) as raised:
        wrong.send(make_message(recipient=NUMBERS[0]))
    assert raised.value.status_code == 401 and "wrong-token-x" not in str(raised.value)
    unset = get_channel("sms")(sms_settings.replace(twilio_auth_token=""), redis_client)
    with pytest.raises(PermanentError, match="not configured"):
        unset.send(make_message(recipient=NUMBERS[0]))


def test_a_users_sms_enabled_false_opts_their_number_out(
    sms_settings, session_factory, redis_client, make_tenant, make_config, twilio
):
    tenant = make_tenant("acme")
    with session_factory() as s:
        user = User(tenant_id=tenant.id, email="oncall@acme.test")
        s.add(user)
        s.flush()
        s.add(NotificationPreference(user_id=user.id, phone=NUMBERS[1], sms_enabled=False))
        s.commit()
    make_config(tenant, alert_type="quota_exhausted", channels=["sms"],
                channel_config={"sms": {"numbers": NUMBERS}})  # fmt: skip
    result = Pipeline(sms_settings, session_factory, redis_client).process([
        {"tenant_id": "acme", "alert_type": "quota_exhausted", "title": "gone"}])  # fmt: skip
    ids = [p.delivery_id for p in result.deliveries]
    deliveries.deliver(sms_settings, session_factory, redis_client, ids)
    with session_factory() as s:
        rows = s.execute(select(NotificationDelivery.recipient, NotificationDelivery.status,
                                NotificationDelivery.last_error)
                         .order_by(NotificationDelivery.id)).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [(NUMBERS[0], "delivered", None),
                                        (NUMBERS[1], "skipped", "skipped: sms off")]  # fmt: skip
    assert [f["To"] for f in twilio.forms()] == [NUMBERS[0]]


def test_numbers_are_checked_at_config_time_and_preferences_take_a_phone(client, caller):
    me = caller()
    url = f"{API}/admin/alerts/configs"
    body = {"name": "sms", "alert_type": "quota_exhausted", "channels": ["sms"],
            "channel_config": {"sms": {"numbers": ["+4915112345678", "0151 1234"]}}}  # fmt: skip
    error = assert_error(client.post(url, json=body, headers=me.h), 422)
    assert "E.164" in str(error["fields"])
    body["channel_config"]["sms"]["numbers"] = [f"+1415555{i:04d}" for i in range(11)]
    assert_error(client.post(url, json=body, headers=me.h), 422)
    body["channel_config"]["sms"]["numbers"] = NUMBERS
    r = client.post(url, json=body, headers=me.h)
    assert r.status_code == 201 and r.get_json()["channel_config"]["sms"]["numbers"] == NUMBERS
    prefs = f"{API}/admin/alerts/preferences"
    assert_error(client.put(prefs, json={"phone": "12345"}, headers=me.h), 422)
    r = client.put(prefs, json={"phone": NUMBERS[0], "sms_enabled": False}, headers=me.h)
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["phone"], r.get_json()["sms_enabled"]) == (NUMBERS[0], False)
