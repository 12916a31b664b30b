"""The channel contract: a channel turns one :class:`Message` into one outbound send, or raises.

``send`` returns the receiver's HTTP status on success (None for SMTP, kept as the delivery's
``last_status_code``) and raises :class:`RetryableError` (try again later, optionally after
``retry_after`` seconds) or :class:`PermanentError` (give up now, with the reason). It never
returns a bool and never swallows an exception; the retry policy and the row's state live in
``alertworker.delivery.deliveries``, not here.

Subclasses register themselves by ``kind``; :func:`get_channel` finds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from alertworker.core.settings import Settings


class DeliveryError(Exception):
    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RetryableError(DeliveryError):
    """A transient failure: connection error, timeout, HTTP 408/429/5xx, SMTP 4xx."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """A failure that retrying cannot fix: other 4xx, SMTP 5xx, invalid config."""


@dataclass(frozen=True)
class Message:
    """Everything a channel needs to send one delivery; plain data, no ORM rows."""

    delivery_id: int
    notification_id: int
    event_id: str
    tenant_id: str  # the tenant's slug, as on the wire
    config_id: int | None
    config_name: str
    alert_type: str
    severity: str
    title: str
    message: str
    context: dict[str, Any]
    occurred_at: datetime
    triggered_at: datetime
    occurrence_count: int
    suppressed_since_last: int
    is_test: bool
    channel_config: dict[str, Any]  # this channel's section of the config's channel_config
    # email: the one address of this delivery ("" = the config's recipients); sms: the number
    recipient: str = ""
    kind: str = "trigger"  # what this delivery carries: trigger | resolve | acknowledge (§13)
    resolved_at: datetime | None = None
    fingerprint: str = ""  # the alert's identity within its config (PagerDuty's dedup_key)

    @property
    def resolved(self) -> bool:
        return self.kind == "resolve"


class Channel:
    kind: ClassVar[str]
    registry: ClassVar[dict[str, type[Channel]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Channel.registry[cls.kind] = cls

    def __init__(self, settings: Settings, redis: Any) -> None:
        self.settings = settings
        self.redis = redis

    def send(self, message: Message) -> int | None:
        """Send once; the receiver's HTTP status on success (None where there is none)."""
        raise NotImplementedError


def get_channel(kind: str) -> type[Channel] | None:
    """The channel class registered for ``kind``, importing the built-in channels on first use."""
    if kind not in Channel.registry:
        import importlib

        module = f"alertworker.delivery.channels.{kind}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return None
    return Channel.registry.get(kind)
