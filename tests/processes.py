"""Start the real commands (celery worker/beat, gunicorn) as subprocesses for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from alertworker.bench.procs import stop_group

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

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
