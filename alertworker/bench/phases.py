"""The measured phases. Each pre-fills the queue while no worker runs, then starts a worker and
times the drain from its first consumption (the queue's length drops) to the end of the work.

* :func:`noop_floor`: N ``alertworker.noop`` messages from one producer; ends when the queue is
  empty (polled); every message must then have been acked (late acks: after it ran).
* :func:`throttle_script`: the throttle's Lua script from this process, single and ×100.
* :func:`storm`: the throttled path; ends when the throttle summary counts every event.
* :func:`notify` (with :func:`latency` on the same, warm worker; ``alertworker.bench.latency``):
  the notify path; ends when every delivery has reached the receiver.

CPU time is utime + stime of the worker's main process and pool children, read at the first
consumption and at the end; rates and CPU figures are divided by the worker's concurrency.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select

from alertworker.bench.checks import BenchFailure, delivered_rows, verify
from alertworker.bench.procs import Worker
from alertworker.bench.report import Progress
from alertworker.bench.stage import Stage
from alertworker.core.models import AlertNotification as N
from alertworker.core.models import AlertThrottle as T
from alertworker.ingest.throttle import Request, Throttle

NOOP_TASK = "alertworker.noop"  # tasks/noop.py; the bench imports nothing from tasks/
STALL_SECONDS = 60.0


def wait_until(
    measure: Callable[[], int],
    target: int,
    what: str,
    worker: Worker,
    bar: Progress | None = None,
    every: float = 0.025,
) -> float:
    """Poll ``measure`` until it reaches ``target``; returns ``time.monotonic()`` then.

    Fails when the worker dies or nothing moves for ``STALL_SECONDS``: work went missing.
    """

    def alive() -> None:
        if worker.popen.poll() is not None:
            raise BenchFailure(f"{what}: the worker exited:\n{worker.output()[-2000:]}")

    return poll(measure, target, what, alive, f"worker log: {worker.log}", bar, every)


def poll(
    measure: Callable[[], int],
    target: int,
    what: str,
    alive: Callable[[], None],
    logs: str,
    bar: Progress | None = None,
    every: float = 0.025,
) -> float:
    """``time.monotonic()`` once ``measure()`` reaches ``target``; ``alive()`` raises when a
    process died, and nothing moving for ``STALL_SECONDS`` fails the run (``logs`` says where
    to look)."""
    last, moved = -1, time.monotonic()
    while True:
        value = measure()
        now = time.monotonic()
        if bar is not None:
            bar.update(value)
        if value >= target:
            return now
        if value != last:
            last, moved = value, now
        elif now - moved > STALL_SECONDS:
            raise BenchFailure(
                f"{what}: {value:,} of {target:,} after {STALL_SECONDS:.0f} s without progress "
                f"({logs})"
            )
        alive()
        time.sleep(every)


class Start(NamedTuple):
    """The first consumption: monotonic and wall-clock time, the worker's CPU seconds."""

    at: float
    wall: float
    cpu: float

    def monotonic(self, wall: datetime) -> float:
        """A wall-clock time the worker wrote (e.g. ``triggered_at``) on this side's clock."""
        return self.at + (wall.timestamp() - self.wall)


def first_consumption(stage: Stage, worker: Worker, full: int) -> Start:
    """When the worker first takes a message off the (pre-filled) queue."""
    at = wait_until(
        lambda: full - stage.queue_length(), 1, "first consumption", worker, every=0.002
    )
    return Start(at, time.time() - (time.monotonic() - at), worker.cpu_seconds())


def drained(worker: Worker, start: Start, ended: float, units: int, per: int) -> dict[str, float]:
    """Rate per worker process and CPU µs per unit, from the drain's start and end."""
    seconds = max(ended - start.at, 1e-9)
    cpu = worker.cpu_seconds() - start.cpu
    return {
        "seconds": round(seconds, 3),
        "per_second": units / seconds / per,
        "cpu_seconds": round(cpu, 3),
        "cpu_us_per_unit": cpu / units * 1e6,
        "peak_rss_mib": worker.peak_rss_mib(),
    }


