"""Slack channel (SPEC §7): one incoming-webhook POST per delivery, through :mod:`outbound`.

Success is Slack's answer ``200 ok`` only. 429 (honouring Retry-After), 408 and 5xx are
retryable; 404/410 (``no_service``, ``channel_is_archived``), ``400 invalid_payload`` and other
4xx are permanent. Slack allows about one message per second per webhook: a Redis key per
webhook URL (``SET NX PX``) spaces sends across every worker; a send waits once for the next
slot when it is at most :data:`MAX_WAIT_SECONDS` away, else raises a retryable error. A 429
blocks the key for its Retry-After, so every worker backs off. The webhook URL is a secret:
errors name the host only, and Redis keys carry a hash of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from urllib.parse import urlsplit

import redis

from alertworker.core.scrub import secrets_of
from alertworker.delivery.channels.base import Channel, Message, PermanentError, RetryableError
from alertworker.delivery.outbound import excerpt, has_control, post_json, raise_for_status
from alertworker.delivery.render import slack_payload

log = logging.getLogger(__name__)

INTERVAL_MS = 1000  # at most one message per second per webhook URL
MAX_WAIT_SECONDS = 1.0
MAX_BLOCK_SECONDS = 300  # longest Retry-After applied to the shared key


class SlackChannel(Channel):
    kind = "slack"

    def send(self, message: Message) -> int:
        url = message.channel_config.get("webhook_url")
        if not isinstance(url, str) or not url:
            raise PermanentError("slack channel has no webhook_url configured")
        host = urlsplit(url).hostname or "slack"
        payload = slack_payload(message, self.settings)
        if message.channel_config.get("channel"):
            payload["channel"] = str(message.channel_config["channel"])
            if has_control(payload["channel"]):
                raise PermanentError("slack channel name has a control character")
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": str(message.delivery_id),
        }
        key = self.rate_key(url)
        self._take_slot(key, host)
        resp = post_json(url, body, headers, self.settings)
        secrets = secrets_of(message.channel_config, self.settings)
        try:
            raise_for_status(resp, host, secrets)
        except RetryableError as exc:
            if exc.status_code == 429:
                self._block(key, exc.retry_after or 1.0)
            raise
        if resp.status != 200 or resp.text.strip() != "ok":
            answer = excerpt(resp.text, secrets)
            detail = f"{host}: HTTP {resp.status}: unexpected answer {answer!r}"
            raise PermanentError(detail, status_code=resp.status)
        return resp.status

    def rate_key(self, url: str) -> str:
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        return f"{self.settings.redis_key_prefix}slack:{digest}"

    def _take_slot(self, key: str, host: str) -> None:
        """Wait (at most MAX_WAIT_SECONDS) for this webhook's one-per-second slot."""
        if self.redis is None:
            return
        try:
            for attempt in range(2):
                if self.redis.set(key, b"1", nx=True, px=INTERVAL_MS):
                    return
                wait = max(self.redis.pttl(key), 10) / 1000
                if attempt or wait > MAX_WAIT_SECONDS:
                    raise RetryableError(f"{host}: webhook rate limit (1/s)", retry_after=wait)
                time.sleep(wait + 0.005)  # PTTL rounds down: wake after the expiry
        except redis.RedisError as exc:  # fail open, as throttling does (SPEC §5)
            log.warning("slack rate limiter unavailable (%s); sending anyway", type(exc).__name__)

    def _block(self, key: str, seconds: float) -> None:
        if self.redis is None:
            return
        try:
            self.redis.set(key, b"429", px=int(min(seconds, MAX_BLOCK_SECONDS) * 1000) or 1)
        except redis.RedisError as exc:
            log.warning("slack rate limiter unavailable (%s)", type(exc).__name__)
