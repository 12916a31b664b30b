"""The message checks without a worker: the Redis envelope check is total and leaves kombu nothing
to fail on; a task message the header/body check passes is one Celery can dispatch; a
compressed body inflates to a bounded size; any payload can be stored as a rejection."""

from __future__ import annotations

import json
import zlib

import pytest
from celery.worker.request import Request
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from kombu import Connection, compression
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads

import tasks.consumer  # noqa: F401  (registers the tasks, bounds kombu's decompressors)
from alertworker.ingest.rejections import rejection
from tasks.app import app
from tasks.messages import MAX_INFLATED_BYTES, problem
from tasks.transport import INVALID_CONTENT_TYPE, REASON_HEADER, envelope
from tests.envelopes import POISON, bomb, event, mutated, raw_items, task_body, task_envelope


@pytest.fixture(scope="module")
def channel():
    with Connection("memory://") as conn:
        yield conn.default_channel


def _kombu_takes(channel, item) -> object:
    """What kombu's Redis channel does with a popped item, up to handing it to the consumer."""
    payload = loads(bytes_to_str(item))
    message = channel.Message(payload, channel=channel)
    info = message.delivery_info
    dumps([message._raw, info["exchange"], info["routing_key"]])  # the unacked hash entry
    assert isinstance(message.delivery_tag, str) and isinstance(message.headers, dict)
    return message


@hsettings(max_examples=600, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item=raw_items)
def test_envelope_is_total_and_kombu_can_take_what_it_returns(channel, item):
    out = envelope(item)
    message = _kombu_takes(channel, out)
    if out is not item:  # wrapped: the raw bytes and a reason, for the consumer to record
        raw = item if isinstance(item, bytes) else item.encode("utf-8", "surrogateescape")
        assert message.content_type == INVALID_CONTENT_TYPE and message.body == raw
        assert message.headers[REASON_HEADER]


@pytest.mark.parametrize("form", POISON, ids=[f[0] for f in POISON])
def test_each_poison_form_is_wrapped_or_refused_with_its_reason(channel, form):
    name, mutate, words = form
    item = mutate(task_envelope(task_body([[event("acme", 1)]])))
    item = item if isinstance(item, bytes) else json.dumps(item).encode()
    message = _kombu_takes(channel, envelope(item))
    reason = (
        problem(message, app.tasks)
        if not message.errors
        else f"cannot decode body: {message.errors[0][1]}"
    )
    assert reason is not None and words in reason, (name, reason)


@hsettings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item=mutated)
def test_a_task_message_the_check_passes_is_one_celery_can_dispatch(channel, item):
    message = _kombu_takes(channel, envelope(item))
    if message.errors or problem(message, app.tasks) is not None:
        return
    request = Request(message, app=app, task=app.tasks[message.headers["task"]])
    hard, soft = request.time_limits
    assert all(limit is None or limit >= 0 for limit in (hard, soft))
    for when in (request.eta, request.expires):
        assert when is None or when.timestamp()
    assert isinstance(request.id, str) and isinstance(request.name, str)


def test_a_compressed_body_inflates_to_a_bounded_size():
    assert compression.decompress(zlib.compress(b"x" * 1000), "zlib") == b"x" * 1000
    with pytest.raises(ValueError, match="inflates past"):
        compression.decompress(bomb(4 * MAX_INFLATED_BYTES), "application/x-gzip")
    with pytest.raises(ValueError, match="truncated"):
        compression.decompress(zlib.compress(b"x" * 1000)[:-4], "zlib")


def test_any_payload_can_be_stored_as_a_rejection():
    deep: list = []
    for _ in range(100_000):  # built in Python: too deep for json.dumps and repr
        deep = [deep]
    row = rejection(deep, "reason")
    assert row["payload"] and row["reason"] == "reason"
