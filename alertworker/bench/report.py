"""What the benchmark shows: a progress bar on stderr, the table on stdout, the JSON file.

The progress bar is plain text: redrawn in place on a terminal, a line per quarter otherwise.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class Progress:
    """``with Progress("notify: deliveries", 20000) as bar: bar.update(n)``."""

    def __init__(self, label: str, total: int, enabled: bool = True) -> None:
        self.label, self.total, self.enabled = label, max(total, 1), enabled
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.quarter = -1
        self.value = 0

    def update(self, value: int) -> None:
        self.value = value
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty and now - self.drawn_at >= 0.1:
            self.drawn_at = now
            sys.stderr.write("\r" + self._line(now))
            sys.stderr.flush()
        elif not self.tty and (q := min(4, 4 * value // self.total)) > self.quarter:
            self.quarter = q
            print(self._line(now), file=sys.stderr, flush=True)

    def _line(self, now: float) -> str:
        done = min(1.0, self.value / self.total)
        bar = "#" * int(done * 30)
        return (
            f"{self.label:<28} [{bar:<30}] {self.value:>9,}/{self.total:,} "
            f"{now - self.started:6.1f}s"
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\r" + self._line(time.monotonic()) + "\n")
            sys.stderr.flush()


def machine(servers: dict[str, str]) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        mem_kib = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        **servers,
    }


def write_json(results: dict[str, Any], folder: Path, name: str = "bench") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{name}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return path


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(r: dict[str, Any]) -> str:
    m, f, t, n, lat = r["machine"], r["floor"], r["throttled"], r["notify"], r["latency"]
    noop, script = f["noop"], f["throttle_script"]
    ratio, targets = r["ratios"], r["targets"]
    rows = [
        f"alertworker bench  {r['started_at']}  (per worker process: --concurrency "
        f"{r['concurrency']}, figures divided by it)",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"PostgreSQL {m['postgres']}, Redis {m['redis']}",
        f"worker:  {' '.join(r['worker_command'])}",
        "",
        f"{'figure':<50}{'value':>14}  unit",
        f"{'-' * 50}{'-' * 14}  {'-' * 24}",
    ]

    def row(name: str, value: float, unit: str, fmt: str = ",.0f") -> None:
        rows.append(f"{name:<50}{value:>14{fmt}}  {unit}")

    row(f"1 floor: no-op task drain ({noop['tasks']:,} tasks)", noop["per_second"], "tasks/s")
    row("  CPU per no-op task (worker processes)", noop["cpu_us_per_task"], "µs")
    row("1 floor: throttle script, single EVALSHA", script["single_per_second"], "calls/s")
    row("  pipelined x100", script["pipelined_per_second"], "decisions/s")
    row(
        f"2 throttled: storm of {t['events']:,} events / {t['fingerprints']} fps",
        t["per_second"],
        "events/s",
    )
    row("  CPU per event (worker processes)", t["cpu_us_per_event"], "µs")
    if ts := r.get("throttled_silencing"):
        row(
            f"2 the storm with {ts['silences']} silences, {ts['inhibit_rules']} rules",
            ts["per_second"],
            "events/s",
        )
        row(
            "  ratio to the plain storm",
            ratio["silencing_vs_none"],
            f"x  target >= 0.9: {_verdict(targets['silencing_vs_none'])}",
            ",.2f",
        )
    row(
        f"3 notify: {n['events']:,} events, one webhook each",
        n["notifications_per_second"],
        "notifications/s",
    )
    row("  deliveries reaching the receiver", n["deliveries_per_second"], "deliveries/s")
    row("  CPU per notification + delivery", n["cpu_us_per_notification"], "µs")
    for q in ("p50", "p95", "p99", "max"):
        row(
            f"4 latency publish -> webhook {q} ({lat['events']} at {lat['rate']:g}/s)",
            lat[f"{q}_ms"],
            "ms",
            ",.1f",
        )
    row(
        "5 ratio throttled / no-op",
        ratio["throttled_vs_noop"],
        f"x  target >= 5: {_verdict(targets['throttled_vs_noop'])}",
        ",.2f",
    )
    row(
        "5 ratio notify deliveries / no-op",
        ratio["notify_vs_noop"],
        f"x  target >= 0.5: {_verdict(targets['notify_vs_noop'])}",
        ",.2f",
    )
    rows.append(
        f"{'  latency p50 <= 10 ms, p99 <= 50 ms':<50}{'':>14}  {_verdict(targets['latency'])}"
    )
    row("5 worker peak memory (VmHWM, max over processes)", r["peak_rss_mib"], "MiB", ",.1f")
    rows.append("")
    rows.append(
        "checks: every expected notification exists once, every delivery reached the "
        "receiver (duplicate requests: "
        f"{t['checks']['duplicate_requests'] + n['checks']['duplicate_requests']}"
        f"{' + ' + str(lat['checks']['duplicate_requests'])}, same key only)"
    )
    return "\n".join(rows)


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result shaped like each run's, every number the median over the runs (the first
    run's keys and texts; ``None`` where a run lacks the figure)."""

    def merge(values: list[Any]) -> Any:
        head = values[0]
        if isinstance(head, dict):
            return {
                k: merge([v.get(k) if isinstance(v, dict) else None for v in values]) for k in head
            }
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            return statistics.median(numbers)
        return head

    return merge(runs)


