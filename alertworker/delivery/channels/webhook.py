"""Webhook channel (SPEC §7): POST the notification as JSON to the config's URL.

The body has exactly :data:`PAYLOAD_KEYS`; ``status`` is ``firing``, or ``resolved`` (with
``resolved_at``) for a resolve delivery (SPEC §13). Headers: the config's custom ``headers``
(one with a control character, or named like one of ours or a framing header, fails the
delivery), then ours: ``Content-Type``, ``Idempotency-Key`` (the delivery id),
``X-Alertworker-Timestamp`` (unix seconds) and, when the config has a ``secret``,
``X-Alertworker-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>``
(receiver recipe: README, "Verifying webhook signatures"). 2xx is success; 408/429/5xx are
retryable (honouring Retry-After); 3xx (never followed) and other 4xx are permanent. Errors
name the host and status only, never the URL path, a header value or the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

from alertworker.core.scrub import secrets_of
from alertworker.delivery.channels.base import Channel, Message, PermanentError
from alertworker.delivery.outbound import header_problem, post_json, raise_for_status
from alertworker.delivery.render import as_utc

PAYLOAD_KEYS = (
    "delivery_id",
    "notification_id",
    "event_id",
    "tenant_id",
    "alert_type",
    "severity",
    "title",
    "message",
    "context",
    "occurred_at",
    "triggered_at",
    "occurrence_count",
    "suppressed_since_last",
    "is_test",
    "status",
    "resolved_at",
)


class WebhookChannel(Channel):
    kind = "webhook"

    def send(self, message: Message) -> int:
        config = message.channel_config
        url = config.get("url")
        if not isinstance(url, str) or not url:
            raise PermanentError("webhook channel has no url configured")
        custom = config.get("headers") or {}
        if not isinstance(custom, dict):
            raise PermanentError("webhook headers must be a map of strings")
        body = json.dumps(
            payload(message), separators=(",", ":"), ensure_ascii=False, default=str
        ).encode()
        timestamp = str(int(time.time()))
        headers = {str(k): str(v) for k, v in custom.items()}
        for name, value in headers.items():
            if problem := header_problem(name, value):
                raise PermanentError(f"webhook headers: {problem}")
        headers |= {
            "Content-Type": "application/json",
            "Idempotency-Key": str(message.delivery_id),
            "X-Alertworker-Timestamp": timestamp,
        }
        if config.get("secret"):
            headers["X-Alertworker-Signature"] = sign(str(config["secret"]), timestamp, body)
        resp = post_json(url, body, headers, self.settings)
        host = urlsplit(url).hostname or "webhook"
        raise_for_status(resp, host, secrets_of(config, self.settings))
        return resp.status


def payload(message: Message) -> dict[str, Any]:
    """The JSON document sent, with exactly :data:`PAYLOAD_KEYS`; times in RFC 3339 UTC."""
    doc: dict[str, Any] = {key: getattr(message, key) for key in PAYLOAD_KEYS[:-2]}
    doc["status"] = "resolved" if message.resolved else "firing"  # SPEC §13
    doc["resolved_at"] = message.resolved_at if message.resolved else None
    for key in ("occurred_at", "triggered_at", "resolved_at"):
        if doc[key] is not None:
            doc[key] = as_utc(doc[key]).isoformat().replace("+00:00", "Z")
    return doc


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()
