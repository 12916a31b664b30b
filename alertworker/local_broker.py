"""How `alertworker run` tells the other processes of the machine where its broker is (SPEC §10).

With no ``BROKER_URL``, the embedded run serves a Redis-protocol broker on 127.0.0.1 (fakeredis's
TCP server: the production Redis transport, guard included) and writes ``broker.json`` in its
data folder (``var/``, or ``ALERTWORKER_DATA_DIR``) with the broker's URL, key prefix and its
pid; it removes the file on exit. A client with no broker URL, in the same working directory,
reads the file (:func:`find`); a file whose process is gone (a killed run) is stale and refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from alertworker.core.settings import data_dir

FILE_NAME = "broker.json"


class NoLocalBroker(LookupError):
    """No running `alertworker run` serves a broker from this data folder."""


@dataclass(frozen=True)
class LocalBroker:
    url: str
    key_prefix: str
    pid: int


def path(folder: Path | None = None) -> Path:
    return (folder or data_dir()) / FILE_NAME


def read(folder: Path | None = None) -> LocalBroker | None:
    """The broker the file announces (alive or not), or None without a readable file."""
    try:
        raw = json.loads(path(folder).read_text())
        return LocalBroker(str(raw["url"]), str(raw["key_prefix"]), int(raw["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find(folder: Path | None = None) -> LocalBroker:
    """The running embedded service's broker, or :class:`NoLocalBroker` saying why there is none."""
    file = path(folder)
    broker = read(folder)
    if broker is None:
        state = "is not readable" if file.exists() else "does not exist"
        raise NoLocalBroker(
            f"no broker: BROKER_URL is not set and {file} {state} "
            "(start `alertworker run` in this directory, or set BROKER_URL)"
        )
    if not alive(broker.pid):
        raise NoLocalBroker(
            f"no broker: BROKER_URL is not set and {file} is stale (its `alertworker run`, "
            f"pid {broker.pid}, is gone); start `alertworker run` again, or set BROKER_URL"
        )
    return broker


def write(broker: LocalBroker, folder: Path | None = None) -> Path:
    """Announce ``broker`` atomically (a reader never sees half a file)."""
    file = path(folder)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{FILE_NAME}.{os.getpid()}")
    tmp.write_text(json.dumps(asdict(broker)))
    os.replace(tmp, file)
    return file


def remove(pid: int, folder: Path | None = None) -> None:
    """Remove the file if it is still the one process ``pid`` wrote."""
    broker = read(folder)
    if broker is not None and broker.pid == pid:
        path(folder).unlink(missing_ok=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
