"""The admin page as a console for the person on call (#18), in headless Chromium against a
live server and a real worker (the fixtures of ``tests/test_web.py``): who is signed in, the
notifications view and its filters, a notification's detail (facts, context, deliveries, no
"null"), acknowledge and resolve, Retry of a failed delivery, config cards (condition,
destinations, health, last fired), my preferences, the keyboard, phone width, and the API
documentation page. ``UPDATE_SCREENSHOTS=1`` refreshes the README's ``docs/console-*.png``.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alertworker.core import models
from tests import test_web as web
from tests.processes import ROOT, wait_for
from tests.test_api_support import add_notification

pytestmark = pytest.mark.slow
playwright_api, worker, live_server, page = (
    web.playwright_api, web.worker, web.live_server, web.page,
)  # fmt: skip
PHONE = {"width": 375, "height": 812}
DOCS = ROOT / "docs"


def readme_shot(page, name: str, **options) -> None:
    """A screenshot in test-artifacts/web/, copied to docs/ for the README when asked."""
    web.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = web.ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **options)
    if os.environ.get("UPDATE_SCREENSHOTS") or not (DOCS / f"{name}.png").exists():
        shutil.copyfile(path, DOCS / f"{name}.png")


@pytest.fixture
def admin_token(session_factory) -> str:
    from alertworker.tenants.auth import create_token

    with session_factory() as session:
        return create_token(session, "acme", "admin@acme.test", "alerts:read,alerts:write")[1]


def seed(session_factory, hook_url: str) -> dict[str, int]:
    """Two configs and five notifications of several kinds; the ids by name."""
    now = datetime.now(UTC)
    with session_factory() as session:
        tenant_id = session.scalars(select(models.Tenant.id)).one()
        latency = models.AlertConfig(
            tenant_id=tenant_id,
            name="OpenAI latency",
            alert_type="high_latency",
            severity="warning",
            channels=["in_app", "webhook", "email"],
            channel_config={
                "webhook": {"url": hook_url},
                "email": {"recipients": ["oncall@acme.test"]},
            },
            conditions={"latency_ms": 8000, "provider_names": ["openai"]},
        )
        quota = models.AlertConfig(
            tenant_id=tenant_id, name="Quota exhausted", alert_type="quota_exhausted",
            severity="critical", channels=["in_app"], channel_config={}, conditions={},
        )  # fmt: skip
        session.add_all([latency, quota])
        session.flush()
        session.add(models.EndpointHealth(
            config_id=latency.id, channel="webhook", consecutive_failures=3,
            last_failure_at=now, last_error="HTTP 500 from receiver"))  # fmt: skip
        session.commit()
        ids = {"latency": latency.id, "quota": quota.id, "tenant": tenant_id}
    ago = lambda minutes: {"triggered_at": now - timedelta(minutes=minutes)}  # noqa: E731
    ids["slow"] = add_notification(
        session_factory, tenant_id, ids["latency"], ("in_app", "webhook"),
        title="openai p95 at 9 s", message="", **ago(30),
    )  # fmt: skip
    ids["quota_open"] = add_notification(
        session_factory, tenant_id, ids["quota"], alert_type="quota_exhausted",
        severity="critical", title="openai quota exhausted",
        message="tokens/day used up; requests are refused", **ago(20),
    )  # fmt: skip
    ids["acked"] = add_notification(
        session_factory, tenant_id, ids["latency"], title="azure p95 at 8.5 s",
        state="acknowledged", read_at=now, acknowledged_at=now, **ago(15),
    )  # fmt: skip
    ids["old"] = add_notification(
        session_factory, tenant_id, ids["quota"], alert_type="quota_exhausted",
        severity="critical", title="anthropic quota exhausted", state="resolved",
        resolved_at=now, resolve_reason="event", read_at=now, **ago(60),
    )  # fmt: skip
    ids["info"] = add_notification(
        session_factory, tenant_id, None, alert_type="delivery_failing", severity="error",
        title="Deliveries to OpenAI latency's webhook keep failing", read_at=now, **ago(5),
    )  # fmt: skip
    return ids


def webhook_status(session_factory, notification_id: int) -> str:
    with session_factory() as session:
        return session.scalars(select(models.NotificationDelivery.status).where(
            models.NotificationDelivery.notification_id == notification_id,
            models.NotificationDelivery.channel == "webhook")).one()  # fmt: skip


def titles(page) -> list[str]:
    return page.locator("#feed-list .notification-title").all_inner_texts()


def sign_in(page, token: str) -> None:
    page.goto("/alerts")
    page.fill("#token", token)
    page.keyboard.press("Enter")


def test_the_console_of_the_person_on_call(page, admin_token, session_factory, http_receiver):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    ids = seed(session_factory, http_receiver.url())
    sign_in(page, admin_token)

    # Who is signed in, and the open notifications first, newest first.
    expect(page.locator("#whoami")).to_have_text("admin@acme.test · acme")
    expect(page.locator("#feed-list .notification")).to_have_count(4)
    assert titles(page) == [
        "Deliveries to OpenAI latency's webhook keep failing", "azure p95 at 8.5 s",
        "openai quota exhausted", "openai p95 at 9 s",
    ]  # fmt: skip

    # Filters: each is the list API's own query parameter.
    page.select_option("#filter-severity", "critical")
    expect(page.locator("#feed-list .notification")).to_have_count(1)
    assert titles(page) == ["openai quota exhausted"]
    page.select_option("#filter-state", "")  # any state: the resolved one too
    expect(page.locator("#feed-list .notification")).to_have_count(2)
    page.select_option("#filter-severity", "")
    page.select_option("#filter-state", "resolved")
    expect(page.locator("#feed-list .notification")).to_have_count(1)
    assert titles(page) == ["anthropic quota exhausted"]
    page.select_option("#filter-state", "firing,acknowledged")
    page.select_option("#filter-type", "high_latency")
    expect(page.locator("#feed-list .notification")).to_have_count(2)
    page.select_option("#filter-type", "")
    page.select_option("#filter-config", str(ids["quota"]))
    expect(page.locator("#feed-list .notification")).to_have_count(1)
    page.select_option("#filter-config", "")
    page.check("#filter-unread")
    expect(page.locator("#feed-list .notification")).to_have_count(2)
    assert titles(page) == ["openai quota exhausted", "openai p95 at 9 s"]
    page.select_option("#filter-severity", "info")
    expect(page.locator("#feed-empty")).to_be_visible()
    page.select_option("#filter-severity", "")
    page.uncheck("#filter-unread")
    expect(page.locator("#feed-list .notification")).to_have_count(4)

    # Open one with the keyboard: its facts, context and deliveries; no message, no "null".
    slow = page.locator(f'#feed-list .notification[data-id="{ids["slow"]}"]')
    slow.locator(".notification-summary").focus()
    page.keyboard.press("Enter")
    detail = slow.locator(".notification-detail")
    expect(detail.locator(".deliveries tbody tr")).to_have_count(2)
    expect(detail).not_to_contain_text("null")
    expect(detail.locator(".notification-message")).to_have_count(0)
    facts = detail.locator(".facts")
    expect(facts).to_contain_text("OpenAI latency")
    with session_factory() as session:
        event_id = session.get(models.AlertNotification, ids["slow"]).event_id
    expect(facts.locator(".event-id")).to_have_text(event_id)
    expect(detail.locator(".context")).to_contain_text("latency_ms")
    expect(detail.locator("section.trail")).to_have_attribute("data-event-id", event_id)
    # The "Why?" module (js/trail.js) renders the event's trail there; this notification was
    # written straight to the database, so its event has none.
    expect(detail.locator("section.trail h2")).to_have_text("Why? The event's trail")
    expect(detail.locator("section.trail")).to_contain_text("No trail for this event")
    webhook = detail.locator("tr[data-channel=webhook]")
    expect(webhook.locator(".status")).to_have_text("failed")
    readme_shot(page, "console-notifications")

    # Retry the failed delivery: the worker sends it to the (now healthy) receiver.
    webhook.locator("[data-action=retry]").click()
    expect(page.locator("#feed-status")).to_have_text("Delivery queued again.")
    wait_for(lambda: len(http_receiver.requests) == 1, 20)
    wait_for(lambda: webhook_status(session_factory, ids["slow"]) == "delivered", 20)

    # Escape folds the detail and leaves focus on its summary; acknowledge, then resolve.
    detail.locator("[data-action=acknowledge]").focus()
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    assert page.evaluate("document.activeElement.classList.contains('notification-summary')")
    page.keyboard.press("Enter")
    detail.locator("[data-action=acknowledge]").click()
    expect(slow.locator(".notification-state")).to_have_text("acknowledged")
    expect(page.locator("#feed-status")).to_have_text("Acknowledged.")
    detail.locator("[data-action=resolve]").click()
    expect(slow).to_have_attribute("data-state", "resolved")
    expect(detail.locator(".facts")).to_contain_text("resolved (manual)")
    with session_factory() as session:
        row = session.get(models.AlertNotification, ids["slow"])
        assert (row.state, row.resolve_reason) == ("resolved", "manual")
        assert row.acknowledged_at is not None

    # A message, where there is one, is shown as text.
    quota = page.locator(f'#feed-list .notification[data-id="{ids["quota_open"]}"]')
    quota.locator(".notification-summary").click()
    expect(quota.locator(".notification-message")).to_have_text(
        "tokens/day used up; requests are refused"
    )

    # Config cards: the condition, where each channel sends and its health, last fired.
    card = page.locator(f'.config-card[data-config-id="{ids["latency"]}"]')
    expect(card.locator(".card-condition")).to_have_text("Latency (ms): 8000 · providers openai")
    dest = card.locator(".destination")
    expect(dest).to_have_count(3)
    expect(card.locator(".destination-in_app")).to_contain_text("the bell on this page")
    host = http_receiver.url().split("//", 1)[1]
    expect(card.locator(".destination-webhook")).to_contain_text(host)
    expect(card.locator(".destination-webhook .health-failing")).to_have_text("failing: 3 in a row")
    expect(card.locator(".destination-email")).to_contain_text("oncall@acme.test")
    expect(card.locator(".destination-email")).to_contain_text("nothing sent yet")
    expect(card.locator(".card-last-fired time")).to_have_text("15 min ago")
    quota_card = page.locator(f'.config-card[data-config-id="{ids["quota"]}"]')
    expect(quota_card.locator(".card-condition")).to_have_text("Every event of this type")
    card.scroll_into_view_if_needed()
    readme_shot(page, "console-configs", clip=card.bounding_box() | {"x": 0, "width": 1280})

    # The section links move focus to the section (the next Tab starts there).
    page.click("#nav a[href='#preferences-view']")
    assert web.focused_id(page) == "preferences-view"
    page.keyboard.press("Tab")
    assert web.focused_id(page) == "p-email"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    assert page.problems == []


def test_my_preferences_are_saved_and_explained(page, admin_token, session_factory):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    sign_in(page, admin_token)
    expect(page.locator("#prefs-who")).to_have_text("admin@acme.test")
    expect(page.locator("#p-email")).to_be_checked()
    expect(page.locator("#p-min-severity")).to_have_value("info")
    page.uncheck("#p-email")
    page.select_option("#p-min-severity", "error")
    page.select_option("#p-digest", "daily")
    page.check("#p-quiet")
    page.fill("#p-quiet-start", "22:00")
    page.fill("#p-quiet-end", "07:00")
    page.fill("#p-quiet-tz", "Mars/Olympus")
    page.fill("#p-phone", "0151 1234")
    page.click("#prefs-save")  # the API refuses both; the form says why, by each field
    expect(page.locator("#prefs-error")).to_be_visible()
    expect(page.locator("#p-quiet-tz")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#p-phone")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#p-quiet-tz + .field-error")).to_contain_text("IANA")
    page.fill("#p-quiet-tz", "Europe/Berlin")
    page.fill("#p-phone", "+4915112345678")
    page.click("#prefs-save")
    expect(page.locator("#prefs-status")).to_have_text("Preferences saved.")
    expect(page.locator("#prefs-error")).to_be_hidden()
    expect(page.locator("#p-phone")).not_to_have_attribute("aria-invalid", "true")
    with session_factory() as session:
        prefs = session.scalars(select(models.NotificationPreference)).one()
    assert (prefs.email_enabled, prefs.min_severity, prefs.digest) == (False, "error", "daily")
    assert prefs.phone == "+4915112345678"
    assert prefs.quiet_hours == {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}
    page.reload()
    expect(page.locator("#p-min-severity")).to_have_value("error")
    expect(page.locator("#p-quiet-tz")).to_have_value("Europe/Berlin")
    expect(page.locator("#p-email")).not_to_be_checked()
    page.locator("#preferences-view").scroll_into_view_if_needed()
    readme_shot(page, "console-preferences", clip=page.locator("#preferences-view").bounding_box())
    assert page.problems == []


def test_phone_width(page, admin_token, session_factory, http_receiver):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    ids = seed(session_factory, http_receiver.url())
    page.set_viewport_size(PHONE)
    sign_in(page, admin_token)
    expect(page.locator("#feed-list .notification")).to_have_count(4)
    slow = page.locator(f'#feed-list .notification[data-id="{ids["slow"]}"]')
    slow.locator(".notification-summary").click()
    expect(slow.locator(".deliveries")).to_be_visible()
    expect(page.locator(".config-card")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.evaluate("window.scrollTo(0, 0)")
    readme_shot(page, "console-phone")
    page.check("#p-quiet")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.goto("/docs")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.problems == []


def test_the_api_documentation_page(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    response = page.goto("/")  # GET / leads to the documentation page
    assert response.status == 200 and page.url.endswith("/docs")
    expect(page.locator("h1")).to_have_text("alertworker REST API")
    op = page.locator("#list_notifications_get")
    expect(op.locator(".path")).to_have_text("/api/v1/admin/alerts/notifications")
    expect(op.locator("table")).to_contain_text("unread_only")
    expect(op.locator("table")).to_contain_text("state")
    op.locator("a[href='#schema-NotificationPage']").click()
    expect(page.locator("#schema-NotificationPage")).to_be_in_viewport()
    expect(page.locator("#whoami_get")).to_contain_text("/api/v1/me")
    page.locator("header a[href='/alerts']").click()
    expect(page.locator("#login")).to_be_visible()
    page.goto("/docs")
    readme_shot(page, "docs-page")
    assert page.problems == []  # no CSP violation, no script error


EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def test_the_policy_is_the_strict_one_on_every_page(settings):
    from api import create_app

    app = create_app(settings)
    client = app.test_client()
    for path in ("/alerts", "/docs", "/static/alerts.html", "/static/js/feed.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Security-Policy"] == EXPECTED_CSP, path
        assert response.headers["X-Frame-Options"] == "DENY"
        response.close()
    app.extensions["alertworker"].close()