def _value(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _ms(q: dict[str, float], keys: tuple[str, ...] = ("p50", "p95", "p99", "max")) -> str:
    return " / ".join(_value(q[f"{k}_ms"], ",.1f") for k in keys)


def http_table(r: dict[str, Any], targets: dict[str, tuple[str, float]]) -> str:
    """The HTTP mode's results (one run's, or the medians of several) as a table."""
    m, s, d, lat, p = r["machine"], r["storm"], r["distinct"], r["latency"], r["post"]
    runs = r.get("runs")
    rows = [
        f"alertworker bench --http  {r['started_at']}"
        + (f"  (medians of {len(runs)} runs)" if runs else ""),
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"PostgreSQL {m['postgres']}, Redis {m['redis']}",
        f"load average at start {m['load_average_at_start']}, at end "
        f"{m.get('load_average_at_end')}: the machine may be shared, read ratios",
        *(f"{name + ':':<8} {' '.join(argv)}" for name, argv in r["commands"].items()),
        "",
        f"{'figure':<50}{'value':>26}  {'unit':<12}target",
        f"{'-' * 50}{'-' * 26}  {'-' * 12}{'-' * 18}",
    ]

    def row(
        name: str, value: float | str | None, unit: str, key: str = "", fmt: str = ",.0f"
    ) -> None:
        target = ""
        if key:
            op, bound = targets[key]
            target = f"{op} {bound:,}: {'met' if r['targets'][key] else 'MISSED'}"
        shown = value if isinstance(value, str) else _value(value, fmt)
        rows.append(f"{name:<50}{shown:>26}  {unit:<12}{target}".rstrip())

    def cpu(per: dict[str, float], key: str = "", pg_key: str = "") -> None:
        row("    ours: api + workers + beat", per["ours"], "µs", key)
        row("      api / workers / beat", " / ".join(_value(per[k]) for k in ("api", "workers",
            "beat")), "µs")  # fmt: skip
        row("    Postgres (the bench database's backends)", per["postgres"], "µs", pg_key)
        row("    Redis / RabbitMQ (whole server processes)",
            f"{_value(per.get('redis'))} / {_value(per.get('rabbitmq'))}", "µs")  # fmt: skip
        row("    the bench process (clients, receiver)", per["bench"], "µs")

    row("start: migrate, then api, workers, beat ready", r["start_seconds"], "s",
        "start_seconds", ",.1f")  # fmt: skip
    row(f"storm: {s['events']:,} events, {s['fingerprints']} fps, [{s['array']}] x "
        f"{s['clients']} clients", s["accepted_per_second"], "accepted/s",
        "storm_accepted_per_second")  # fmt: skip
    row("  processed (the throttle summary counts all)", s["processed_per_second"], "events/s")
    rows.append("  CPU per event:")
    cpu(s["cpu_us_per_event"], "storm_cpu_us_per_event")
    row(f"distinct: {d['events']:,} events, one webhook each", d["delivered_per_second"],
        "delivered/s", "distinct_delivered_per_second")  # fmt: skip
    row("  accepted", d["accepted_per_second"], "events/s")
    rows.append("  CPU per notification:")
    cpu(d["cpu_us_per_notification"], "distinct_cpu_us_per_notification",
        "distinct_postgres_us_per_notification")  # fmt: skip
    rows.append(
        f"latency: {lat['events']} single events at {lat['rate']:g}/s (achieved: HTTP "
        f"{lat['http']['rate_achieved']:.1f}/s, client {lat['client']['rate_achieved']:.1f}/s)"
    )
    row("  POST -> webhook p50/p95/p99/max", _ms(lat["http"]), "ms")
    for q in ("p50", "p99"):
        row(f"  {q}", lat["http"][f"{q}_ms"], "ms", f"latency_{q}_ms", ",.1f")
    row("  the POST answered, p50 / p99", _ms(lat["http"]["post_answered"], ("p50", "p99")), "ms")
    row("  Python client -> webhook p50/p95/p99/max", _ms(lat["client"]), "ms")
    row(f"post: one event per POST, one client ({p['single_posts']:,}): p50",
        p["one_client"]["p50_ms"], "ms", "post_p50_ms", ",.1f")  # fmt: skip
    row("  p95 / p99 / max", _ms(p["one_client"], ("p95", "p99", "max")), "ms")
    row(f"post: {p['clients']} clients ({p['concurrent_posts']:,} POSTs)",
        p["requests_per_second"], "requests/s", "post_requests_per_second")  # fmt: skip
    row("  answered p50 / p99", _ms(p["many_clients"], ("p50", "p99")), "ms")
    rows.append("  CPU per request while posting:")
    cpu(p["cpu_us_per_request_while_posting"])
    dupes = sum(r[w]["checks"]["duplicate_requests"] for w in ("storm", "distinct", "latency",
                "post"))  # fmt: skip
    rows += ["", "checks: every expected notification exists once, every event is accounted "
             "for, every delivery delivered", f"and received (duplicate requests: {dupes}, "
             "same Idempotency-Key only)"]  # fmt: skip
    return "\n".join(rows)
