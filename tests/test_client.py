"""The publisher of SPEC §3: validation at the call site, batching, flushing, broker down."""

import base64
import json
import os
import threading
import time

import pytest
from marshmallow import ValidationError

from alertworker import client, local_broker
from alertworker.client import AlertPublisher, PublishError, resolve_alert, trigger_alert

EVENT = {"tenant_id": "acme", "alert_type": "high_latency", "title": "slow"}


def queued(redis_client, settings):
    """The batches waiting on the events queue, oldest first, as lists of events."""
    items = redis_client.lrange(f"{settings.redis_key_prefix}alerts.events", 0, -1)
    batches = []
    for item in reversed(items):
        envelope = json.loads(item)
        assert envelope["headers"]["task"] == "alertworker.ingest"
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        batches.append(args[0])
    return batches


def test_publish_validates_before_sending(settings, redis_client):
    with AlertPublisher.from_settings(settings) as pub:
        with pytest.raises(ValidationError) as err:
            pub.publish_many([EVENT, {**EVENT, "alert_type": "nope"}])
    assert 1 in err.value.messages
    assert queued(redis_client, settings) == []


def test_events_are_sent_in_batches_of_max_batch(settings, redis_client):
    with AlertPublisher.from_settings(settings, max_batch=10) as pub:
        ids = pub.publish_many([{**EVENT, "title": f"t{i}"} for i in range(25)])
    batches = queued(redis_client, settings)
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [e["event_id"] for b in batches for e in b] == ids


def test_linger_flushes_a_partial_batch_in_the_background(settings, redis_client):
    pub = AlertPublisher.from_settings(settings, max_batch=100, linger_ms=50)
    for i in range(3):
        pub.publish(**{**EVENT, "title": f"t{i}"})
    time.sleep(0.5)
    assert [len(b) for b in queued(redis_client, settings)] == [3]
    pub.publish(**EVENT)
    pub.close()  # close flushes what is left
    assert [len(b) for b in queued(redis_client, settings)] == [3, 1]


def test_an_unreachable_broker_raises_within_a_bounded_time(settings):
    pub = AlertPublisher("redis://127.0.0.1:1/0", key_prefix=settings.redis_key_prefix, timeout=1)
    started = time.monotonic()
    with pytest.raises(PublishError, match="broker unreachable"):
        pub.publish(**EVENT)
    assert time.monotonic() - started < 10


def test_an_unreachable_amqp_broker_raises_too(settings):
    pub = AlertPublisher("amqp://guest:guest@127.0.0.1:1//", timeout=1)
    with pytest.raises(PublishError):
        pub.publish(**EVENT)


def test_a_failed_background_flush_keeps_the_events(settings):
    pub = AlertPublisher(
        "redis://127.0.0.1:1/0", key_prefix=settings.redis_key_prefix, linger_ms=20, timeout=0.5
    )
    pub.publish(**EVENT)
    time.sleep(0.3)  # the background flush has failed at least once by now
    with pytest.raises(PublishError, match="1 event"):
        pub.close()


