"""Fixtures and helpers shared by the API tests (``from test_api_support import ...``).

``app``/``client`` run the real app on this run's Postgres, Redis and broker; ``caller`` makes
a token through the domain (as the CLI does) and returns it with its tenant and headers;
``add_notification`` writes notification rows the way the pipeline would.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from alertworker.core.catalog import EVENTS_QUEUE
from alertworker.core.models import AlertNotification, NotificationDelivery
from alertworker.tenants.auth import SCOPES, create_token
from api import create_app

API = "/api/v1"


@dataclass
class Caller:
    token: str
    tenant_id: int
    tenant_slug: str
    user_id: int

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["SSE_HEARTBEAT_SECONDS"] = 0.5
    yield app
    app.extensions["alertworker"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def caller(session_factory):
    def _make(tenant: str = "acme", email: str = "admin@acme.test", scopes=SCOPES) -> Caller:
        with session_factory() as session:
            row, token = create_token(session, tenant, email, list(scopes))
            return Caller(token, row.tenant_id, tenant, row.user_id)

    return _make


def add_notification(
    session_factory,
    tenant_id: int,
    config_id: int | None = None,
    deliveries: tuple[str, ...] = ("in_app",),
    **values: Any,
) -> int:
    now = datetime.now(UTC)
    row = AlertNotification(**{
        "event_id": uuid.uuid4().hex, "alert_type": "high_latency", "severity": "warning",
        "title": "p95 over 5s", "message": "", "fingerprint": "fp", "occurred_at": now,
        "context": {"provider_name": "openai", "latency_ms": 7200}, "last_occurred_at": now,
    } | values, tenant_id=tenant_id, config_id=config_id)  # fmt: skip
    with session_factory() as session:
        session.add(row)
        session.flush()
        for channel in deliveries:
            session.add(NotificationDelivery(
                notification_id=row.id, tenant_id=tenant_id, channel=channel,
                status="delivered" if channel == "in_app" else "failed", attempts=1,
                last_error=None if channel == "in_app" else "HTTP 500 from receiver",
            ))  # fmt: skip
        session.commit()
        return row.id


def assert_error(response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the §6 error shape with ``status``; returns the error object."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["fields"], dict)
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def slack_config(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Latency to Slack",
        "alert_type": "high_latency",
        "channels": ["in_app", "slack"],
        "channel_config": {"slack": {"webhook_url": SLACK_URL, "channel": "#ops"}},
    }
    return body | overrides


SLACK_URL = "http://127.0.0.1:9/services/T000/B000/slacksecret123"


def enqueued(redis_client, settings) -> list[dict[str, Any]]:
    """Every event in the broker's alerts.events queue (oldest first)."""
    events = []
    for raw in reversed(redis_client.lrange(settings.redis_key_prefix + EVENTS_QUEUE, 0, -1)):
        envelope = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        events.extend(args[0])
    return events
