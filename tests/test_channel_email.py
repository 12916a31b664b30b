"""Email channel against a real SMTP server (aiosmtpd), plus the shared rendering rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alertworker.core.catalog import ALERT_TYPES, SEVERITIES
from alertworker.delivery.channels.base import PermanentError, RetryableError, get_channel
from alertworker.delivery.render import GUIDANCE, SEVERITY_STYLE, render_email
from tests.receivers import SMTP_PASSWORD, SMTP_USER, make_message

RECIPIENTS = ["ops@example.test", "oncall@example.test"]


def email_message(**changes):
    changes.setdefault("channel_config", {"recipients": RECIPIENTS})
    return make_message(**changes)


@pytest.fixture
def smtp_settings(settings, smtp_receiver):
    return settings.replace(
        smtp_host="127.0.0.1",
        smtp_port=smtp_receiver.port,
        smtp_security="none",
        smtp_from="Alertworker <alerts@example.test>",
    )


@pytest.fixture
def email(smtp_settings, redis_client):
    return get_channel("email")(smtp_settings, redis_client)


def test_multipart_email(email, smtp_receiver):
    email.send(
        email_message(
            title="Circuit opened\r\nBcc: victim@example.test",
            message="Provider said <script>alert('x')</script> & gave up",
            context={"provider_name": "openai", "failure_count": 12},
        )
    )
    [received] = smtp_receiver.messages
    assert received.rcpt_tos == RECIPIENTS
    assert received.mail_from == "alerts@example.test"
    mail = received.email
    assert mail["Subject"] == "[ERROR] Circuit opened Bcc: victim@example.test"
    assert mail["Bcc"] is None
    assert mail["To"] == ", ".join(RECIPIENTS)
    message_id = mail["Message-ID"].strip()  # long ids are folded onto a continuation line
    assert message_id.startswith("<") and message_id.endswith(".delivery7001@example.test>")
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "<script>alert('x')</script>" in text  # plain text is not escaped
    assert "<script>" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&amp; gave up" in html
    for part in (text, html):
        assert "http://alerts.example.test/alerts#notification-42" in part
        assert "provider_name" in part and "openai" in part and "failure_count" in part
        assert "fallback providers" in part  # the "what this means" line
    assert SEVERITY_STYLE["error"]["color"] in html
    assert "<th" in html and "<td" in html  # context as a table


def test_a_resolve_email_is_marked_resolved_in_both_parts(email, smtp_receiver):
    email.send(email_message(kind="resolve", title="Circuit <opened>",
                             resolved_at=datetime(2025, 1, 2, 4, 0, tzinfo=UTC)))  # fmt: skip
    mail = smtp_receiver.messages[0].email
    assert mail["Subject"] == "[RESOLVED] Circuit <opened>"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert text.startswith("[RESOLVED] Circuit <opened>")
    assert "Circuit &lt;opened&gt;" in html and "<opened>" not in html
    for part in (text, html):
        assert "2025-01-02 04:00:00 UTC" in part and "resolved" in part
        assert "http://alerts.example.test/alerts#notification-42" in part


def test_starttls_and_login(smtp_tls_receiver, settings, redis_client, trust_test_cert):
    s = settings.replace(
        smtp_host="localhost",
        smtp_port=smtp_tls_receiver.port,
        smtp_security="starttls",
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
    )
    get_channel("email")(s, redis_client).send(email_message())
    [received] = smtp_tls_receiver.messages
    assert received.tls and received.authenticated
    assert received.email["Subject"] == "[ERROR] Circuit breaker opened for openai"


def test_implicit_tls(smtps_receiver, settings, redis_client, trust_test_cert):
    s = settings.replace(smtp_host="localhost", smtp_port=smtps_receiver.port, smtp_security="ssl")
    get_channel("email")(s, redis_client).send(email_message())
    assert smtps_receiver.messages[0].tls


def test_wrong_password_is_permanent_and_not_leaked(
    smtp_tls_receiver, settings, redis_client, trust_test_cert
):
    s = settings.replace(
        smtp_host="localhost",
        smtp_port=smtp_tls_receiver.port,
        smtp_security="starttls",
        smtp_username=SMTP_USER,
        smtp_password="wrong-password-xyz",
    )
    with pytest.raises(PermanentError) as info:
        get_channel("email")(s, redis_client).send(email_message())
    assert info.value.status_code == 535
    assert "wrong-password-xyz" not in str(info.value) and "wrong-password-xyz" not in repr(s)


def test_untrusted_certificate_is_refused(smtp_tls_receiver, settings, redis_client):
    s = settings.replace(
        smtp_host="localhost", smtp_port=smtp_tls_receiver.port, smtp_security="starttls"
    )
    with pytest.raises(RetryableError, match="SSLCertVerificationError"):
        get_channel("email")(s, redis_client).send(email_message())
    assert smtp_tls_receiver.messages == []


def test_starttls_required_but_not_offered_is_permanent(smtp_settings, redis_client):
    channel = get_channel("email")(smtp_settings.replace(smtp_security="starttls"), redis_client)
    with pytest.raises(PermanentError, match="STARTTLS"):
        channel.send(email_message())


@pytest.mark.parametrize(
    ("refusals", "data_reply", "error", "status"),
    [
        ({a: "550 5.1.1 no such user" for a in RECIPIENTS}, None, PermanentError, 550),
        ({a: "450 4.2.1 mailbox busy" for a in RECIPIENTS}, None, RetryableError, 450),
        (
            {RECIPIENTS[0]: "550 5.1.1 no such user", RECIPIENTS[1]: "451 4.3.0 try later"},
            None,
            RetryableError,
            451,
        ),
        ({}, "554 5.7.1 rejected as spam", PermanentError, 554),
        ({}, "451 4.3.0 local error", RetryableError, 451),
    ],
)
def test_smtp_refusals(email, smtp_receiver, refusals, data_reply, error, status):
    smtp_receiver.refuse = refusals
    smtp_receiver.data_reply = data_reply
    with pytest.raises(error) as info:
        email.send(email_message())
    assert info.value.status_code == status
    for address in refusals:
        assert address in str(info.value)
    assert smtp_receiver.messages == []


def test_partial_refusal_succeeds_and_reports(email, smtp_receiver):
    smtp_receiver.refuse = {RECIPIENTS[0]: "550 5.1.1 no such user"}
    email.send(email_message())
    assert [m.rcpt_tos for m in smtp_receiver.messages] == [[RECIPIENTS[1]]]
    assert email.refused == {RECIPIENTS[0]: (550, "5.1.1 no such user")}


def test_a_delivery_with_a_recipient_goes_to_that_address_only(email, smtp_receiver):
    email.send(email_message(recipient="oncall@example.test"))
    [received] = smtp_receiver.messages
    assert received.rcpt_tos == ["oncall@example.test"]
    assert received.email["To"] == "oncall@example.test"


def test_an_invalid_recipient_of_a_delivery_is_permanent(email, smtp_receiver):
    with pytest.raises(PermanentError):
        email.send(email_message(recipient="a@b\r\nBcc: c@d"))
    assert smtp_receiver.messages == []


def test_connection_refused_is_retryable(settings, redis_client, closed_port):
    s = settings.replace(smtp_host="127.0.0.1", smtp_port=closed_port, smtp_password="pw-xyz")
    with pytest.raises(RetryableError) as info:
        get_channel("email")(s, redis_client).send(email_message())
    assert "127.0.0.1" in str(info.value) and "pw-xyz" not in str(info.value)


@pytest.mark.parametrize(
    "config", [{}, {"recipients": []}, {"recipients": "a@b.c"}, {"recipients": ["a@b\r\nc"]}]
)
def test_bad_recipients_are_permanent(email, smtp_receiver, config):
    with pytest.raises(PermanentError):
        email.send(make_message(channel_config=config))
    assert smtp_receiver.messages == []


# --- rendering shared by every channel ------------------------------------------------------


def test_every_alert_type_has_guidance_and_every_severity_a_style():
    assert set(GUIDANCE) == set(ALERT_TYPES)
    assert all(len(line) > 20 for line in GUIDANCE.values())
    assert set(SEVERITY_STYLE) == set(SEVERITIES)


@pytest.mark.parametrize("alert_type", sorted(ALERT_TYPES))
def test_every_alert_type_renders(alert_type, settings):
    rendered = render_email(make_message(alert_type=alert_type, severity="warning"), settings)
    assert rendered.subject == "[WARNING] Circuit breaker opened for openai"
    assert GUIDANCE[alert_type] in rendered.text


def test_long_fields_are_truncated(settings):
    rendered = render_email(
        make_message(title="t" * 400, message="m" * 50_000, context={"k": "v" * 2_000}), settings
    )
    assert len(rendered.subject) <= 250
    assert "m" * 20_000 not in rendered.text and "…" in rendered.text
    assert "v" * 501 not in rendered.text


def test_test_notifications_are_marked(settings):
    rendered = render_email(make_message(is_test=True), settings)
    assert "TEST NOTIFICATION" in rendered.text and "Test notification" in rendered.html