def test_trigger_alert_uses_the_environment(settings, redis_client, monkeypatch):
    monkeypatch.setenv("BROKER_URL", settings.broker_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", settings.redis_key_prefix)
    monkeypatch.setattr(client, "_default", None)
    event_id = trigger_alert(
        tenant_id="acme",
        alert_type="quota_exhausted",
        title="quota gone",
        context={"provider_name": "openai"},
        severity="critical",
    )
    [[sent]] = queued(redis_client, settings)
    assert (sent["event_id"], sent["severity"], sent["context"]) == (
        event_id,
        "critical",
        {"provider_name": "openai"},
    )


def test_resolve_alert_and_publish_with_action_resolve(settings, redis_client, monkeypatch):
    monkeypatch.setenv("BROKER_URL", settings.broker_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", settings.redis_key_prefix)
    monkeypatch.setattr(client, "_default", None)
    event_id = resolve_alert(tenant_id="acme", alert_type="provider_unhealthy",
                             context={"provider_name": "openai"})  # fmt: skip
    with AlertPublisher.from_settings(settings) as pub:
        other = pub.publish(tenant_id="acme", alert_type="provider_unhealthy", action="resolve")
        with pytest.raises(ValidationError):
            pub.publish(tenant_id="acme", alert_type="provider_unhealthy", action="close")
    sent = [e for batch in queued(redis_client, settings) for e in batch]
    assert [(e["event_id"], e["action"]) for e in sent] == [
        (event_id, "resolve"), (other, "resolve")]  # fmt: skip
    assert "title" not in sent[0] and sent[0]["context"] == {"provider_name": "openai"}


def test_the_client_imports_nothing_from_tasks_or_api():
    import subprocess
    import sys

    code = (
        "import sys, alertworker.client; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tasks', 'api', 'flask')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def no_broker_url(tmp_path, monkeypatch):
    """No BROKER_URL, in a directory of our own; the client's default publisher forgotten."""
    for name in ("BROKER_URL", "ALERTWORKER_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(client, "_default", None)
    return tmp_path


def test_a_client_with_no_broker_to_reach_raises(no_broker_url):
    with pytest.raises(PublishError, match="no broker: BROKER_URL is not set"):
        AlertPublisher()
    with pytest.raises(PublishError, match="alertworker run"):
        trigger_alert(**EVENT)


def test_a_stale_file_of_a_killed_run_is_refused(no_broker_url):
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    local_broker.write(local_broker.LocalBroker("redis://127.0.0.1:1/0", "x:", gone.pid))
    with pytest.raises(PublishError, match=f"stale .*pid {gone.pid}"):
        trigger_alert(**EVENT)


def test_without_a_url_the_client_publishes_to_the_announced_broker(
    no_broker_url, settings, redis_client
):
    """The file `alertworker run` writes (here: a live pid, this run's Redis and key prefix)."""
    announced = local_broker.LocalBroker(
        settings.broker_url, settings.redis_key_prefix, os.getpid()
    )
    local_broker.write(announced, no_broker_url / "var")
    event_id = trigger_alert(**EVENT)
    assert [e["event_id"] for [e] in queued(redis_client, settings)] == [event_id]
    local_broker.remove(os.getpid(), no_broker_url / "var")
    assert not local_broker.path(no_broker_url / "var").exists()


class SlowBroker(AlertPublisher):
    """A publisher whose broker takes 50 ms to confirm each message (and may refuse them)."""

    def __init__(self, *args, fail=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.messages, self.fail = [], fail

    def _send(self, batch):
        time.sleep(0.05)
        if self.fail:
            raise PublishError("broker unreachable (on purpose)")
        self.messages.append([e["title"] for e in batch])
        super()._send(batch)


def _concurrently(pub, callers):
    """``callers`` threads each publish one event at once; what each got back or raised."""
    results = [None] * callers
    gate = threading.Barrier(callers)

    def call(i):
        gate.wait()
        time.sleep(0.002 * i)  # in order, all within the first send's 50 ms
        try:
            results[i] = pub.publish(**{**EVENT, "title": f"t{i}"})
        except PublishError as exc:
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_concurrent_publishes_share_messages_and_each_returns_once_confirmed(
    settings, redis_client
):
    pub = SlowBroker(settings.broker_url, key_prefix=settings.redis_key_prefix, max_batch=4)
    ids = _concurrently(pub, 7)
    # the first is sent alone at once; the six that came meanwhile go in messages of max_batch
    assert pub.messages == [["t0"], ["t1", "t2", "t3", "t4"], ["t5", "t6"]]
    sent = [e["event_id"] for batch in queued(redis_client, settings) for e in batch]
    assert sorted(sent) == sorted(ids)  # every caller's event is on the broker when it returns


def test_a_refused_shared_message_fails_every_caller_in_it(settings, redis_client):
    pub = SlowBroker(settings.broker_url, key_prefix=settings.redis_key_prefix, fail=True)
    results = _concurrently(pub, 5)
    assert all(isinstance(r, PublishError) for r in results)
    pub.fail = False
    assert len(pub.publish(**EVENT)) == 36  # and the next caller sends again
    assert pub.messages == [["slow"]]
