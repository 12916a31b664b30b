"""The admin page at /alerts (SPEC §1), driven in a real browser: Debian's chromium, headless,
through Playwright, against a live server started here (the app served by werkzeug in a thread)
and a real Celery worker subprocess, so a test alert travels the whole way: event, notification,
webhook delivery to a local receiver, live stream, bell.

Screenshots of the main states go to ``test-artifacts/web/``; with ``UPDATE_SCREENSHOTS=1``
the README's ``docs/alerts-page.png`` is refreshed too. In CI (``CI`` set) a missing chromium
or playwright fails the test instead of skipping it (``.ci/run`` installs chromium).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from alertworker.core import models
from alertworker.tenants.auth import create_token
from api import create_app
from tests.processes import ROOT, WORKER_ARGS, celery, wait_for

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = ROOT / "test-artifacts" / "web"
DOC_SCREENSHOT = ROOT / "docs" / "alerts-page.png"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _need(what: str, hint: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; {hint}")
    pytest.skip(f"{what} is missing ({hint})")


@pytest.fixture(scope="module")
def playwright_api():
    if not Path(CHROMIUM).exists():
        _need(CHROMIUM, ".ci/run installs it: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright", "pip install -e '.[dev]'")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def worker(test_env, settings, tmp_path):
    proc = celery(test_env, tmp_path / "worker.log", *WORKER_ARGS, "-c", "2")
    yield proc
    proc.stop()


@pytest.fixture
def live_server(settings, worker) -> Iterator[str]:
    app = create_app(settings)
    app.config["SSE_HEARTBEAT_SECONDS"] = 0.5  # a closed page's stream ends within a second
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web-test", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()
    svc = app.extensions["alertworker"]
    streams = f"{settings.redis_key_prefix}stream:*"
    deadline = time.monotonic() + 10
    while svc.redis.pubsub_channels(streams) and time.monotonic() < deadline:
        time.sleep(0.1)  # let open streams notice their page is gone and let go of Redis
    svc.close()


@pytest.fixture
def page(playwright_api, live_server):
    """A fresh chromium profile and page; console errors and page errors are collected."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="aw-chromium-")
    context = playwright_api.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=FLAGS, headless=True, viewport=DESKTOP,
        base_url=live_server, reduced_motion="reduce",
    )  # fmt: skip
    context.set_default_timeout(20_000)
    page = context.pages[0] if context.pages else context.new_page()
    page.problems = []
    page.on("pageerror", lambda exc: page.problems.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: _console(page, msg))
    try:
        yield page
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def admin_token(session_factory) -> str:
    with session_factory() as session:
        return create_token(session, "acme", "admin@acme.test", "alerts:read,alerts:write")[1]


def _console(page, msg) -> None:
    """Keep console errors, except the browser's own note of the 401 and 422 the test provokes."""
    expected = msg.text.startswith("Failed to load resource: the server responded with a status")
    if msg.type == "error" and not expected:
        page.problems.append(f"console: {msg.text}")


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def add_showcase_configs(session_factory, tenant_id: int) -> None:
    """Two more configs, straight into the database, so the screenshots show a fuller page."""
    rows = [
        {"name": "OpenAI circuit breaker", "alert_type": "circuit_breaker_opened",
         "severity": "error", "channels": ["in_app", "email", "slack"],
         "description": "Page the on-call when a provider keeps failing.",
         "channel_config": {"email": {"recipients": ["oncall@acme.test"]},
                            "slack": {"webhook_url": "https://hooks.slack.com/services/T0/B0/x",
                                      "channel": "#alerts"}},
         "conditions": {"min_consecutive_failures": 5}},
        {"name": "Token quota exhausted", "alert_type": "quota_exhausted",
         "severity": "critical", "channels": ["in_app", "email"], "is_active": False,
         "channel_config": {"email": {"recipients": ["finance@acme.test"]}},
         "cooldown_minutes": 60},
    ]  # fmt: skip
    with session_factory() as session:
        session.add_all(models.AlertConfig(tenant_id=tenant_id, **row) for row in rows)
        session.commit()


