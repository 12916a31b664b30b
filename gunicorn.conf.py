"""gunicorn settings for the API (`gunicorn --config gunicorn.conf.py 'api:create_app()'`).

gthread workers: the live notification stream (SSE) holds one thread per open stream, so each
process serves THREADS requests at once. BIND, WEB_CONCURRENCY and THREADS come from the env.
"""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "16"))
timeout = 60
graceful_timeout = 30
accesslog = "-"


def child_exit(server, worker):
    """Drop a dead worker's live metrics (prometheus multi-process mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
