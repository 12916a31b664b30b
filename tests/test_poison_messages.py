"""Any message on any of our queues is recorded as rejected, acked, and the worker goes straight
on to the next (SPEC §3): a real `celery -A tasks worker` is fed each poison form of
tests/envelopes.py, each followed by a valid event that must become a notification, on the Redis
transport (raw LPUSHes of broken envelopes) and on RabbitMQ (broken headers, bodies and
compression, which is all a publisher controls there)."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from kombu import Connection, Producer
from sqlalchemy import func, select

from alertworker.client import broker_queues
from alertworker.core.models import AlertNotification, RejectedEvent
from tests.envelopes import POISON, event, raw_items, task_body, task_envelope
from tests.processes import WORKER_ARGS, celery, wait_for

pytestmark = pytest.mark.slow

QUEUES = ["alerts.events", "alerts.maintenance", "alerts.deliver.webhook"]
ON_AMQP = {  # what a publisher can break on RabbitMQ, where the broker writes the envelope
    "content-type refused", "timelimit a string",
    "timelimit a long string", "timelimit a number", "timelimit of strings", "eta not a date",
    "eta a number", "expires an object", "retries a string", "task id a list", "shadow a list",
    "task name a list", "protocol 1 message", "body not JSON", "body nested 100,000 deep",
    "body not [args, kwargs, embed]", "a callback to run", "compressed with an unknown codec",
    "compression bomb",
}  # fmt: skip
ON_OTHER_QUEUES = {
    "envelope not JSON", "envelope nested 100,000 deep (array)", "properties a list",
    "delivery_tag missing", "headers a list", "timelimit a string", "timelimit a number",
}  # fmt: skip


def count(session_factory, model) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def last_reason(session_factory) -> str:
    with session_factory() as s:
        return s.scalars(select(RejectedEvent.reason).order_by(RejectedEvent.id.desc())).first()


class Feeder:
    """Pushes one bad message then one valid event, and checks what the worker made of them."""

    def __init__(self, worker, session_factory, push) -> None:
        self.worker, self.session_factory, self.push, self.sent = worker, session_factory, push, 0

    def probe(self, name: str) -> None:
        """A valid event after ``name``: it must be processed at once."""
        self.sent += 1
        self.push("alerts.events", task_envelope(task_body([[event("acme", self.sent)]])))
        wait_for(
            lambda: count(self.session_factory, AlertNotification) == self.sent,
            20,
            lambda: f"the event after {name!r} was not processed\n{self.worker.output()}",
        )

    def feed(self, name: str, bad, reason: str, queue: str = "alerts.events") -> None:
        rejected = count(self.session_factory, RejectedEvent)
        self.push(queue, bad)
        self.probe(name)
        wait_for(
            lambda: count(self.session_factory, RejectedEvent) == rejected + 1,
            20,
            lambda: f"no rejected row for {name!r}\n{self.worker.output()}",
        )
        assert reason in last_reason(self.session_factory), name
        assert self.worker.alive(), name


def _worker(env, tmp_path):
    return celery(env, tmp_path / "worker.log", *WORKER_ARGS, "-c", "1")


@pytest.fixture
def acme(make_tenant, make_config):
    make_config(
        make_tenant("acme"), channels=["in_app"], cooldown_minutes=0, max_alerts_per_hour=10_000
    )


def _redis_push(redis_client, prefix):
    def push(queue: str, item) -> None:
        raw = item if isinstance(item, bytes | str) else json.dumps(item).encode()
        redis_client.lpush(f"{prefix}{queue}", raw)

    return push


@pytest.fixture
def redis_feeder(test_env, settings, session_factory, redis_client, acme, tmp_path):
    worker = _worker(test_env, tmp_path)
    yield Feeder(worker, session_factory, _redis_push(redis_client, settings.redis_key_prefix))
    output = worker.output()
    worker.stop()
    assert "Unrecoverable" not in output and "Internal error" not in output, output[-3000:]


def test_every_poison_envelope_on_redis_is_rejected_and_the_worker_goes_on(redis_feeder):
    for name, mutate, reason in POISON:
        redis_feeder.feed(name, mutate(task_envelope(task_body([[event("acme", 0)]]))), reason)


def test_poison_on_the_delivery_and_maintenance_queues_is_rejected(redis_feeder):
    for queue in QUEUES:
        for name, mutate, reason in [f for f in POISON if f[0] in ON_OTHER_QUEUES]:
            bad = mutate(task_envelope(task_body([[1]]), queue, "alertworker.deliver.webhook"))
            redis_feeder.feed(f"{name} on {queue}", bad, reason, queue)
    sweep = task_envelope(task_body([1, 2]), "alerts.maintenance", "alertworker.sweep")
    redis_feeder.feed("arguments the task does not take", sweep, "arguments", "alerts.maintenance")


@hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(item=raw_items)
def test_after_any_mutated_envelope_the_worker_processes_the_next_event(redis_feeder, item):
    """Valid envelopes changed field by field (dropped, retyped, random bytes, bad encodings):
    whatever becomes of each, the valid event after it is processed at once."""
    redis_feeder.push("alerts.events", item)
    redis_feeder.probe("a mutated envelope")
    assert redis_feeder.worker.alive()


@pytest.fixture
def amqp_env(test_env):
    vhost = f"awtest-{uuid.uuid4().hex[:8]}"
    ctl = ["rabbitmqctl", "-q"]
    subprocess.run([*ctl, "add_vhost", vhost], check=True, timeout=60)
    subprocess.run(
        [*ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, timeout=60
    )
    yield {**test_env, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}"}
    subprocess.run([*ctl, "delete_vhost", vhost], check=False, timeout=60)


def test_poison_headers_bodies_and_compression_on_rabbitmq_are_rejected(
    amqp_env, settings, session_factory, acme, tmp_path
):
    worker = _worker(amqp_env, tmp_path)
    try:
        queues = {q.name: q for q in broker_queues(amqp_env["BROKER_URL"])}  # as workers do
        with Connection(amqp_env["BROKER_URL"]) as conn:
            producer = Producer(conn)

            def push(queue: str, envelope: dict) -> None:
                producer.publish(
                    base64.b64decode(envelope["body"]),
                    exchange=queues[queue].exchange,
                    routing_key=queue,
                    declare=[queues[queue]],
                    headers=envelope["headers"],
                    content_type=envelope["content-type"],
                    content_encoding=envelope["content-encoding"],
                )

            feeder = Feeder(worker, session_factory, push)
            forms = [form for form in POISON if form[0] in ON_AMQP]
            assert len(forms) == len(ON_AMQP)
            for name, mutate, reason in forms:
                feeder.feed(name, mutate(task_envelope(task_body([[event("acme", 0)]]))), reason)
    finally:
        output = worker.output()
        worker.stop()
    assert "Unrecoverable" not in output and "Internal error" not in output, output[-3000:]
