"""Every outbound string refuses control characters, anywhere (a single trailing LF too), and
custom headers may not pass for one alertworker sets, by case or ``_``/``-`` (SPEC §4, §7):
422 naming the field when a config is saved, a permanent failure with nothing sent when an
older row carries one."""

from __future__ import annotations

import copy

import pytest

from alertworker.delivery.channels.base import PermanentError, get_channel
from tests import test_api_support as support
from tests.receivers import make_message

app, client, caller = support.app, support.client, support.caller
CFG = f"{support.API}/admin/alerts/configs"
GOOD = {
    "email": {"recipients": ["ops@acme.test"]},
    "slack": {"webhook_url": "http://127.0.0.1:9/services/T0/B0/abc", "channel": "#ops"},
    "webhook": {"url": "http://127.0.0.1:9/hook", "headers": {"X-Team": "ops"}, "secret": "s3"},
}
CONTROL = ["\n", "\r", "\t", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\u2028"]
RESERVED = ["Idempotency_Key", "idempotency-key", "IDEMPOTENCY_KEY", "X_Alertworker_Signature",
            "x-alertworker-timestamp", "Content_Type", "content_length", "Host",
            "Transfer_Encoding", "X_ALERTWORKER_ANYTHING"]  # fmt: skip


def _config(channel: str, key: str, value) -> dict:
    channel_config = copy.deepcopy(GOOD)
    channel_config[channel][key] = value
    return {"name": "edge", "alert_type": "high_latency", "channels": ["email", "slack", "webhook"],
            "channel_config": channel_config}  # fmt: skip


CASES = (
    [("webhook", "headers", {"X-Team": f"ops{c}"}) for c in CONTROL]
    + [("webhook", "headers", {"X-Team": f"o{c}ps"}) for c in CONTROL]
    + [("webhook", "headers", {f"X-Team{c}": "ops"}) for c in ("\n", "\t", "\x01")]
    + [("webhook", "headers", {name: "x"}) for name in RESERVED]
    + [("slack", "channel", f"#ops{c}") for c in CONTROL]
    + [("slack", "webhook_url", f"http://127.0.0.1:9/services/T0/B0/abc{c}") for c in CONTROL]
    + [("webhook", "url", f"http://127.0.0.1:9/ho{c}ok") for c in CONTROL]
    + [("webhook", "url", "http://127.0.0.1:9/hook\n")]
    + [("webhook", "secret", "s3\n")]
    + [("email", "recipients", [f"ops@acme.test{c}"]) for c in ("\n", "\t", "\x01")]
)


@pytest.mark.parametrize("channel, key, value", CASES)
def test_config_refuses_control_characters_and_look_alike_headers(client, caller, channel, key,
                                                                  value):  # fmt: skip
    r = client.post(CFG, json=_config(channel, key, value), headers=caller().h)
    assert r.status_code == 422, r.get_json()
    fields = r.get_json()["error"]["fields"]
    if "channel_config" in fields:
        assert key in fields["channel_config"][channel]
    else:  # NUL is refused before the schema, naming the field by its dotted path
        assert any(f.startswith(f"channel_config.{channel}.{key}") for f in fields), fields


def test_a_clean_config_still_passes(client, caller):
    r = client.post(CFG, json=_config("webhook", "headers", {"X-Team": "ops team"}),
                    headers=caller().h)  # fmt: skip
    assert r.status_code == 201, r.get_json()


@pytest.mark.parametrize(
    "kind, channel_config",
    [
        ("webhook", {"headers": {"Idempotency_Key": "forged"}}),
        ("webhook", {"headers": {"x-alertworker-signature": "v1=forged"}}),
        ("webhook", {"headers": {"X-Team": "a\x01b"}}),
        ("webhook", {"headers": {"X-Team": "ab\t"}}),
        ("webhook", {"url_suffix": "\n"}),
        ("slack", {"channel": "#ops\n"}),
        ("slack", {"url_suffix": "\n"}),
    ],
)
def test_send_time_refuses_what_config_time_refuses(http_receiver, settings, kind, channel_config):
    suffix = channel_config.pop("url_suffix", "")
    key = "url" if kind == "webhook" else "webhook_url"
    channel_config[key] = http_receiver.url("/hook") + suffix
    channel = get_channel(kind)(settings, None)
    with pytest.raises(PermanentError):
        channel.send(make_message(channel_config=channel_config))
    assert http_receiver.requests == []


def test_send_time_refuses_a_recipient_with_a_control_character(smtp_settings, smtp_receiver):
    channel = get_channel("email")(smtp_settings, None)
    with pytest.raises(PermanentError):
        channel.send(make_message(channel_config={"recipients": ["ops@acme.test\x01"]}))
    assert smtp_receiver.messages == []