def noop_floor(stage: Stage, tasks: int, show: bool) -> dict[str, Any]:
    app = stage.celery_client()
    with Progress("floor: pre-fill no-op", tasks, show) as bar, app.producer_or_acquire() as p:
        for i in range(tasks):
            app.send_task(NOOP_TASK, queue="alerts.events", producer=p)
            if i % 500 == 0:
                bar.update(i)
        bar.update(tasks)
    app.close()
    if stage.queue_length() != tasks:
        raise BenchFailure(f"floor: {stage.queue_length()} of {tasks} no-op messages queued")
    with stage.worker("noop") as worker:
        start = first_consumption(stage, worker, tasks)
        with Progress("floor: no-op drain", tasks, show) as bar:
            end = wait_until(
                lambda: tasks - stage.queue_length(), tasks, "no-op drain", worker, bar, every=0.002
            )

        def acked() -> int:  # late acks: a message leaves kombu's unacked hash once it ran
            return tasks - stage.redis.hlen(f"{stage.prefix}unacked")

        wait_until(acked, tasks, "floor: no-op tasks run and acked", worker, every=0.05)
        figures = drained(worker, start, end, tasks, stage.concurrency)
    figures["cpu_us_per_task"] = figures.pop("cpu_us_per_unit")
    return {"tasks": tasks, **figures}


def throttle_script(stage: Stage, singles: int, batches: int) -> dict[str, Any]:
    """The Lua script through its Python face, 100 fingerprints of one config, mostly cooled."""
    throttle = Throttle(stage.redis, stage.prefix + "script:")

    def request(i: int) -> Request:
        return Request(0, f"fp{i % 100}", f"t{i}", 1, 3_600_000, 10_000)

    throttle.decide([request(i) for i in range(100)], int(time.time() * 1000))  # load, warm
    started = time.perf_counter()
    for i in range(singles):
        throttle.decide([request(i)], int(time.time() * 1000))
    single = singles / (time.perf_counter() - started)
    started = time.perf_counter()
    for b in range(batches):
        throttle.decide([request(b * 100 + i) for i in range(100)], int(time.time() * 1000))
    pipelined = batches * 100 / (time.perf_counter() - started)
    return {
        "single_per_second": single,
        "pipelined_per_second": pipelined,
        "single_calls": singles,
        "pipelined_decisions": batches * 100,
    }


def alert_event(tenant: str, i: int, provider: str, **extra: Any) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "alert_type": "circuit_breaker_opened",
        "title": f"circuit opened for {provider}",
        "message": f"event {i}",
        "context": {"provider_name": provider, "consecutive_failures": 5},
        **extra,
    }


def publish_batched(
    stage: Stage, events: list[dict[str, Any]], batch: int, label: str, show: bool
) -> dict[str, float]:
    """Publish in batches of ``batch`` events per message; returns the publish rate."""
    started = time.monotonic()
    with stage.publisher(batch) as publisher, Progress(label, len(events), show) as bar:
        for i in range(0, len(events), batch):
            publisher.publish_many(events[i : i + batch])
            bar.update(min(i + batch, len(events)))
    seconds = time.monotonic() - started
    return {"publish_seconds": round(seconds, 3), "publish_per_second": len(events) / seconds}


