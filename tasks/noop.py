"""``alertworker.noop``: a task that does nothing, the floor the benchmark compares against.

It runs through the same broker, queue (``alerts.events``, the default) and worker settings as
the real tasks, so its drain rate is what Celery itself costs per message on this machine.
"""

from __future__ import annotations

from typing import Any

from tasks.app import app

NOOP_TASK = "alertworker.noop"


@app.task(name=NOOP_TASK)
def noop(*_: Any, **__: Any) -> None:
    """Nothing at all."""
