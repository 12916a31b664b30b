"""PagerDuty channel (SPEC §15): Events API v2 to ``PAGERDUTY_EVENTS_URL``, through :mod:`outbound`.

A delivery's ``kind`` picks the ``event_action``: ``trigger``, ``acknowledge`` (a user
acknowledged) or ``resolve``. ``dedup_key`` is ``alertworker-<config id>-<fingerprint>``, so
every trigger of one alert is one PagerDuty incident and its acknowledge and resolve find it.
Triggers carry the ``payload`` (summary = title ≤ 1024, source = ``context.provider_name`` or
"alertworker", severity, timestamp, custom_details = context). 202 is delivered; 408/429/5xx
retry (honouring Retry-After); other answers fail. The ``routing_key`` is a secret: it never
appears in an error or a log line (errors name the host and status only).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from alertworker.delivery.channels.base import Channel, Message, PermanentError
from alertworker.delivery.outbound import excerpt, post_json, raise_for_status
from alertworker.delivery.render import as_utc, dashboard_url, truncate

ACTIONS = {"trigger": "trigger", "acknowledge": "acknowledge", "resolve": "resolve"}
SUMMARY_MAX = 1024


class PagerDutyChannel(Channel):
    kind = "pagerduty"

    def send(self, message: Message) -> int:
        key = message.channel_config.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            raise PermanentError("pagerduty channel has no valid routing_key configured")
        if message.kind not in ACTIONS:
            raise PermanentError(f"pagerduty cannot carry a {message.kind!r} delivery")
        body = json.dumps(event(message, key, self.settings), ensure_ascii=False).encode()
        url = self.settings.pagerduty_events_url
        host = urlsplit(url).hostname or "pagerduty"
        resp = post_json(url, body, {"Content-Type": "application/json"}, self.settings)
        raise_for_status(resp, host)
        if resp.status != 202:
            detail = f"{host}: HTTP {resp.status}: unexpected answer {excerpt(resp.text)!r}"
            raise PermanentError(detail.replace(key, "****"), status_code=resp.status)
        return resp.status


def dedup_key(message: Message) -> str:
    return f"alertworker-{message.config_id}-{message.fingerprint}"


def event(message: Message, routing_key: str, settings: Any) -> dict[str, Any]:
    """The Events API v2 document of one delivery."""
    doc: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": ACTIONS[message.kind],
        "dedup_key": dedup_key(message),
        "client": "alertworker",
        "client_url": dashboard_url(settings, message.notification_id),
    }
    if message.kind == "trigger":
        source = message.context.get("provider_name")
        doc["payload"] = {
            "summary": truncate(" ".join(message.title.split()) or message.alert_type, SUMMARY_MAX),
            "source": source if isinstance(source, str) and source else "alertworker",
            "severity": message.severity,
            "timestamp": as_utc(message.occurred_at).isoformat(),
            "custom_details": message.context,
        }
    return doc
