"""Email channel (SPEC §7): one multipart/alternative message (text + HTML) over SMTP.

Connection security from ``SMTP_SECURITY``: ``none``, ``starttls`` (refuses to go on in clear
text when the server does not offer it) or ``ssl``; certificates are verified. Failures map to
the channel contract: SMTP 4xx and connection errors are retryable, SMTP 5xx permanent.

An email delivery row names one ``recipient`` (the pipeline makes a row per configured
address, so each recipient's preferences decide their own copy); a row without one (made
before per-recipient rows) goes to every recipient of its config.

Recipients refused one by one: when *every* recipient is refused the send fails (retryable if
any refusal was 4xx, otherwise permanent, listing the addresses); when only *some* are refused
the message was accepted for the others, so the send succeeds (retrying would duplicate it for
them), the refusals are logged and left on :attr:`EmailChannel.refused` for the caller.
The SMTP password is never logged nor put into an error message.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from alertworker.core.settings import Settings
from alertworker.delivery.channels.base import Channel, Message, PermanentError, RetryableError
from alertworker.delivery.outbound import excerpt, has_control
from alertworker.delivery.render import render_email

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30.0


class EmailChannel(Channel):
    kind = "email"

    def __init__(self, settings: Settings, redis: Any) -> None:
        super().__init__(settings, redis)
        self.refused: dict[str, tuple[int, str]] = {}  # refused by the last successful send

    def send(self, message: Message) -> None:
        one = {"recipients": [message.recipient]}
        recipients = _recipients(one if message.recipient else message.channel_config)
        mail = build_email(message, recipients, self.settings)
        self.send_mail(mail, recipients, f"delivery {message.delivery_id}")

    def send_mail(self, mail: EmailMessage, recipients: list[str], ref: str) -> None:
        """Send a built message (an alert or a digest); ``ref`` names it in the logs."""
        self.refused = {}
        s = self.settings
        where = f"SMTP {s.smtp_host}:{s.smtp_port}"
        try:
            with _connect(s) as smtp:
                refused = smtp.send_message(mail, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _all_refused(where, exc.recipients) from None
        except smtplib.SMTPResponseException as exc:  # auth, sender, data, greeting errors
            code = exc.smtp_code
            raise _by_code(f"{where}: {code} {_text(exc.smtp_error)}", code) from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentError(f"{where}: server does not support STARTTLS or AUTH") from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, refusals, timeouts, TLS
            raise RetryableError(f"{where}: {type(exc).__name__}") from None
        if refused:
            self.refused = {addr: (code, _text(text)) for addr, (code, text) in refused.items()}
            log.warning(
                "email %s: accepted for %d recipient(s), refused for %s",
                ref,
                len(recipients) - len(refused),
                ", ".join(f"{a} ({c})" for a, (c, _) in self.refused.items()),
            )


def build_email(message: Message, recipients: list[str], settings: Settings) -> EmailMessage:
    rendered = render_email(message, settings)
    domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "alertworker.invalid"
    mail = EmailMessage()
    try:
        mail["Subject"] = rendered.subject
        mail["From"] = settings.smtp_from
        mail["To"] = ", ".join(recipients)
    except ValueError:
        raise PermanentError("invalid From or recipient address") from None
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(idstring=f"delivery{message.delivery_id}", domain=domain)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    mail.set_content(rendered.text)
    mail.add_alternative(rendered.html, subtype="html")
    return mail


def _recipients(config: dict) -> list[str]:
    recipients = config.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise PermanentError("email channel has no recipients configured")
    for address in recipients:
        if not isinstance(address, str) or "@" not in address or has_control(address):
            raise PermanentError("email channel has an invalid recipient address")
    return recipients


def _connect(s: Settings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if s.smtp_security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    else:
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if s.smtp_security == "starttls":
            smtp.starttls(context=context)
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return excerpt(value)


def _by_code(detail: str, code: int) -> RetryableError | PermanentError:
    if 500 <= code < 600:
        return PermanentError(detail, status_code=code)
    return RetryableError(detail, status_code=code)  # 4xx, or no proper code at all


def _all_refused(where: str, refusals: dict) -> RetryableError | PermanentError:
    listed = "; ".join(f"{addr}: {code} {_text(text)}" for addr, (code, text) in refusals.items())
    codes = [code for code, _ in refusals.values()]
    transient = [c for c in codes if 400 <= c < 500]
    code = transient[0] if transient else max(codes)
    return _by_code(f"{where}: all recipients refused: {listed}", code)
