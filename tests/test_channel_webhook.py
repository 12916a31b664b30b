"""Webhook channel against a real HTTP receiver: payload, headers, signature, classification."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from alertworker.delivery.channels.base import PermanentError, RetryableError, get_channel
from tests.receivers import Reply, make_message

SECRET = "whsec-topsecret-value"
EXPECTED_KEYS = {
    "delivery_id", "notification_id", "event_id", "tenant_id", "alert_type", "severity",
    "title", "message", "context", "occurred_at", "triggered_at", "occurrence_count",
    "suppressed_since_last", "is_test", "status", "resolved_at",
}  # fmt: skip


def _readme_recipe():
    """The receiver recipe exactly as the README shows it ("Verifying webhook signatures")."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Verifying webhook signatures", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - our own documentation
    return namespace["verify_alertworker_signature"]


verify_alertworker_signature = _readme_recipe()


@pytest.fixture
def send(settings, redis_client):
    channel = get_channel("webhook")(settings, redis_client)

    def _send(url, **config):
        channel.send(make_message(channel_config={"url": url, **config}))

    return _send


def test_a_resolve_delivery_says_resolved_and_when(http_receiver, settings, redis_client):
    resolved_at = datetime(2025, 1, 2, 4, 0, 0, tzinfo=UTC)
    message = make_message(channel_config={"url": http_receiver.url()}, kind="resolve",
                           resolved_at=resolved_at)  # fmt: skip
    get_channel("webhook")(settings, redis_client).send(message)
    doc = json.loads(http_receiver.requests[0].body)
    assert set(doc) == EXPECTED_KEYS
    assert (doc["status"], doc["resolved_at"]) == ("resolved", "2025-01-02T04:00:00Z")


def http_date(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


def test_payload_headers_and_signature(http_receiver, send):
    send(
        http_receiver.url("/in/alerts"),
        headers={"Authorization": "Bearer abc", "X-Team": "sre"},  # reserved: test_outbound_strings
        secret=SECRET,
    )
    [req] = http_receiver.requests
    doc = json.loads(req.body)
    assert set(doc) == EXPECTED_KEYS
    assert doc["delivery_id"] == 7001 and doc["notification_id"] == 42
    assert doc["occurred_at"] == "2025-01-02T03:04:05Z"
    assert doc["context"] == {"provider_name": "openai", "consecutive_failures": 5}
    assert doc["is_test"] is False
    assert (doc["status"], doc["resolved_at"]) == ("firing", None)
    assert req.path == "/in/alerts"
    assert req.headers["Authorization"] == "Bearer abc"
    assert req.headers["X-Team"] == "sre"
    assert req.headers.get_all("Content-Type") == ["application/json"]
    assert req.headers.get_all("Host") == [f"127.0.0.1:{http_receiver.port}"]
    assert req.headers.get_all("Content-Length") == [str(len(req.body))]
    assert req.headers["Idempotency-Key"] == "7001"
    timestamp = req.headers["X-Alertworker-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 10
    signature = req.headers["X-Alertworker-Signature"]
    assert signature.startswith("v1=")
    assert verify_alertworker_signature(SECRET, timestamp, req.body, signature)
    assert not verify_alertworker_signature("wrong", timestamp, req.body, signature)
    assert not verify_alertworker_signature(SECRET, timestamp, req.body + b" ", signature)


def test_no_signature_without_secret(http_receiver, send):
    send(http_receiver.url())
    [req] = http_receiver.requests
    assert "X-Alertworker-Signature" not in req.headers
    assert req.headers["X-Alertworker-Timestamp"]


@pytest.mark.parametrize(
    ("reply", "error", "status", "retry_after"),
    [
        (Reply(200, "ok"), None, None, None),
        (Reply(202, ""), None, None, None),
        (Reply(204, ""), None, None, None),
        (Reply(500, "boom"), RetryableError, 500, None),
        (Reply(502, ""), RetryableError, 502, None),
        (Reply(503, "busy", {"Retry-After": "30"}), RetryableError, 503, 30),
        (Reply(429, "slow down", {"Retry-After": "12"}), RetryableError, 429, 12),
        (Reply(429, "", {"Retry-After": "DATE+60"}), RetryableError, 429, 60),
        (Reply(408, ""), RetryableError, 408, None),
        (Reply(400, "bad"), PermanentError, 400, None),
        (Reply(401, ""), PermanentError, 401, None),
        (Reply(404, "nope"), PermanentError, 404, None),
        (Reply(410, "gone"), PermanentError, 410, None),
        (Reply(302, "", redirect="http://169.254.169.254/"), PermanentError, 302, None),
        (Reply(301, "", redirect="https://example.com/"), PermanentError, 301, None),
    ],
)
def test_response_classification(http_receiver, send, reply, error, status, retry_after):
    if reply.headers.get("Retry-After") == "DATE+60":
        reply.headers["Retry-After"] = http_date(60)
    http_receiver.default = reply
    if error is None:
        send(http_receiver.url())
        return
    with pytest.raises(error) as info:
        send(http_receiver.url())
    assert info.value.status_code == status
    assert len(http_receiver.requests) == 1  # redirects are not followed
    if error is RetryableError:
        assert (
            info.value.retry_after == pytest.approx(retry_after, abs=5)
            if retry_after
            else (info.value.retry_after is None)
        )


def test_timeout_is_retryable(http_receiver, settings, redis_client):
    http_receiver.reply(200, delay=2)
    channel = get_channel("webhook")(settings.replace(http_timeout_seconds=0.5), redis_client)
    started = time.monotonic()
    with pytest.raises(RetryableError, match="timed out"):
        channel.send(make_message(channel_config={"url": http_receiver.url()}))
    assert time.monotonic() - started < 1.5


def test_connection_refused_is_retryable(closed_port, send):
    with pytest.raises(RetryableError) as info:
        send(f"http://127.0.0.1:{closed_port}/hook")
    assert info.value.status_code is None


def test_private_url_refused_at_send_time(http_receiver, settings, redis_client):
    channel = get_channel("webhook")(settings.replace(outbound_allowlist=()), redis_client)
    with pytest.raises(PermanentError, match="refused"):
        channel.send(make_message(channel_config={"url": http_receiver.url(host="localhost")}))
    assert http_receiver.requests == []


@pytest.mark.parametrize("config", [{}, {"url": ""}, {"url": "https://x.test", "headers": "no"}])
def test_invalid_config_is_permanent(send, settings, redis_client, config):
    channel = get_channel("webhook")(settings, redis_client)
    with pytest.raises(PermanentError):
        channel.send(make_message(channel_config=config))


@pytest.mark.parametrize("reply", [Reply(500, "server error"), Reply(200, delay=2), None])
def test_errors_never_contain_secrets(http_receiver, closed_port, settings, redis_client, reply):
    channel = get_channel("webhook")(settings.replace(http_timeout_seconds=0.5), redis_client)
    if reply is None:
        url = f"http://127.0.0.1:{closed_port}/hooks/PATHSECRET"
    else:
        http_receiver.default = reply
        url = http_receiver.url("/hooks/PATHSECRET?token=QUERYSECRET")
    config = {"url": url, "headers": {"Authorization": "HEADERSECRET"}, "secret": SECRET}
    with pytest.raises(RetryableError) as info:
        channel.send(make_message(channel_config=config))
    text = str(info.value)
    assert "127.0.0.1" in text
    for secret in ("PATHSECRET", "QUERYSECRET", "HEADERSECRET", SECRET):
        assert secret not in text
