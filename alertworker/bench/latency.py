"""Publish -> webhook latency on a warm, idle worker (the notify phase's, once it has drained).

Events are published one by one, without linger (a ``trigger_alert``-like publish: one event,
one broker message, wait for the broker), at a steady rate. Each carries its own ``event_id``;
the time just before the publish call is matched with the receiver's arrival time of the
webhook whose body carries that ``event_id``. The same ``time.monotonic()`` clock is on both
ends. A few warm-up events first (the config cache, the first connections) are checked but not
counted.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from alertworker.bench.checks import BenchFailure, delivered_rows, verify
from alertworker.bench.phases import alert_event, wait_until
from alertworker.bench.procs import Worker
from alertworker.bench.report import Progress
from alertworker.bench.stage import Stage

WARMUP = 10


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil
    return sorted_values[int(rank) - 1]


def latency(stage: Stage, worker: Worker, events: int, rate: float, show: bool) -> dict[str, Any]:
    config = stage.make_config("bench-latency", "circuit_breaker_opened")
    sent: dict[str, float] = {}
    publish_ms: list[float] = []
    before = stage.receiver.distinct()

    def arrived() -> int:
        return stage.receiver.distinct() - before

    with stage.publisher(1) as publisher:

        def publish(i: int) -> None:
            event_id = str(uuid.uuid4())
            started = time.monotonic()
            sent[event_id] = started
            publisher.publish(**alert_event("bench-latency", i, f"provider-{i}", event_id=event_id))
            publish_ms.append((time.monotonic() - started) * 1000)

        for i in range(WARMUP):
            publish(i)
        wait_until(arrived, WARMUP, "latency: warm-up webhooks", worker)
        measured_from = len(sent)
        publish_ms.clear()
        with Progress("latency: publish", events, show) as bar:
            begin = time.monotonic()
            for i in range(events):
                pause = begin + i / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                publish(WARMUP + i)
                bar.update(i + 1)
    wait_until(arrived, WARMUP + events, "latency: webhooks at the receiver", worker)
    wait_until(
        lambda: delivered_rows(stage, [config]),
        WARMUP + events,
        "latency: webhook deliveries recorded",
        worker,
    )
    checks = verify(
        stage,
        "latency",
        [config],
        events=WARMUP + events,
        notifications=WARMUP + events,
        event_ids=set(sent),
    )

    first: dict[Any, float] = {}
    for a in stage.receiver.arrivals:
        first.setdefault(a.event_id, a.at)
    measured = list(sent)[measured_from:]
    if any(e not in first for e in measured):
        raise BenchFailure("latency: a webhook is missing for a published event")
    ms = sorted((first[e] - sent[e]) * 1000 for e in measured)
    publish_ms.sort()
    return {
        "events": events,
        "rate": rate,
        "warmup_events": WARMUP,
        **{f"p{q}_ms": percentile(ms, q) for q in (50, 95, 99)},
        "max_ms": ms[-1],
        "mean_ms": sum(ms) / len(ms),
        "publish_call_p50_ms": percentile(publish_ms, 50),
        "publish_call_p99_ms": percentile(publish_ms, 99),
        "checks": checks,
    }