def storm(
    stage: Stage,
    events: int,
    fingerprints: int,
    batch: int,
    show: bool,
    slug: str = "bench-storm",
    prepare: Callable[[Stage, str], None] | None = None,
) -> dict[str, Any]:
    """The throttled path; ``prepare(stage, slug)`` adds rows to the tenant first."""
    config = stage.make_config(slug, "circuit_breaker_opened")
    if prepare is not None:
        prepare(stage, slug)
    published = publish_batched(
        stage,
        [alert_event(slug, i, f"provider-{i % fingerprints}") for i in range(events)],
        batch,
        f"{slug}: publish",
        show,
    )
    messages = math.ceil(events / batch)
    # The throttle summary counts every event once (sent or suppressed), at any concurrency.
    accounted = select(func.coalesce(func.sum(T.sent_count + T.suppressed_count), 0)).where(
        T.config_id == config
    )
    last_batch = select(func.max(T.updated_at)).where(T.config_id == config)

    def count() -> int:
        with stage.session_factory() as s:
            return int(s.scalar(accounted) or 0)

    with stage.worker(slug) as worker:
        start = first_consumption(stage, worker, messages)
        with Progress("throttled: events", events, show) as bar:
            wait_until(count, events, "throttled: events accounted", worker, bar, every=0.1)
        wait_until(
            lambda: delivered_rows(stage, [config]),
            fingerprints,
            "throttled: webhook deliveries recorded",
            worker,
            every=0.1,
        )
        with stage.session_factory() as s:
            end = start.monotonic(s.scalar(last_batch))  # the last batch's clock
        figures = drained(worker, start, end, events, stage.concurrency)
    checks = verify(stage, "throttled", [config], events=events, notifications=fingerprints)
    figures["cpu_us_per_event"] = figures.pop("cpu_us_per_unit")
    return {
        "events": events,
        "fingerprints": fingerprints,
        "batch": batch,
        **published,
        **figures,
        "checks": checks,
    }


def notify(
    stage: Stage, events: int, batch: int, show: bool, then: Callable[[Worker], dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The notify path; ``then(worker)`` runs on the same, warm worker before it stops."""
    tenants = [f"bench-notify-{k}" for k in range(max(1, math.ceil(events / 10_000)))]
    configs = [stage.make_config(t, "circuit_breaker_opened") for t in tenants]
    wire = [
        alert_event(tenants[i % len(tenants)], i, f"provider-{i}", event_id=str(uuid.uuid4()))
        for i in range(events)
    ]
    published = publish_batched(stage, wire, batch, "notify: publish", show)
    messages = math.ceil(events / batch)
    before = stage.receiver.distinct()
    created = select(func.count()).select_from(N).where(N.config_id.in_(configs))
    last_batch = select(func.max(N.triggered_at)).where(N.config_id.in_(configs))

    def notifications() -> int:
        with stage.session_factory() as s:
            return int(s.scalar(created) or 0)

    def delivered() -> int:
        return stage.receiver.distinct() - before

    with stage.worker("notify") as worker:
        start = first_consumption(stage, worker, messages)
        with Progress("notify: deliveries", events, show) as bar:
            wait_until(notifications, events, "notify: notifications", worker, every=0.2)
            wait_until(delivered, events, "notify: deliveries at the receiver", worker, bar)
        wait_until(
            lambda: delivered_rows(stage, configs),
            events,
            "notify: webhook deliveries recorded",
            worker,
            every=0.1,
        )
        with stage.session_factory() as s:
            notified_at = start.monotonic(s.scalar(last_batch))
        checks = verify(
            stage,
            "notify",
            configs,
            events=events,
            notifications=events,
            event_ids={e["event_id"] for e in wire},
        )
        end = last_first_arrival(stage, checks["delivery_ids"])
        figures = drained(worker, start, end, events, stage.concurrency)
        after = then(worker)
    figures["deliveries_per_second"] = figures.pop("per_second")
    figures["cpu_us_per_notification"] = figures.pop("cpu_us_per_unit")
    figures["notifications_per_second"] = events / (notified_at - start.at) / stage.concurrency
    result = {
        "events": events,
        "batch": batch,
        "tenants": len(tenants),
        **published,
        **figures,
        "checks": checks,
    }
    return result, after


def last_first_arrival(stage: Stage, delivery_ids: list[int]) -> float:
    """When the last of these deliveries first reached the receiver (``time.monotonic()``)."""
    first: dict[str | None, float] = {}
    for a in stage.receiver.arrivals:
        first.setdefault(a.key, a.at)
    return max(first[str(d)] for d in delivery_ids)
