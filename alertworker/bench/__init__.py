"""``alertworker bench`` (SPEC §11): the pipeline's throughput and latency against its own floor.

One run, on this machine, against the local Postgres and Redis (a Redis broker), in a private
database and key prefix (:mod:`alertworker.bench.stage`), with workers started by the compose
file's own command, ``--concurrency`` aside (:mod:`alertworker.bench.procs`):

1. floor: a no-op Celery task's drain rate per worker process, and the throttle script's raw
   rate from this process (single calls, pipelined ×100);
2. throttled path: a storm of events over a few fingerprints, pre-published in batches
   (with ``silences``/``inhibit_rules``, again with that many loaded: :mod:`.silencing`);
3. notify path: one notification and one webhook delivery per event, to a local receiver;
4. latency: single publishes at a steady rate, publish -> webhook received;
5. ratios of (2) and (3) to (1), the worker's peak memory, the machine.

Every phase is checked (:mod:`alertworker.bench.checks`); a run that lost anything raises
:class:`BenchFailure` and is not reported. :func:`run` returns the results and writes the JSON;
:func:`alertworker.bench.report.table` renders them.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alertworker.bench import phases, report
from alertworker.bench.checks import BenchFailure, unknown_arrivals
from alertworker.bench.latency import latency
from alertworker.bench.procs import ROOT
from alertworker.bench.silencing import loader
from alertworker.bench.stage import Stage

__all__ = ["BenchFailure", "Options", "run"]

TARGETS = {"throttled_vs_noop": 5.0, "notify_vs_noop": 0.5, "p50_ms": 10.0, "p99_ms": 50.0,
           "silencing_vs_none": 0.9}  # fmt: skip


@dataclass
class Options:
    events: int = 100_000  # the storm
    fingerprints: int = 10
    notify_events: int = 20_000
    latency_events: int = 500
    latency_rate: float = 50.0
    noop_tasks: int = 5_000
    script_calls: int = 5_000  # single EVALSHA calls; pipelined: script_calls // 25 batches
    batch: int = 500
    workers: int = 1  # --concurrency of the worker: figures are divided by it
    admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    compose_file: Path = field(default_factory=lambda: ROOT / "docker-compose.yml")
    output: Path | None = field(default_factory=lambda: Path("bench-results"))
    progress: bool = True
    keep_logs: bool = False  # the workers' logs (always kept when the run fails)
    silences: int = 0  # with either: the storm again with these loaded (SPEC §16)
    inhibit_rules: int = 0

    @classmethod
    def smoke(cls, **changes: Any) -> Options:
        """A few hundred events: seconds, for CI; checks correctness, not speed."""
        small = {
            "events": 300,
            "notify_events": 200,
            "latency_events": 20,
            "noop_tasks": 200,
            "script_calls": 200,
            "batch": 50,
        }
        return cls(**(small | changes))


def run(options: Options) -> dict[str, Any]:
    """Run every phase; returns the results (written as JSON when ``options.output`` is set)."""
    started = datetime.now(UTC)
    show = options.progress
    with (
        _terminate_as_interrupt(),
        Stage(
            options.admin_url,
            options.redis_url,
            options.compose_file,
            options.workers,
            options.keep_logs,
            announce=show,
        ) as stage,
    ):
        results: dict[str, Any] = {
            "started_at": started.isoformat(timespec="seconds"),
            "concurrency": options.workers,
            "database": stage.dbname,
            "key_prefix": stage.prefix,
            "worker_command": stage.argv,
            "machine": report.machine(stage.server_versions()),
            "options": {
                k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()
            },
        }
        noop = phases.noop_floor(stage, options.noop_tasks, show)
        script = phases.throttle_script(stage, options.script_calls, options.script_calls // 25)
        results["floor"] = {"noop": noop, "throttle_script": script}
        results["throttled"] = phases.storm(
            stage, options.events, options.fingerprints, options.batch, show
        )
        if options.silences or options.inhibit_rules:
            results["throttled_silencing"] = phases.storm(
                stage,
                options.events,
                options.fingerprints,
                options.batch,
                show,
                "bench-storm-silencing",
                loader(options.silences, options.inhibit_rules),
            ) | {"silences": options.silences, "inhibit_rules": options.inhibit_rules}
        results["notify"], results["latency"] = phases.notify(
            stage,
            options.notify_events,
            options.batch,
            show,
            lambda worker: latency(
                stage, worker, options.latency_events, options.latency_rate, show
            ),
        )
        phases_run = [
            p for p in ("throttled", "throttled_silencing", "notify", "latency") if p in results
        ]
        ids = [i for p in phases_run for i in results[p]["checks"].pop("delivery_ids")]
        if strays := unknown_arrivals(stage.receiver.arrivals, ids):
            raise BenchFailure("; ".join(strays))
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    _summarise(results)
    if options.output is not None:
        results["json"] = str(report.write_json(results, options.output))
    return results


def _summarise(r: dict[str, Any]) -> None:
    floor = r["floor"]["noop"]["per_second"]
    lat = r["latency"]
    r["ratios"] = {
        "throttled_vs_noop": r["throttled"]["per_second"] / floor,
        "notify_vs_noop": r["notify"]["deliveries_per_second"] / floor,
    }
    r["targets"] = {
        "throttled_vs_noop": r["ratios"]["throttled_vs_noop"] >= TARGETS["throttled_vs_noop"],
        "notify_vs_noop": r["ratios"]["notify_vs_noop"] >= TARGETS["notify_vs_noop"],
        "latency": lat["p50_ms"] <= TARGETS["p50_ms"] and lat["p99_ms"] <= TARGETS["p99_ms"],
    }
    if "throttled_silencing" in r:
        ratio = r["throttled_silencing"]["per_second"] / r["throttled"]["per_second"]
        r["ratios"]["silencing_vs_none"] = ratio
        r["targets"]["silencing_vs_none"] = ratio >= TARGETS["silencing_vs_none"]
    r["peak_rss_mib"] = max(
        r[p]["peak_rss_mib"] for p in ("throttled", "notify") if "peak_rss_mib" in r[p]
    )
    r["peak_rss_mib"] = max(r["peak_rss_mib"], r["floor"]["noop"]["peak_rss_mib"])


class _terminate_as_interrupt:
    """SIGTERM raises KeyboardInterrupt (main thread only), so cleanup runs as on Ctrl-C."""

    def __enter__(self) -> None:
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)

    @staticmethod
    def _raise(*_: Any) -> None:
        raise KeyboardInterrupt("terminated")

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
