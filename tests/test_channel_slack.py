"""Slack channel against a real HTTP receiver and real Redis: payload, classification, pacing."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from alertworker.delivery.channels.base import PermanentError, RetryableError, get_channel
from alertworker.delivery.render import RESOLVED_STYLE, SEVERITY_STYLE, SLACK_TEXT_MAX
from tests.conftest import REDIS_URL
from tests.receivers import Reply, make_message

HOOK_PATH = "/services/T000/B000/XXXXSECRETXXXX"


@pytest.fixture
def slack(settings, redis_client):
    return get_channel("slack")(settings, redis_client)


def send(channel, receiver, **config):
    channel.send(make_message(channel_config={"webhook_url": receiver.url(HOOK_PATH), **config}))


def test_payload(http_receiver, slack, settings):
    message = make_message(
        severity="critical",
        title="Quota <exhausted> & more",
        message="Ping <!channel> see <https://evil.test|here>",
        context={"provider_name": "openai", "quota": 1000, "details": {"region": "eu"}},
        suppressed_since_last=4,
        channel_config={"webhook_url": http_receiver.url(HOOK_PATH), "channel": "#ops"},
    )
    slack.send(message)
    [req] = http_receiver.requests
    assert req.path == HOOK_PATH
    assert req.headers["Idempotency-Key"] == "7001"
    assert req.headers["Content-Type"].startswith("application/json")
    doc = json.loads(req.body)
    assert doc["channel"] == "#ops"
    assert "[CRITICAL]" in doc["text"] and "Quota &lt;exhausted&gt; &amp; more" in doc["text"]
    assert doc["text"].startswith(SEVERITY_STYLE["critical"]["emoji"])
    [att] = doc["attachments"]
    assert att["color"] == SEVERITY_STYLE["critical"]["color"]
    assert att["title_link"] == "http://alerts.example.test/alerts#notification-42"
    assert "<!channel>" not in att["text"] and "&lt;!channel&gt;" in att["text"]
    assert "<https://evil.test|here>" not in att["text"]
    assert "4 similar alert(s) suppressed" in att["text"]
    assert "What to do" in att["text"]
    fields = {f["title"]: f["value"] for f in att["fields"]}
    assert fields == {"provider_name": "openai", "quota": "1000", "details": '{"region": "eu"}'}
    assert att["ts"] == int(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())


def test_a_resolve_is_green_and_says_resolved(http_receiver, slack):
    slack.send(make_message(
        kind="resolve", resolved_at=datetime(2025, 1, 2, 4, 0, tzinfo=UTC), title="Circuit <open>",
        channel_config={"webhook_url": http_receiver.url(HOOK_PATH)},
    ))  # fmt: skip
    doc = json.loads(http_receiver.requests[0].body)
    assert "Resolved: Circuit &lt;open&gt;" in doc["text"] and "[ERROR]" not in doc["text"]
    [att] = doc["attachments"]
    assert att["color"] == RESOLVED_STYLE["color"] != SEVERITY_STYLE["error"]["color"]
    assert "2025-01-02 04:00:00 UTC" in att["text"] and "What to do" not in att["text"]


def test_long_message_is_truncated(http_receiver, slack):
    slack.send(
        make_message(
            message="x" * 50_000,
            context={"big": "y" * 5_000},
            channel_config={"webhook_url": http_receiver.url()},
        )
    )
    [att] = json.loads(http_receiver.requests[0].body)["attachments"]
    assert len(att["text"]) < SLACK_TEXT_MAX + 500 and "…" in att["text"]
    assert len(att["fields"][0]["value"]) <= 300


def http_date(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("reply", "error", "status", "retry_after"),
    [
        (Reply(200, "ok"), None, None, None),
        (Reply(200, "ok\n"), None, None, None),
        (Reply(200, "<html>captive portal</html>"), PermanentError, 200, None),
        (Reply(204, ""), PermanentError, 204, None),
        (Reply(500, "rollup_error"), RetryableError, 500, None),
        (Reply(503, "service unavailable"), RetryableError, 503, None),
        (Reply(408, ""), RetryableError, 408, None),
        (Reply(429, "rate_limited", {"Retry-After": "7"}), RetryableError, 429, 7),
        (Reply(429, "rate_limited", {"Retry-After": "DATE+30"}), RetryableError, 429, 30),
        (Reply(400, "invalid_payload"), PermanentError, 400, None),
        (Reply(403, "invalid_token"), PermanentError, 403, None),
        (Reply(404, "no_service"), PermanentError, 404, None),
        (Reply(410, "channel_is_archived"), PermanentError, 410, None),
        (Reply(302, "", redirect="https://slack.com/"), PermanentError, 302, None),
    ],
)
def test_response_classification(http_receiver, slack, reply, error, status, retry_after):
    if reply.headers.get("Retry-After") == "DATE+30":
        reply.headers["Retry-After"] = http_date(30)
    http_receiver.default = reply
    if error is None:
        send(slack, http_receiver)
        return
    with pytest.raises(error) as info:
        send(slack, http_receiver)
    assert info.value.status_code == status
    assert len(http_receiver.requests) == 1
    if retry_after is not None:
        assert info.value.retry_after == pytest.approx(retry_after, abs=3)
    text = str(info.value)
    assert "127.0.0.1" in text and "SECRET" not in text and "/services" not in text


def test_timeout_is_retryable(http_receiver, settings, redis_client):
    http_receiver.reply(200, delay=2)
    channel = get_channel("slack")(settings.replace(http_timeout_seconds=0.5), redis_client)
    with pytest.raises(RetryableError, match="timed out") as info:
        send(channel, http_receiver)
    assert "SECRET" not in str(info.value)


def test_connection_refused_is_retryable(closed_port, slack):
    url = f"http://127.0.0.1:{closed_port}{HOOK_PATH}"
    with pytest.raises(RetryableError) as info:
        slack.send(make_message(channel_config={"webhook_url": url}))
    assert "SECRET" not in str(info.value)


def test_missing_webhook_url_is_permanent(slack):
    with pytest.raises(PermanentError):
        slack.send(make_message(channel_config={}))


def test_private_url_refused_at_send_time(http_receiver, settings, redis_client):
    channel = get_channel("slack")(settings.replace(outbound_allowlist=()), redis_client)
    url = http_receiver.url(HOOK_PATH, host="localhost").replace("http:", "https:")
    with pytest.raises(PermanentError, match="refused") as info:
        channel.send(make_message(channel_config={"webhook_url": url}))
    assert http_receiver.requests == [] and "SECRET" not in str(info.value)


def test_rate_key_is_prefixed_and_hides_the_url(slack, settings, http_receiver, redis_client):
    key = slack.rate_key(http_receiver.url(HOOK_PATH))
    assert key.startswith(f"{settings.redis_key_prefix}slack:") and "SECRET" not in key
    send(slack, http_receiver)
    assert 0 < redis_client.pttl(key) <= 1000


def test_one_message_per_second_per_webhook_across_workers(http_receiver, settings):
    """Two workers (own Redis connections) sending at once to one webhook are spaced by 1 s."""
    errors: list[Exception] = []

    def worker() -> None:
        client = redis.Redis.from_url(REDIS_URL, protocol=2)
        try:
            send(get_channel("slack")(settings, client), http_receiver)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    first, second = sorted(r.at for r in http_receiver.requests)
    assert second - first >= 0.9


def test_busy_webhook_raises_retryable_without_sending(http_receiver, slack, redis_client):
    redis_client.set(slack.rate_key(http_receiver.url(HOOK_PATH)), b"1", px=5000)
    started = time.monotonic()
    with pytest.raises(RetryableError, match="rate limit") as info:
        send(slack, http_receiver)
    assert time.monotonic() - started < 0.5
    assert 3 < info.value.retry_after <= 5
    assert http_receiver.requests == []


def test_429_pauses_every_worker_for_retry_after(http_receiver, slack, settings, redis_client):
    http_receiver.reply(429, "rate_limited", headers={"Retry-After": "4"})
    with pytest.raises(RetryableError):
        send(slack, http_receiver)
    other_worker = get_channel("slack")(settings, redis_client)
    with pytest.raises(RetryableError, match="rate limit") as info:
        send(other_worker, http_receiver)
    assert 3 < info.value.retry_after <= 4
    assert len(http_receiver.requests) == 1


def test_sends_anyway_when_redis_is_down(http_receiver, settings):
    dead = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0), protocol=2)
    send(get_channel("slack")(settings, dead), http_receiver)
    assert len(http_receiver.requests) == 1
    dead.close()
