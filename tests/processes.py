"""Start the real commands (celery worker/beat, gunicorn) as subprocesses for end-to-end tests.

:func:`start_stack` runs docker-compose.yml's own commands: migrate, the API, two processes of
each worker service (events; deliveries) and beat.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from alertworker.bench.procs import stop_group, worker_services
from tests.receivers import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]

WORKER_ARGS = [
    "worker",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
    "-l",
    "info",
]


class Proc:
    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, ready: str | None, cwd: Path = ROOT
    ) -> None:
        self.log = log
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                args,
                cwd=cwd,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if ready:
            try:
                wait_for(lambda: ready in self.output() or not self.alive(), 60, self.output)
                if not self.alive():
                    raise RuntimeError(f"{args[0]} exited early:\n{self.output()[-3000:]}")
            except BaseException:
                self.stop()
                raise

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        os.killpg(self.popen.pid, sig)

    def stop(self) -> None:
        stop_group(self.popen)


def celery(env: dict[str, str], log: Path, *args: str, ready: str | None = "ready.") -> Proc:
    return Proc([str(BIN / "celery"), "-A", "tasks", *args], env, log, ready)


def command(argv: list[str]) -> list[str]:
    """A command as written in docker-compose.yml, with its program taken from this venv."""
    return [str(BIN / argv[0]), *argv[1:]]


def wait_for(predicate: Callable[[], object], timeout: float, describe: Callable[[], str] = str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s: {describe()[-3000:]}")


def start_stack(env: dict[str, str], tmp_path: Path, procs: dict[str, Proc]) -> str:
    """Run migrate, then start api, two processes of each worker service (worker1, worker2,
    delivery1, delivery2) and beat into ``procs`` with their compose commands and ``env``;
    returns the API's URL. The caller stops ``procs``, even on failure."""
    port = free_port()
    env.update({"BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"})
    full_env = {**os.environ, **env}
    subprocess.run(command(SERVICES["migrate"]["command"]), cwd=ROOT, env=full_env, check=True,
                   timeout=120)  # fmt: skip
    procs["api"] = Proc(
        command(SERVICES["api"]["command"]), env, tmp_path / "api.log", "Booting worker"
    )
    for service in worker_services(ROOT / "docker-compose.yml"):  # worker, delivery
        for i in (1, 2):
            name = f"{service}{i}"
            metrics_dir = tmp_path / f"prom-{name}"
            metrics_dir.mkdir()
            worker_env = {
                **env,
                "WORKER_METRICS_PORT": str(free_port()),
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            }
            # In compose each container has its own hostname, hence its own node name; here
            # they share one host, so they are named apart (RabbitMQ insists: exclusive pidbox).
            argv = [*command(SERVICES[service]["command"]), "--hostname", f"{name}@%h"]
            procs[name] = Proc(argv, worker_env, tmp_path / f"{name}.log", "ready.")
            procs[name].metrics_port = worker_env["WORKER_METRICS_PORT"]
    (tmp_path / "var").mkdir()
    beat = command(SERVICES["beat"]["command"])
    procs["beat"] = Proc(beat, env, tmp_path / "beat.log", "beat: Starting", cwd=tmp_path)
    return f"http://127.0.0.1:{port}"


def logs(procs: dict[str, Proc], tail: int = 1500) -> str:
    return "\n".join(f"--- {name}\n{p.output()[-tail:]}" for name, p in procs.items())
