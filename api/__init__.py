"""The thin Flask REST API of SPEC §6: ``create_app()`` and one blueprint per resource.

    gunicorn --config gunicorn.conf.py 'api:create_app()'   # gevent workers

Views load input through a schema, call one domain function of ``alertworker`` and dump the
result; errors are answered in one shape by ``api.errors``. The live stream (``api.stream``)
holds its connection open: gevent workers (``gunicorn.conf.py``) give each one a greenlet, so
neither streams nor slow clients use up the server.
"""

from __future__ import annotations

from flask import Flask

from alertworker.core.settings import Settings, load
from api import (
    catalog,
    configs,
    deliveries,
    docs,
    errors,
    escalation,
    events,
    health,
    inhibit_rules,
    me,
    notifications,
    openapi,
    preferences,
    schedules,
    silences,
    stream,
    test_alerts,
    trail,
    users,
    web,
)
from api.ext import Services, close_db

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 10 * 1024 * 1024  # 500 events of up to 16 KiB context each, and then some


def create_app(settings: Settings | None = None) -> Flask:
    """The Flask app for ``settings`` (default: from the environment)."""
    settings = settings or load()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, SSE_HEARTBEAT_SECONDS=15.0)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["alertworker"] = Services.build(settings)
    app.teardown_appcontext(close_db)
    app.after_request(health.count_request)
    errors.register(app)
    for module in (
        configs, notifications, stream, preferences, events, test_alerts,
        users, schedules, escalation, silences, inhibit_rules, deliveries, catalog, me, trail,
    ):  # fmt: skip
        app.register_blueprint(module.bp, url_prefix=API_PREFIX)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(docs.bp)
    return app
