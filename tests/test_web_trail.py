"""The admin page's "Why?" box (SPEC §17): an event id in, its trail out, each outcome with
its reason and a link to the notification; an unknown id is explained."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from alertworker.core import models
from alertworker.ingest.pipeline import Pipeline
from tests.test_web import admin_token, live_server, page, playwright_api, worker  # noqa: F401


def test_why_shows_an_events_trail(page, admin_token, settings, session_factory, redis_client):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    with session_factory() as s:
        tenant_id = s.scalars(select(models.Tenant.id)).one()
        s.add(models.AlertConfig(tenant_id=tenant_id, name="slow openai", alert_type="high_latency",
                                 severity="warning", channels=["in_app"], channel_config={},
                                 conditions={"latency_ms": 5000}))  # fmt: skip
        s.commit()
    slow, fast = (str(uuid.uuid4()) for _ in range(2))
    Pipeline(settings, session_factory, redis_client).process([
        {"event_id": slow, "tenant_id": "acme", "alert_type": "high_latency", "title": "slow",
         "context": {"provider_name": "openai", "latency_ms": 9000}},
        {"event_id": fast, "tenant_id": "acme", "alert_type": "high_latency", "title": "fast",
         "context": {"provider_name": "anthropic", "latency_ms": 3000}},
    ])  # fmt: skip

    page.goto("/alerts")
    page.fill("#token", admin_token)
    page.keyboard.press("Enter")
    expect(page.locator("#why-view")).to_be_visible()
    page.fill("#why-id", fast)
    page.click("#why-form button[type=submit]")
    outcome = page.locator("#why-result .trail-outcome")
    expect(outcome).to_have_attribute("data-outcome", "condition_not_met")
    expect(outcome).to_contain_text("context.latency_ms = 3000 is below 5000")
    expect(outcome).to_contain_text("slow openai")

    page.fill("#why-id", slow)
    page.keyboard.press("Enter")
    expect(outcome).to_have_attribute("data-outcome", "notified")
    expect(outcome.locator("a.trail-link")).to_have_attribute("data-notification-id", "1")
    expect(outcome).to_contain_text("in_app: delivered")

    page.fill("#why-id", str(uuid.uuid4()))
    page.keyboard.press("Enter")
    expect(page.locator("#why-error")).to_contain_text("No such event")
    assert not [p for p in page.problems if "404" not in p], page.problems
