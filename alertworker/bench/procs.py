"""Worker processes for the benchmark: the compose file's own command, and what /proc says of it.

:func:`worker_argv` reads ``docker-compose.yml``'s ``worker`` command and changes only its
``--concurrency`` (so a figure divided by it is *per worker process*) and drops its ``--queues``
(so that one process also takes the deliveries, which compose gives its ``delivery`` service).
:class:`Worker` starts it in its own session (Ctrl-C on the bench never reaches it half-way;
:meth:`Worker.stop` ends the whole process group), and reads CPU time (utime + stime of the
main process and its pool children) and peak memory (``VmHWM``) from ``/proc``.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
_TICKS = os.sysconf("SC_CLK_TCK")


def compose_service(compose_file: Path, service: str | None) -> dict:
    """One service of the compose file, as parsed (with None: all of them, by name)."""
    try:
        import yaml
    except ImportError as exc:  # pyyaml comes with the dev extra (make install)
        raise RuntimeError("the benchmark needs pyyaml: pip install -e '.[dev]'") from exc
    services = yaml.safe_load(compose_file.read_text())["services"]
    return services if service is None else services[service]


def _argv(command: str | list) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def compose_command(compose_file: Path, service: str) -> list[str]:
    """A service's ``command``, its program taken from this venv when it is there."""
    argv = _argv(compose_service(compose_file, service)["command"])
    local = BIN / argv[0]
    return [str(local) if local.exists() else argv[0], *argv[1:]]


def worker_services(compose_file: Path) -> list[str]:
    """The services that run ``celery worker`` (``worker``, ``delivery``), in file order."""
    services = compose_service(compose_file, None)
    return [
        name
        for name, service in services.items()
        if "worker" in _argv(service.get("command") or [])[:4]
    ]


def worker_argv(compose_file: Path, concurrency: int) -> list[str]:
    """The ``worker`` service's command with ``--concurrency`` set and without ``--queues``
    (one process takes every queue, the deliveries' too); the program from this venv."""
    argv = compose_command(compose_file, "worker")
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--concurrency", "-c", "--queues", "-Q"):
            skip = True
        elif not arg.startswith(("--concurrency=", "-c=", "--queues=", "-Q=")):
            out.append(arg)
    return [*out, "--concurrency", str(concurrency)]


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, ()))
    return found


def cpu_seconds(pids: list[int], reaped: bool = False) -> float:
    """utime + stime of these processes; with ``reaped``, plus cutime + cstime (the children
    each one has waited for), so a whole tree's total holds across children that exit."""
    ticks = 0
    for pid in pids:
        if (fields := _stat(pid)) is not None:
            ticks += sum(int(f) for f in fields[11 : 15 if reaped else 13])
    return ticks / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every process below it, those that exited included."""
    return cpu_seconds(descendants(pid), reaped=True)


def peak_rss_mib(pids: list[int]) -> float:
    """The largest ``VmHWM`` (peak resident set) among these processes, in MiB."""
    peak = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


class Worker:
    """One subprocess (a ``celery worker``, or any of the compose commands), output in ``log``."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.argv = argv
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60, marker: str = "ready.") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited early:\n{self.output()[-3000:]}")
            if marker in self.output():
                return
            time.sleep(0.02)
        raise RuntimeError(f"{self.argv[0]} not ready after {timeout}s:\n{self.output()[-3000:]}")

    def pids(self) -> list[int]:
        return descendants(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())

    def peak_rss_mib(self) -> float:
        return peak_rss_mib(self.pids())

    def stop(self) -> None:
        stop_group(self.popen)


def stop_group(popen: subprocess.Popen) -> None:
    """A warm shutdown of the main process, then nothing left of its process group."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    popen.wait(10)
