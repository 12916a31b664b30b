"""What the benchmark shows: a progress bar on stderr, the table on stdout, the JSON file.

The progress bar is plain text: redrawn in place on a terminal, a line per quarter otherwise.
"""

from __future__ import annotations

import json
import os
import platform
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


def write_json(results: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"bench-{stamp}.json"
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
