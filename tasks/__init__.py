"""The Celery app and its thin tasks: ``celery -A tasks worker`` / ``celery -A tasks beat``.

Tasks take primitive ids or raw event lists, build nothing themselves, and call one domain
function each (``alertworker.ingest.pipeline``, ``alertworker.delivery.deliveries``).
"""

from tasks import delivery, ingest, maintenance, noop  # noqa: F401,E402  (register the tasks)
from tasks.app import app

__all__ = ["app"]
