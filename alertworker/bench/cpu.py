"""CPU time per group of processes over a window, from ``/proc`` (utime + stime), for the HTTP mode.

* ``api``, ``workers``, ``beat`` (``ours`` is their sum): the whole tree of each process the
  bench started with a compose command (gunicorn's master and its workers, each
  ``celery worker`` and its pool, beat), children that exited included (cutime + cstime of the
  parent that reaped them);
* ``postgres``: the backends serving the bench's database, the bench's own connections
  (``application_name`` ``alertworker-bench``) left out. They are the postmaster's children, not
  ours, so they are sampled every 0.2 s: a backend that exits inside the window loses at most
  its last 0.2 s. Postgres's shared background processes (WAL writer, checkpointer) are not in it;
* ``redis`` (``redis-server``, its pid from ``INFO server``) and ``rabbitmq`` (``beam.smp``):
  the whole server process, so also whatever else uses it on a shared machine;
* ``bench``: this process (the HTTP clients and the receiver), for scale.

With a ``profile`` folder, each window also runs ``py-spy record --subprocesses`` (non-blocking,
raw collapsed stacks) on every root, written to ``<folder>/<label>-<group>-<pid>.txt``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from alertworker.bench.procs import BIN, cpu_seconds, tree_cpu_seconds

BENCH_APP = "alertworker-bench"
_BACKENDS = text(
    "SELECT pid FROM pg_stat_activity WHERE datname = :db "
    "AND coalesce(application_name, '') <> :bench AND backend_type = 'client backend'"
)


def find_process(name: str) -> int | None:
    """The pid of a process whose command name is ``name`` (the first found), if any."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == name:
                    return int(entry)
            except OSError:
                continue
    return None


class Meter:
    """``window = meter.start(); ...; seconds = window.stop()`` per group, see the module."""

    def __init__(
        self,
        admin_url: str,
        dbname: str,
        roots: Callable[[], dict[str, list[int]]],
        servers: dict[str, int],
        profile: Path | None = None,
    ) -> None:
        self.engine = create_engine(admin_url, pool_size=1, max_overflow=0)
        self.dbname = dbname
        self.roots = roots  # group name -> the root pids of its process trees
        self.servers = servers  # group name -> pid, e.g. {"redis": 2212, "rabbitmq": 2941}
        self.profile = profile
        self.py_spy = str(BIN / "py-spy") if (BIN / "py-spy").exists() else shutil.which("py-spy")
        if profile is not None and self.py_spy is None:
            raise RuntimeError("profiling needs py-spy: .venv/bin/pip install py-spy")

    def backends(self) -> dict[int, float]:
        with self.engine.connect() as conn:
            pids = conn.execute(_BACKENDS, {"db": self.dbname, "bench": BENCH_APP}).scalars()
            return {pid: cpu_seconds([pid]) for pid in pids}

    def totals(self) -> dict[str, float]:
        now = {name: cpu_seconds([pid]) for name, pid in self.servers.items()}
        for name, pids in self.roots().items():
            now[name] = sum(tree_cpu_seconds(pid) for pid in pids)
        now["bench"] = cpu_seconds([os.getpid()])
        return now

    def start(self, label: str) -> Window:
        return Window(self, label)

    def close(self) -> None:
        self.engine.dispose()


class Window:
    def __init__(self, meter: Meter, label: str) -> None:
        self.meter = meter
        self.profilers = [] if meter.profile is None else self._profile(meter.profile, label)
        self.first = meter.backends()
        self.last = dict(self.first)
        self.began = meter.totals()
        self.at = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-cpu", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            try:
                self.last.update(self.meter.backends())
            except Exception:  # a missed sample costs at most 0.2 s of one backend
                continue

    def _profile(self, folder: Path, label: str) -> list[subprocess.Popen]:
        folder.mkdir(parents=True, exist_ok=True)
        return [
            subprocess.Popen(
                [
                    str(self.meter.py_spy),
                    "record",
                    "--subprocesses",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--rate",
                    "50",
                    "-p",
                    str(pid),
                    "-o",
                    str(folder / f"{label}-{group}-{pid}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for group, pids in self.meter.roots().items()
            if group != "beat"
            for pid in pids
        ]

    def stop(self) -> dict[str, Any]:
        """CPU seconds per group since the start, and the window's wall-clock seconds."""
        for profiler in self.profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for profiler in self.profilers:
            profiler.wait(60)
        self._done.set()
        self._thread.join(5)
        self.last.update(self.meter.backends())
        ended = self.meter.totals()
        out: dict[str, Any] = {k: round(ended[k] - self.began[k], 3) for k in ended}
        pg = sum(v - self.first.get(pid, 0.0) for pid, v in self.last.items())
        out["postgres"] = round(pg, 3)
        out["wall_seconds"] = round(time.monotonic() - self.at, 3)
        return out
