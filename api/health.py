"""``/healthz`` (liveness), ``/readyz`` (Postgres, Redis, broker) and ``/metrics``, without auth.

``/metrics`` is the default registry's ``generate_latest()``; with ``PROMETHEUS_MULTIPROC_DIR``
set (gunicorn with several workers, see ``gunicorn.conf.py``) it sums every worker's files.
It adds ``alertworker_queue_depth{queue=…}``, asked of the broker at scrape time.
"""

from __future__ import annotations

import logging
import os

from flask import Blueprint, Response, request
from kombu import Connection
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import text

from alertworker.client import broker_transport_options, resolve_broker
from alertworker.core.queues import queue_depths
from alertworker.core.settings import Settings
from api.errors import ApiError
from api.ext import Services, services
from api.io import doc

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
TIMEOUT = 2.0

API_REQUESTS = Counter(
    "alertworker_api_requests_total", "API requests answered", ["method", "route", "status"]
)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def count_request(response: Response) -> Response:
    """after_request hook: one count per response, labelled by route pattern (not raw path);
    any other method is ``other``, so no client can add series without bound."""
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in METHODS else "other"
    API_REQUESTS.labels(method, rule, str(response.status_code)).inc()
    return response


def _database(svc: Services) -> None:
    with svc.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _redis(svc: Services) -> None:
    svc.redis.ping()


def _broker(svc: Services) -> None:
    url, prefix = resolve_broker(svc.settings.broker_url, svc.settings.redis_key_prefix)
    options = broker_transport_options(url, prefix, TIMEOUT)
    with Connection(url, transport_options=options, connect_timeout=TIMEOUT) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT)


CHECKS = {"database": _database, "redis": _redis, "broker": _broker}


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return {"status": "ok"}


@bp.get("/readyz")
@doc(errors=(503,))
def readyz():
    """Readiness: Postgres, Redis and the broker answer; 503 naming what is down."""
    svc, down = services(), {}
    for name, check in CHECKS.items():
        try:
            check(svc)
        except Exception as exc:  # any failure means "not ready"; the reason is in the log
            log.warning("readiness: %s is down (%s)", name, type(exc).__name__)
            down[name] = [f"unreachable ({type(exc).__name__})"]
    if down:
        raise ApiError(503, "not ready: " + ", ".join(down) + " down", fields=down)
    return {"status": "ok", "checks": {name: "ok" for name in CHECKS}}


@bp.get("/metrics")
def metrics():
    """Prometheus metrics, text format (summed over gunicorn workers in multi-process mode)."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    depth = CollectorRegistry()
    QueueDepth(services().settings, depth)
    body = generate_latest(registry) + generate_latest(depth)
    return Response(body, content_type=CONTENT_TYPE_LATEST)


class QueueDepth:
    """A collector of the broker's queue depths; nothing when the broker does not answer."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        registry.register(self)

    def collect(self):
        try:
            depths = queue_depths(self.settings, TIMEOUT)
        except Exception as exc:  # a scrape must not fail because the broker is down
            log.warning("queue depth unavailable: %s", type(exc).__name__)
            return
        gauge = GaugeMetricFamily("alertworker_queue_depth", "Messages waiting", labels=["queue"])
        for queue, n in depths.items():
            gauge.add_metric([queue], n)
        yield gauge
