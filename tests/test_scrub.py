"""No secret, not even part of one, in a stored error, an API answer or a log (SPEC §7).

Receivers quote the request back, whole, in part, with blanks reflowed, URL-encoded,
JSON-escaped, upper-cased; an SMTP server quotes the password. Deliveries run through the real
pipeline and delivery loop; ``last_error``, the notification's detail in the API and every log
line are searched for any 8 characters of any secret, in any of those forms.
"""

from __future__ import annotations

import json
import logging
import secrets
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import select

from alertworker.core.models import NotificationDelivery as D
from alertworker.core.scrub import redact, secrets_of
from alertworker.delivery import deliveries
from alertworker.ingest.pipeline import Pipeline
from tests import test_api_support as support
from tests.receivers import SMTP_PASSWORD, Reply

app, client, caller = support.app, support.client, support.caller

HEADER = "Bearer  " + "   ".join(secrets.token_hex(6) for _ in range(4))  # runs of blanks
LONG = secrets.token_urlsafe(450)  # longer than any excerpt
SIGNING = "whsec_" + secrets.token_hex(16)
SLACK_PATH = f"/services/T{secrets.token_hex(5)}/B{secrets.token_hex(5)}/{secrets.token_hex(12)}"


def _variations(text: str) -> list[str]:
    """How a receiver may quote ``text``: each is one answer, so each starts an excerpt."""
    middle = text[len(text) // 3 : len(text) // 3 + 12]
    return [
        text,
        middle,
        " ".join(text.split()),
        "\t\n ".join(text.split()),
        "".join(text.split()),
        quote(text, safe=""),
        quote_plus(text),
        json.dumps({"got": text}),
        json.dumps(text).replace("/", "\\/"),
        text.upper(),
        " ".join(text[i : i + 3] for i in range(0, len(text), 3)),
    ]


def _echo(receiver, quoted):
    """An answer quoting the request: the n-th request gets the n-th (variation, value)."""

    def answer(request) -> str:
        values = [_variations(value) for value in quoted(request)]
        forms = [quoted_ones[k] for k in range(len(values[0])) for quoted_ones in values]
        return "error: " + forms[(len(receiver.requests) - 1) % len(forms)] + " (rejected)"

    return answer


def _windows(secret: str) -> set[str]:
    out = set()
    for form in (secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]):
        flat = "".join(form.split()).lower()
        out |= {flat[i : i + 8] for i in range(len(flat) - 7)}
    return out


def leaks(text: str, secret_list: list[str]) -> list[str]:
    flat = "".join(text.split()).lower()
    return sorted(w for s in secret_list for w in _windows(s) if w in flat)


ALL = [HEADER, LONG, SIGNING, SLACK_PATH, SMTP_PASSWORD]


@pytest.fixture
def leaky_config(settings, make_tenant, make_config, http_receiver, smtp_receiver):
    slack_url = http_receiver.url(SLACK_PATH)
    webhook = {"url": http_receiver.url("/hook"), "secret": SIGNING,
               "headers": {"Authorization": HEADER, "X-Api-Key": LONG}}  # fmt: skip
    config = make_config(
        make_tenant("acme"), channels=["slack", "webhook", "email"], cooldown_minutes=0,
        max_alerts_per_hour=1000,
        channel_config={"slack": {"webhook_url": slack_url}, "webhook": webhook,
                        "email": {"recipients": ["a@acme.test"]}},
    )  # fmt: skip

    def quoted(request) -> list[str]:
        if request.path.startswith("/services/"):
            return [request.path]
        return [request.headers["Authorization"], request.headers["X-Api-Key"], SIGNING]

    http_receiver.default = Reply(400, echo=_echo(http_receiver, quoted))
    pw = SMTP_PASSWORD
    smtp_receiver.data_reply = f"554 5.7.1 refused {pw} / {pw[2:11]} / {' '.join(pw)}"
    return config


def test_no_part_of_a_secret_is_stored_answered_or_logged(
    leaky_config, smtp_settings, session_factory, redis_client, client, caller, caplog
):
    settings = smtp_settings.replace(smtp_password=SMTP_PASSWORD)
    caplog.set_level(logging.DEBUG)
    events = [{"tenant_id": "acme", "alert_type": "high_latency", "title": f"slow {i}",
               "context": {"provider_name": f"p{i}", "latency_ms": 9000}}
              for i in range(33)]  # fmt: skip
    result = Pipeline(settings, session_factory, redis_client).process(events)
    ids = [p.delivery_id for p in result.deliveries]
    deliveries.deliver(settings, session_factory, None, ids)  # no Slack pacing (Redis)
    with session_factory() as s:
        rows = s.execute(select(D.notification_id, D.channel, D.status, D.last_error)).all()
    sent = [r for r in rows if r.channel != "in_app"]  # in_app: the delivery_failing alerts
    assert {r.channel for r in sent} == {"slack", "webhook", "email"}
    assert all(r.status == "failed" and r.last_error for r in sent), sent
    assert all("HTTP 400" in r.last_error for r in sent if r.channel != "email")
    for row in sent:
        assert not leaks(row.last_error, ALL), row.last_error

    token = caller().h
    for notification_id in {r.notification_id for r in rows}:
        detail = client.get(f"{support.API}/admin/alerts/notifications/{notification_id}",
                            headers=token)  # fmt: skip
        assert detail.status_code == 200
        assert not leaks(detail.get_data(as_text=True), ALL)
    ours = [r for r in caplog.records if r.name != "mail.log"]  # not the test's SMTP server
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in ours)
    assert "HTTP 400" in logged
    assert not leaks(logged, ALL), [line for line in logged.splitlines() if leaks(line, ALL)]


@pytest.mark.parametrize(
    "text, secret, kept",
    [
        ("token abcdefghijkl here", "abcdefghijkl", "token **** here"),
        ("part cdefghij only", "abcdefghijkl", "part **** only"),
        ("short cdefghi stays", "abcdefghijkl", "short cdefghi stays"),
        ("ABC DEF GHI jkl", "abc def ghi jkl", "****"),
        ("a%2Fb%2Fcdefgh", "a/b/cdefgh", "****"),
        ("pw 12345 left", "12345", "pw **** left"),
        ("pw 123 left", "123", "pw 123 left"),
        ("hooks.slack.com: HTTP 404", "/services/T1/B2/abcdefgh", "hooks.slack.com: HTTP 404"),
    ],
)
def test_redact(text, secret, kept):
    assert redact(text, [secret]) == kept


def test_secrets_of_a_config_and_the_settings(settings):
    config = {"slack": {"webhook_url": "https://hooks.slack.com/services/T/B/xyz?k=v"},
              "webhook": {"url": "https://h.test/in", "headers": {"A": "hv-1234"},
                          "secret": "sig-1234"},
              "pagerduty": {"routing_key": "r" * 32}}  # fmt: skip
    found = secrets_of(config, settings.replace(smtp_password="smtp-1234"))
    assert sorted(found) == sorted(["/services/T/B/xyz?k=v", "hv-1234", "sig-1234", "r" * 32,
                                    "smtp-1234"])  # fmt: skip
