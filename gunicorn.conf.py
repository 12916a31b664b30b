"""gunicorn settings for the API (`gunicorn --config gunicorn.conf.py 'api:create_app()'`).

gevent workers: every connection is a greenlet, so clients that send their headers or body
slowly (or never) cost a socket each, never a thread, and the live stream (SSE) holds one
greenlet per open stream. psycopg2 is made cooperative (psycogreen), so a query does not
block the worker's other connections. Up to WORKER_CONNECTIONS connections per process.
BIND, WEB_CONCURRENCY and WORKER_CONNECTIONS come from the env.

The access log names the method, the path without its query string, the status, size and
duration: never the query, the user name of HTTP Basic, a header or the referrer, any of
which may carry a token.
"""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
timeout = 60
graceful_timeout = 30
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


def post_worker_init(worker):
    """psycopg2 waits through gevent's hub instead of blocking the whole worker."""
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


def child_exit(server, worker):
    """Drop a dead worker's live metrics (prometheus multi-process mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
