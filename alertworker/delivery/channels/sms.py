"""SMS channel (SPEC §15): Twilio's Messages API at ``SMS_API_URL``, through :mod:`outbound`.

``POST /2010-04-01/Accounts/<TWILIO_ACCOUNT_SID>/Messages.json`` with HTTP Basic
``TWILIO_ACCOUNT_SID:TWILIO_AUTH_TOKEN`` (from settings only) and form fields ``To`` (the
delivery's ``recipient``: one row per configured number), ``From`` (``SMS_FROM``) and ``Body``:
``[SEVERITY] title: message`` (``[RESOLVED] title`` for a resolve), at most 320 characters, cut
with an ellipsis. 201 is delivered; 408/429/5xx retry (honouring Retry-After); other answers
fail. The auth token never appears in an error or a log line.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode, urlsplit

from alertworker.delivery.channels.base import Channel, Message, PermanentError
from alertworker.delivery.outbound import excerpt, post_json, raise_for_status
from alertworker.delivery.render import truncate

BODY_MAX = 320


class SmsChannel(Channel):
    kind = "sms"

    def send(self, message: Message) -> int:
        s = self.settings
        if not (s.twilio_account_sid and s.twilio_auth_token and s.sms_from):
            raise PermanentError("SMS is not configured: set TWILIO_ACCOUNT_SID, "
                                 "TWILIO_AUTH_TOKEN and SMS_FROM")  # fmt: skip
        if not message.recipient.startswith("+"):
            raise PermanentError("sms delivery has no E.164 number")
        path = f"/2010-04-01/Accounts/{s.twilio_account_sid}/Messages.json"
        url = s.sms_api_url.rstrip("/") + path
        host = urlsplit(url).hostname or "sms"
        login = base64.b64encode(f"{s.twilio_account_sid}:{s.twilio_auth_token}".encode()).decode()
        form = urlencode({"To": message.recipient, "From": s.sms_from, "Body": text(message)})
        headers = {
            "Authorization": f"Basic {login}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        resp = post_json(url, form.encode(), headers, s)
        try:
            raise_for_status(resp, host)
        except PermanentError as exc:
            exc.args = (str(exc).replace(s.twilio_auth_token, "****"),)
            raise
        if resp.status != 201:
            detail = f"{host}: HTTP {resp.status}: unexpected answer {excerpt(resp.text)!r}"
            raise PermanentError(detail.replace(s.twilio_auth_token, "****"),
                                 status_code=resp.status)  # fmt: skip
        return resp.status


def text(message: Message) -> str:
    """The message body: one line, at most :data:`BODY_MAX` characters."""
    title = " ".join(message.title.split())
    if message.resolved:
        body = f"[RESOLVED] {title}"
    else:
        body = f"[{message.severity.upper()}] {title}"
        if message.message:
            body += ": " + " ".join(message.message.split())
    return truncate(body, BODY_MAX)