def test_admin_page_end_to_end(page, live_server, admin_token, session_factory, http_receiver):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)

    # The page is a static shell with a strict CSP.
    response = page.goto("/alerts")
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe" not in csp

    # Paste a token: a wrong one is refused, the right one is kept for the tab.
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token", "aw_not-a-real-token")
    page.keyboard.press("Enter")
    expect(page.locator("#login-error")).to_contain_text("invalid")
    page.fill("#token", admin_token)
    page.click("#login button[type=submit]")
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")
    assert page.evaluate("sessionStorage.getItem('alertworker.token')") == admin_token
    shot(page, "01-empty-state")

    # The modal: focus moves in, Esc closes it, focus returns to the button that opened it.
    page.click("#empty-create")
    expect(page.locator("#config-modal")).to_be_visible()
    assert focused_id(page) == "f-name"
    for _ in range(40):  # Tab never leaves the dialog
        page.keyboard.press("Tab")
        assert page.evaluate(
            "document.querySelector('#config-modal .dialog').contains(document.activeElement)"
        )
    page.keyboard.press("Escape")
    expect(page.locator("#config-modal")).to_be_hidden()
    assert focused_id(page) == "empty-create"

    # Create a webhook config through the form, with a client-side and a server-side error.
    page.keyboard.press("Enter")
    expect(page.locator("#config-modal")).to_be_visible()
    page.fill("#f-description", "Latency over 8 s on OpenAI, to the platform team's webhook.")
    page.select_option("#f-type", "high_latency")
    page.check("#f-channel-webhook")
    expect(page.locator("#cc-webhook")).to_be_visible()
    page.fill("#f-webhook-url", "http://169.254.169.254/hook")
    page.click("#save-config")
    name_error = page.locator("#f-name").locator("xpath=..").locator(".field-error")
    expect(name_error).to_have_text("Enter a name.")
    expect(page.locator("#f-name")).to_have_attribute("aria-invalid", "true")
    assert focused_id(page) == "f-name"
    shot(page, "02-validation-client")

    page.fill("#f-name", "OpenAI latency")
    page.click("#save-config")  # passes the client checks; the API refuses the address (422)
    url_error = page.locator("#f-webhook-url").locator("xpath=..").locator(".field-error")
    expect(url_error).to_contain_text("https")
    expect(page.locator("#f-webhook-url")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name")).not_to_have_attribute("aria-invalid", "true")
    shot(page, "03-validation-api-422")

    page.fill("#f-webhook-url", http_receiver.url())
    page.click("#add-header")
    page.locator(".header-row .header-name").fill("X-Team")
    page.locator(".header-row .header-value").fill("platform")
    page.fill("#f-webhook-secret", "s3cret-signing-key")
    page.fill("#c-latency_ms", "8000")
    page.fill("#c-provider_names", "openai, azure")
    page.fill("#f-cooldown", "30")
    page.fill("#f-auto-resolve", "120")
    page.check("#f-channel-pagerduty")  # a short key is caught before it is sent
    page.fill("#f-pagerduty-key", "short")
    page.check("#f-channel-sms")
    page.fill("#f-sms-numbers", "+4915112345678, 0151 1234")
    page.click("#save-config")
    key_error = page.locator("#f-pagerduty-key").locator("xpath=..").locator(".field-error")
    expect(key_error).to_contain_text("32 letters and digits")
    sms_error = page.locator("#f-sms-numbers").locator("xpath=..").locator(".field-error")
    expect(sms_error).to_contain_text("0151 1234")
    page.uncheck("#f-channel-pagerduty")
    page.uncheck("#f-channel-sms")
    page.click("#save-config")
    expect(page.locator("#config-modal")).to_be_hidden()
    card = page.locator(".config-card", has_text="OpenAI latency")
    expect(card).to_be_visible()
    expect(card.locator(".sev")).to_have_text("warning")
    expect(card.locator(".channel-name")).to_have_text(["In-app", "Webhook"])
    with session_factory() as session:
        config = session.scalars(select(models.AlertConfig)).one()
    assert config.channels == ["in_app", "webhook"] and config.severity == "warning"
    assert config.channel_config["webhook"] == {
        "url": http_receiver.url(),
        "headers": {"X-Team": "platform"},
        "secret": "s3cret-signing-key",
    }
    assert config.conditions == {"latency_ms": 8000, "provider_names": ["openai", "azure"]}
    assert config.cooldown_minutes == 30
    assert (config.auto_resolve_minutes, config.notify_on_resolve) == (120, True)

    # Toggle it off and on: each flip is a PATCH at once.
    card.locator(".switch").click()
    expect(card).to_have_attribute("data-active", "false")
    expect(card.locator(".switch-text")).to_have_text("Paused")
    assert _is_active(session_factory, config.id) is False
    card.locator(".switch").click()
    expect(card).to_have_attribute("data-active", "true")
    assert _is_active(session_factory, config.id) is True

    # Edit and save unchanged: the masked secrets sent back keep the stored ones.
    card.locator("[data-action=edit]").click()
    expect(page.locator("#config-modal-title")).to_have_text("Edit “OpenAI latency”")
    expect(page.locator("#f-webhook-url")).to_have_value(http_receiver.url())
    expect(page.locator("#f-webhook-secret")).to_have_value("")
    expect(page.locator("#f-webhook-secret-remove-row")).to_be_visible()
    page.click("#save-config")
    expect(page.locator("#config-modal")).to_be_hidden()
    with session_factory() as session:
        hook = session.get(models.AlertConfig, config.id).channel_config["webhook"]
    assert hook["secret"] == "s3cret-signing-key" and hook["headers"] == {"X-Team": "platform"}

    # Send a test alert: it reaches the receiver, and the bell counts it without a reload.
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#unread")).to_be_hidden()
    card.locator("[data-action=test]").click()
    expect(card.locator(".test-result")).to_contain_text("arrived as notification")
    expect(page.locator("#unread")).to_have_text("1")
    expect(page.locator("#bell")).to_have_attribute("aria-label", "Notifications, 1 unread")
    assert page.evaluate("window.__sameDocument") is True
    wait_for(lambda: http_receiver.requests, 20)
    delivered = json.loads(http_receiver.requests[0].body)
    assert delivered["is_test"] is True and delivered["alert_type"] == "high_latency"
    assert http_receiver.requests[0].headers["X-Team"] == "platform"
    wait_for(lambda: _delivery_statuses(session_factory) == {"delivered"}, 20)
    shot(page, "04-test-alert-bell")

    # The notification centre: open the notification, see its deliveries, acknowledge it.
    page.click("#bell")
    expect(page.locator("#centre")).to_be_visible()
    item = page.locator("#notification-list .notification").first
    expect(item.locator(".notification-title")).to_have_text("[TEST] High latency on openai")
    expect(item.locator(".sev")).to_have_text("warning")
    expect(item).to_have_attribute("data-read", "false")
    item.locator(".notification-summary").click()
    deliveries = item.locator(".deliveries tbody tr")
    expect(deliveries).to_have_count(2)
    expect(item.locator("tr[data-channel=webhook] .status")).to_have_text("delivered")
    expect(item.locator("tr[data-channel=in_app] .status")).to_have_text("delivered")
    shot(page, "05-notification-detail")
    expect(item.locator(".notification-state")).to_have_text("firing")
    item.locator("[data-action=acknowledge]").click()
    expect(item).to_have_attribute("data-acknowledged", "true")
    expect(item.locator(".notification-state")).to_have_text("acknowledged")
    expect(item.locator("[data-action=acknowledge]")).to_be_disabled()
    expect(page.locator("#unread")).to_be_hidden()
    with session_factory() as session:
        notification = session.scalars(select(models.AlertNotification)).one()
    assert notification.acknowledged_at is not None and notification.read_at is not None
    assert notification.state == "acknowledged"

    # Resolve it: the state shows, and the webhook gets the resolve (SPEC §13).
    item.locator("[data-action=resolve]").click()
    expect(item).to_have_attribute("data-state", "resolved")
    expect(item.locator(".notification-state")).to_have_text("resolved")
    expect(item.locator("[data-action=resolve]")).to_be_disabled()
    expect(page.locator("#centre-status")).to_have_text("Resolved.")
    wait_for(lambda: len(http_receiver.requests) == 2, 20)
    resolved = json.loads(http_receiver.requests[1].body)
    assert (resolved["status"], resolved["notification_id"]) == ("resolved", notification.id)
    expect(item.locator("tr[data-kind=resolve] .status")).to_have_count(1)
    shot(page, "05b-resolved")
    page.keyboard.press("Escape")
    expect(page.locator("#centre")).to_be_hidden()
    assert focused_id(page) == "bell"

    # A second test alert, then "mark all read" from the centre.
    card.locator("[data-action=test]").click()
    expect(page.locator("#unread")).to_have_text("1")
    page.click("#bell")
    expect(page.locator("#notification-list .notification")).to_have_count(2)
    page.click("#mark-all")
    expect(page.locator("#centre-status")).to_have_text("1 marked read.")
    expect(page.locator("#unread")).to_be_hidden()
    page.keyboard.press("Escape")

    # A fuller page for the screenshots; the token survives a reload (sessionStorage).
    with session_factory() as session:
        tenant_id = session.get(models.AlertConfig, config.id).tenant_id
    add_showcase_configs(session_factory, tenant_id)
    card.locator("[data-action=test]").click()
    expect(page.locator("#unread")).to_have_text("1")
    page.reload()
    expect(page.locator(".config-card")).to_have_count(3)
    expect(page.locator("#unread")).to_have_text("1")
    page.wait_for_timeout(300)
    shot(page, "06-overview")
    page.click("#bell")
    expect(page.locator("#notification-list .notification")).to_have_count(3)
    page.locator("#notification-list .notification-summary").first.click()
    expect(page.locator("#notification-list .deliveries").first).to_be_visible()
    centre = shot(page, "07-notification-centre")
    if os.environ.get("UPDATE_SCREENSHOTS") or not DOC_SCREENSHOT.exists():
        DOC_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(centre, DOC_SCREENSHOT)
    page.keyboard.press("Escape")

    # Phone width: one column, full-screen modal.
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "08-phone-list")
    card.locator("[data-action=edit]").click()
    expect(page.locator("#config-modal")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "09-phone-form")
    page.keyboard.press("Escape")
    page.set_viewport_size(DESKTOP)

    # Data is text, never markup.
    with session_factory() as session:
        session.add(models.AlertConfig(
            tenant_id=tenant_id, name='<img src=x onerror="window.__xss=1">Evil',
            description="<script>window.__xss=2</script>", alert_type="quota_exhausted",
            severity="critical", channels=["in_app"], channel_config={}, conditions={},
        ))  # fmt: skip
        session.commit()
    page.reload()
    evil = page.locator(".config-card", has_text="Evil")
    expect(evil.locator(".card-title")).to_have_text('<img src=x onerror="window.__xss=1">Evil')
    assert page.locator("#config-list img, #config-list script").count() == 0
    assert page.evaluate("window.__xss") is None

    # Delete, with a confirmation that can be cancelled.
    card.locator("[data-action=delete]").click()
    expect(page.locator("#confirm-modal")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text("OpenAI latency")
    page.keyboard.press("Escape")
    expect(page.locator("#confirm-modal")).to_be_hidden()
    assert _config_exists(session_factory, config.id)
    card.locator("[data-action=delete]").click()
    page.click("#confirm-ok")
    expect(page.locator("#confirm-modal")).to_be_hidden()
    expect(card).to_have_count(0)
    expect(page.locator("#status")).to_contain_text("Deleted “OpenAI latency”.")
    assert not _config_exists(session_factory, config.id)
    shot(page, "10-after-delete")

    assert page.problems == []


def add_oncall(session_factory, tenant_id: int) -> int:
    """ann, bob and cy on a weekly rotation that started an hour ago, cy overriding tomorrow,
    and a two-step policy; returns the policy id."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    with session_factory() as session:
        people = [models.User(tenant_id=tenant_id, email=f"{n}@acme.test")
                  for n in ("ann", "bob", "cy")]  # fmt: skip
        session.add_all(people)
        session.flush()
        ids = [u.id for u in people]
        schedule = models.OnCallSchedule(
            tenant_id=tenant_id, name="Primary <b>rota</b>", timezone="Europe/Berlin",
            layers=[{"users": ids, "rotation": "weekly",
                     "start": (now - timedelta(hours=1)).isoformat()}],
            overrides=[{"user_id": ids[2], "start": (now + timedelta(days=1)).isoformat(),
                        "end": (now + timedelta(days=1, hours=6)).isoformat()}],
        )  # fmt: skip
        session.add(schedule)
        session.flush()
        policy = models.EscalationPolicy(tenant_id=tenant_id, name="Critical path", repeat=1,
                                         steps=[
            {"delay_minutes": 0, "targets": [{"type": "schedule", "schedule_id": schedule.id}]},
            {"delay_minutes": 15, "targets": [{"type": "user", "user_id": ids[2]},
                                              {"type": "email", "address": "boss@acme.test"}]},
        ])  # fmt: skip
        session.add(policy)
        session.commit()
        return policy.id


def test_oncall_views_and_the_policy_picker(page, admin_token, session_factory):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    with session_factory() as session:
        tenant_id = session.scalars(select(models.Tenant.id)).one()
    policy_id = add_oncall(session_factory, tenant_id)
    page.goto("/alerts")
    page.fill("#token", admin_token)
    page.keyboard.press("Enter")

    # The schedule: who is on call now, and the next 7 days as a timeline and a list.
    card = page.locator("#schedule-list .oncall-card")
    expect(card.locator(".card-title")).to_have_text("Primary <b>rota</b>")  # text, not markup
    expect(card.locator(".oncall-who")).to_contain_text("ann@acme.test until")
    expect(card.locator(".timeline .shift")).to_have_count(4)  # ann, cy's override, ann, bob
    expect(card.locator(".timeline .shift-override")).to_have_text("cy")
    expect(card.locator(".shift-list li")).to_have_count(4)
    expect(card.locator(".shift-list li").nth(1)).to_contain_text("cy@acme.test (override)")
    widths = card.locator(".timeline .shift").evaluate_all(
        "bars => bars.map(b => b.getBoundingClientRect().width)"
    )
    assert widths[0] > widths[1] > 0  # ann's day before the override outlasts its 6 hours

    # The policy: its steps and targets.
    steps = page.locator("#policy-list .policy-card .step")
    expect(steps).to_have_text(
        [
            "At once: on call in Primary <b>rota</b>",
            "After 15 min: user cy@acme.test, email boss@acme.test",
        ]
    )
    expect(page.locator("#policy-list .policy-card .muted")).to_contain_text("Repeats 1 time")
    shot(page, "11-oncall")

    # The config form's policy picker.
    page.click("#empty-create")
    page.fill("#f-name", "Quota to the on-call")
    page.select_option("#f-type", "quota_exhausted")
    expect(page.locator("#f-policy option")).to_have_text(["No escalation", "Critical path"])
    page.select_option("#f-policy", str(policy_id))
    page.click("#save-config")
    expect(page.locator("#config-modal")).to_be_hidden()
    with session_factory() as session:
        config = session.scalars(select(models.AlertConfig)).one()
    assert config.escalation_policy_id == policy_id
    page.locator(".config-card [data-action=edit]").click()
    expect(page.locator("#f-policy")).to_have_value(str(policy_id))
    page.select_option("#f-policy", "")
    page.click("#save-config")
    expect(page.locator("#config-modal")).to_be_hidden()
    with session_factory() as session:
        assert session.get(models.AlertConfig, config.id).escalation_policy_id is None
    assert page.problems == []


def test_silences_on_the_page(page, admin_token, session_factory):
    """Create a silence with a matcher and a duration, see a 422 explained, expire it; "Silence
    similar" on a notification pre-fills its type and provider; inhibition rules are shown."""
    from playwright.sync_api import expect

    from tests.test_api_support import add_notification

    expect.set_options(timeout=20_000)
    with session_factory() as session:
        tenant_id = session.scalars(select(models.Tenant.id)).one()
        session.add(models.InhibitRule(
            tenant_id=tenant_id, equal=["context.provider_name"],
            source=[{"name": "alert_type", "op": "=", "value": "quota_exhausted"}],
            target=[{"name": "alert_type", "op": "=", "value": "high_latency"}]))  # fmt: skip
        session.commit()
    add_notification(session_factory, tenant_id, title="openai is slow")

    page.goto("/alerts")
    page.fill("#token", admin_token)
    page.keyboard.press("Enter")
    expect(page.locator("#silences-empty")).to_be_visible()
    rule = page.locator("#rule-list .rule")
    expect(rule).to_contain_text('alert_type = "quota_exhausted"')
    expect(rule).to_contain_text("with the same context.provider_name")
    assert rule.locator("button").count() == 0  # read-only

    page.click("#new-silence")
    expect(page.locator("#silence-modal")).to_be_visible()
    matcher = page.locator("#s-matchers .matcher-row").first
    matcher.locator(".matcher-name").fill("context.region")
    matcher.locator(".matcher-op").select_option("=~")
    matcher.locator(".matcher-value").fill("(eu")
    page.fill("#s-duration", "90 min")
    page.fill("#s-comment", "EU maintenance window")
    page.click("#save-silence")  # the API refuses the regex (422), the form says why
    expect(page.locator("#silence-form-error")).to_contain_text("regular expression")
    matcher.locator(".matcher-value").fill("eu-.*")
    page.click("#save-silence")
    expect(page.locator("#silence-modal")).to_be_hidden()
    row = page.locator("#silence-list tr").first
    expect(row).to_have_attribute("data-state", "active")
    expect(row).to_contain_text('context.region =~ "eu-.*"')
    with session_factory() as session:
        silence = session.scalars(select(models.Silence)).one()
    assert silence.matchers == [{"name": "context.region", "op": "=~", "value": "eu-.*"}]
    minutes = (silence.ends_at - silence.starts_at).total_seconds() / 60
    assert 89 < minutes < 91 and silence.comment == "EU maintenance window"
    shot(page, "11-silences")

    row.locator("[data-action=expire]").click()
    expect(row).to_have_attribute("data-state", "expired")
    expect(row.locator("[data-action=expire]")).to_have_count(0)
    with session_factory() as session:
        ended = session.get(models.Silence, silence.id).ends_at
    assert ended <= datetime.now(UTC)

    page.click("#bell")
    item = page.locator("#notification-list .notification").first
    item.locator(".notification-summary").click()
    item.locator("[data-action=silence-similar]").click()
    expect(page.locator("#silence-modal")).to_be_visible()
    rows = page.locator("#s-matchers .matcher-row")
    expect(rows).to_have_count(2)
    for i, (name, value) in enumerate(
        [("alert_type", "high_latency"), ("context.provider_name", "openai")]
    ):
        expect(rows.nth(i).locator(".matcher-name")).to_have_value(name)
        expect(rows.nth(i).locator(".matcher-value")).to_have_value(value)
    page.fill("#s-comment", "restarting the openai proxy")
    page.click("#save-silence")
    expect(page.locator("#silence-modal")).to_be_hidden()
    expect(page.locator("#centre-status")).to_contain_text("created (active)")
    with session_factory() as session:
        newest = session.scalars(select(models.Silence).order_by(models.Silence.id.desc())).first()
    assert newest.matchers == [
        {"name": "alert_type", "op": "=", "value": "high_latency"},
        {"name": "context.provider_name", "op": "=", "value": "openai"},
    ]
    assert 119 < (newest.ends_at - newest.starts_at).total_seconds() / 60 < 121
    page.keyboard.press("Escape")
    expect(page.locator("#silence-list tr")).to_have_count(2)
    assert page.problems == []


def test_a_failed_delivery_shows_its_attempts_and_is_replayed_from_the_page(
    page, live_server, admin_token, session_factory, http_receiver
):
    """SPEC §18 on the page: the failing destination on its card, the attempts under the
    notification's delivery, and Retry once the receiver is fixed (same Idempotency-Key)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    with session_factory() as session:
        tenant_id = session.scalars(select(models.Tenant.id)).one()
        config = models.AlertConfig(
            tenant_id=tenant_id, name="Hook that 404s", alert_type="high_latency",
            severity="warning", channels=["in_app", "webhook"],
            channel_config={"webhook": {"url": http_receiver.url()}}, conditions={},
        )  # fmt: skip
        session.add(config)
        session.commit()
        config_id = config.id
    http_receiver.reply(404, "no such hook")
    page.goto("/alerts")
    page.fill("#token", admin_token)
    page.click("#login button[type=submit]")
    card = page.locator(".config-card", has_text="Hook that 404s")
    expect(card.locator(".channel-health")).to_have_count(0)
    card.locator("[data-action=test]").click()
    wait_for(lambda: _delivery_statuses(session_factory) == {"delivered", "failed"}, 20)

    page.reload()
    expect(card.locator(".channel-webhook .channel-health")).to_have_text("1 failed in a row")
    page.click("#bell")
    page.locator("#notification-list .notification-summary").first.click()
    row = page.locator("tr[data-channel=webhook]")
    expect(row.locator(".status")).to_have_text("failed")
    row.locator(".attempt-log summary").click()
    expect(row.locator(".attempt-log li")).to_have_count(1)
    expect(row.locator(".attempt-log li").first).to_contain_text("HTTP 404")
    expect(row.locator(".attempt-log li").first).to_contain_text("failed")
    shot(page, "11-failed-delivery-attempts")

    http_receiver.reply(200)  # fixed
    row.locator("[data-action=retry]").click()
    expect(page.locator("#centre-status")).to_have_text("Delivery queued again.")
    wait_for(lambda: _delivery_statuses(session_factory) == {"delivered"}, 20)
    keys = {r.headers["Idempotency-Key"] for r in http_receiver.requests}
    assert len(http_receiver.requests) == 2 and len(keys) == 1
    page.keyboard.press("Escape")
    page.reload()
    expect(card.locator(".channel-health")).to_have_count(0)  # a success resets it
    with session_factory() as session:
        health = session.get(models.EndpointHealth, (config_id, "webhook"))
    assert health.consecutive_failures == 0 and health.last_success_at is not None
    assert page.problems == []


def _is_active(session_factory, config_id: int) -> bool:
    with session_factory() as session:
        return session.get(models.AlertConfig, config_id).is_active


def _config_exists(session_factory, config_id: int) -> bool:
    with session_factory() as session:
        return session.get(models.AlertConfig, config_id) is not None


def _delivery_statuses(session_factory) -> set[str]:
    with session_factory() as session:
        return set(session.scalars(select(models.NotificationDelivery.status)))


def test_the_page_is_served_with_a_strict_policy(settings):
    app = create_app(settings)
    client = app.test_client()
    page = client.get("/alerts")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    html = page.get_data(as_text=True)
    assert "<script>" not in html and not re.search(r"<[^>]*\s(on[a-z]+|style)\s*=", html)
    script = client.get("/static/js/main.js")
    assert script.status_code == 200 and "javascript" in script.mimetype
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    raw = client.get("/static/alerts.html")  # the same file by its static path: same policy
    assert raw.headers["Content-Security-Policy"] == policy
    raw.close()
    page.close()
    script.close()
    app.extensions["alertworker"].close()


def test_the_page_is_not_part_of_the_api_document(settings):
    from api import create_app

    paths = create_app(settings).test_client().get("/openapi.json").get_json()["paths"]
    assert "/alerts" not in paths and "/api/v1/admin/alerts/configs" in paths
