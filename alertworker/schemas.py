"""Marshmallow schemas: the one validation layer, shared by the API, the publisher and the worker.

``EventSchema`` is the wire format of SPEC §3; ``CONDITION_SCHEMAS`` the per-type condition keys
of §4 (unknown keys rejected, naming the key).
"""

from __future__ import annotations

import copy
import functools
import json
import uuid
import zoneinfo
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from alertworker.catalog import ALERT_TYPES, CHANNELS, SEVERITIES

MAX_CONTEXT_BYTES = 16 * 1024
SLUG = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    error="must be 1..64 letters, digits, '_', '.' or '-', starting with a letter or digit",
)


class EventSchema(Schema):
    """An alert event as gateway components publish it (SPEC §3)."""

    class Meta:
        unknown = RAISE

    event_id = fields.UUID(load_default=None)
    tenant_id = fields.String(required=True, validate=SLUG)
    alert_type = fields.String(required=True, validate=validate.OneOf(list(ALERT_TYPES)))
    title = fields.String(required=True, validate=validate.Length(1, 200))
    message = fields.String(load_default="", validate=validate.Length(0, 4000))
    severity = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(SEVERITIES)
    )
    context = fields.Dict(keys=fields.String(), load_default=dict)
    occurred_at = fields.AwareDateTime(load_default=None, allow_none=True)
    # Set only by the API's test endpoint: bypasses throttling, optionally targets one config.
    is_test = fields.Boolean(load_default=False)
    config_id = fields.Integer(load_default=None, allow_none=True, strict=True)

    @validates("context")
    def _context_size(self, value: dict[str, Any], **_: Any) -> None:
        try:
            size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"must be a JSON object: {exc}") from None
        if size > MAX_CONTEXT_BYTES:
            raise ValidationError(f"is {size} bytes serialized; at most {MAX_CONTEXT_BYTES}")

    @post_load
    def _defaults(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["event_id"] = str(data["event_id"] or uuid.uuid4())
        occurred = data["occurred_at"] or datetime.now(UTC)
        data["occurred_at"] = occurred.astimezone(UTC)
        return data


class PublicEventSchema(EventSchema):
    """What ``POST /events`` and the publisher accept: the wire format without test-only fields."""

    class Meta:
        unknown = RAISE
        exclude = ("is_test", "config_id")


def event_to_wire(event: dict[str, Any]) -> dict[str, Any]:
    """A validated event as the JSON-safe dict that travels on the broker."""
    wire = {k: v for k, v in event.items() if v is not None and k not in ("is_test", "config_id")}
    wire["occurred_at"] = event["occurred_at"].isoformat()
    if event.get("is_test"):
        wire["is_test"] = True
    if event.get("config_id") is not None:
        wire["config_id"] = event["config_id"]
    return wire


# --- conditions (SPEC §4) -------------------------------------------------------------------


class _Conditions(Schema):
    class Meta:
        unknown = RAISE

    provider_names = fields.List(
        fields.String(validate=validate.Length(1, 200)), validate=validate.Length(1, 100)
    )


class _CircuitBreakerOpened(_Conditions):
    min_consecutive_failures = fields.Integer(strict=True, validate=validate.Range(min=1))


class _Ratio(_Conditions):
    threshold = fields.Float(
        allow_nan=False, validate=validate.Range(0, 1, min_inclusive=False, max_inclusive=True)
    )


class _HighErrorRate(_Conditions):
    error_rate = fields.Float(allow_nan=False, validate=validate.Range(0, 1))
    min_requests = fields.Integer(strict=True, validate=validate.Range(min=0))


class _HighLatency(_Conditions):
    latency_ms = fields.Float(allow_nan=False, validate=validate.Range(0, min_inclusive=False))


CONDITION_SCHEMAS: dict[str, Schema] = {
    alert_type: _Conditions() for alert_type in ALERT_TYPES
} | {
    "circuit_breaker_opened": _CircuitBreakerOpened(),
    "cost_limit_warning": _Ratio(),
    "rate_limit_warning": _Ratio(),
    "high_error_rate": _HighErrorRate(),
    "high_latency": _HighLatency(),
}


# --- alert configs (SPEC §4), as the API reads and writes them ---------------------------------
# Secrets (slack.webhook_url, webhook header values, webhook.secret) are write-only: responses
# carry ``mask_channel_config``'s masks, and a masked value sent back means "keep the stored one"
# (``configs.restore_secrets`` swaps it back). URLs are checked by ``outbound.check_url``.

MAX_ID = 2**31 - 1
MASK = "****"
_HEADER_NAME = validate.Regexp(
    r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$", error="must be an HTTP header name"
)
_NO_CRLF = validate.Regexp(r"^[^\r\n\x00]*$", error="must not contain CR, LF or NUL")
_RESERVED_HEADERS = {
    "host", "content-length", "content-type", "transfer-encoding", "connection", "idempotency-key"
}
_URL = validate.URL(schemes={"http", "https"}, require_tld=False, error="must be an http(s) URL")


def is_masked(value: Any) -> bool:
    return isinstance(value, str) and value.endswith(MASK)


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…{MASK}"


def mask_channel_config(channel_config: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of a config's ``channel_config`` with every secret masked."""
    masked = copy.deepcopy(channel_config or {})
    if (slack := masked.get("slack")) and slack.get("webhook_url"):
        slack["webhook_url"] = mask_url(slack["webhook_url"])
    if hook := masked.get("webhook"):
        hook["headers"] = {name: MASK for name in hook.get("headers") or {}}
        if hook.get("secret"):
            hook["secret"] = MASK
    return masked


class _HttpURL(fields.String):
    """An absolute http(s) URL without credentials; with ``secret``, a masked value passes as is."""

    def __init__(self, *, secret: bool = False, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(1, 2048), **kwargs)
        self.secret = secret

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        if self.secret and is_masked(value):
            return value
        _URL(value)
        if "@" in urlsplit(value).netloc:
            raise ValidationError("must not contain credentials")
        return value


def _header_names(headers: dict[str, str]) -> None:
    for name in headers:
        if name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-alertworker-"):
            raise ValidationError(f"header {name!r} is set by alertworker and cannot be overridden")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class EmailChannelSchema(_Strict):
    recipients = fields.List(
        fields.Email(validate=validate.Length(max=320)),
        required=True,
        validate=validate.Length(1, 50),
    )


class SlackChannelSchema(_Strict):
    webhook_url = _HttpURL(secret=True, required=True)
    channel = fields.String(validate=[validate.Length(1, 80), _NO_CRLF])


class WebhookChannelSchema(_Strict):
    url = _HttpURL(required=True)
    headers = fields.Dict(
        keys=fields.String(validate=_HEADER_NAME),
        values=fields.String(validate=[validate.Length(max=4096), _NO_CRLF]),
        load_default=dict,
        validate=[validate.Length(max=20), _header_names],
    )
    secret = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 512))


class ChannelConfigSchema(_Strict):
    email = fields.Nested(EmailChannelSchema)
    slack = fields.Nested(SlackChannelSchema)
    webhook = fields.Nested(WebhookChannelSchema)


def check_config(data: dict[str, Any]) -> dict[str, Any]:
    """Rules across a whole config's fields: conditions per type, channel_config per channel."""
    errors: dict[str, Any] = {}
    try:
        conditions = data.get("conditions") or {}
        data["conditions"] = CONDITION_SCHEMAS[data["alert_type"]].load(conditions)
    except ValidationError as exc:
        errors["conditions"] = exc.messages
    try:  # again in full: a PATCH loads its channel_config partially
        present = ChannelConfigSchema().load(data.get("channel_config") or {}, partial=False)
        missing = {ch: ["required when the channel is selected"]
                   for ch in data["channels"] if ch != "in_app" and ch not in present}
        if missing:
            errors["channel_config"] = missing
        data["channel_config"] = present
    except ValidationError as exc:
        errors["channel_config"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return data


class ConfigSchema(_Strict):
    """An alert config (SPEC §4). ``ConfigSchema(settings=s)`` checks URLs against ``s``."""

    def __init__(self, *, settings: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=2000)
    )
    alert_type = fields.String(required=True, validate=validate.OneOf(list(ALERT_TYPES)))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    is_active = fields.Boolean(load_default=True)
    channels = fields.List(
        fields.String(validate=validate.OneOf(CHANNELS)),
        required=True,
        validate=validate.Length(1, 4),
    )
    channel_config = fields.Nested(ChannelConfigSchema, load_default=dict)
    cooldown_minutes = fields.Integer(
        strict=True, load_default=15, validate=validate.Range(0, 10080)
    )
    max_alerts_per_hour = fields.Integer(
        strict=True, load_default=10, validate=validate.Range(1, 10000)
    )
    group_similar = fields.Boolean(load_default=True)
    group_by = fields.List(
        fields.String(validate=validate.Length(1, 100)),
        load_default=lambda: ["provider_name"],
        validate=validate.Length(max=10),
    )
    conditions = fields.Dict(keys=fields.String(), load_default=dict)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    @validates_schema(skip_on_field_errors=True)
    def _whole(self, data: dict[str, Any], partial: Any = False, **_: Any) -> None:
        if "channels" in data:
            data["channels"] = list(dict.fromkeys(data["channels"]))
        if not partial:
            check_config(data)
        self._check_urls(data.get("channel_config") or {})

    def _check_urls(self, channel_config: dict[str, Any]) -> None:
        from alertworker.outbound import UnsafeURLError, check_url

        errors: dict[str, Any] = {}
        for channel, key in (("slack", "webhook_url"), ("webhook", "url")):
            url = (channel_config.get(channel) or {}).get(key)
            if not url or (channel == "slack" and is_masked(url)) or self.settings is None:
                continue
            try:
                check_url(url, self.settings)
            except UnsafeURLError as exc:
                errors[channel] = {key: [str(exc).replace(url, mask_url(url))]}
        if errors:
            raise ValidationError({"channel_config": errors})

    @post_load
    def _severity(self, data: dict[str, Any], partial: Any = False, **_: Any) -> dict[str, Any]:
        if not partial and data.get("severity") is None:
            data["severity"] = ALERT_TYPES[data["alert_type"]]
        return data


class ConfigOutSchema(ConfigSchema):
    """A config as responses show it: secrets masked."""

    channel_config = fields.Function(lambda c: mask_channel_config(c.channel_config))


class ConfigQuerySchema(_Strict):
    alert_type = fields.String(validate=validate.OneOf(list(ALERT_TYPES)))
    is_active = fields.Boolean()


# --- notifications, preferences and the API's small shapes ------------------------------------


class DeliverySchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()


class NotificationSchema(Schema):
    id = fields.Integer()
    config_id = fields.Integer(allow_none=True)
    event_id = fields.String()
    alert_type = fields.String()
    severity = fields.String()
    source_severity = fields.String(allow_none=True)
    title = fields.String()
    message = fields.String()
    context = fields.Dict()
    occurrence_count = fields.Integer()
    suppressed_since_last = fields.Integer()
    is_test = fields.Boolean()
    is_read = fields.Function(lambda n: n.read_at is not None, metadata={"type": "boolean"})
    occurred_at = fields.DateTime()
    last_occurred_at = fields.DateTime()
    triggered_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledged_by = fields.Integer(allow_none=True)


class NotificationDetailSchema(NotificationSchema):
    deliveries = fields.List(fields.Nested(DeliverySchema))


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    next_cursor = fields.String(allow_none=True)


class NotificationQuerySchema(_Strict):
    unread_only = fields.Boolean(load_default=False)
    alert_type = fields.String(validate=validate.OneOf(list(ALERT_TYPES)))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    config_id = fields.Integer(validate=validate.Range(1, MAX_ID))
    since = fields.DateTime()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(validate=validate.Length(1, 200))

    @post_load
    def _utc(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if since := data.get("since"):
            try:
                data["since"] = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
            except OverflowError:
                raise ValidationError({"since": ["out of range"]}) from None
        return data


class AlertTestQuerySchema(_Strict):
    alert_type = fields.String(validate=validate.OneOf(list(ALERT_TYPES)))
    config_id = fields.Integer(validate=validate.Range(1, MAX_ID))

    @validates_schema
    def _one(self, data: dict[str, Any], **_: Any) -> None:
        if "alert_type" not in data and "config_id" not in data:
            raise ValidationError({"alert_type": ["required unless config_id is given"]})


def _timezone(name: str) -> None:
    if name not in _zone_names():
        raise ValidationError("must be an IANA time zone name, e.g. Europe/Berlin")


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


_HH_MM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="must be HH:MM (24 h)")


class QuietHoursSchema(_Strict):
    start = fields.String(required=True, validate=_HH_MM)
    end = fields.String(required=True, validate=_HH_MM)
    timezone = fields.String(required=True, validate=[validate.Length(1, 64), _timezone])

    @validates_schema(skip_on_field_errors=True)
    def _window(self, data: dict[str, Any], **_: Any) -> None:
        if data["start"] == data["end"]:
            raise ValidationError({"end": ["must differ from start"]})


class PreferencesSchema(_Strict):
    """A user's notification preferences (SPEC §8); PUT replaces them, omitted fields default."""

    in_app_enabled = fields.Constant(True, dump_only=True)
    email_enabled = fields.Boolean(load_default=True)
    slack_enabled = fields.Boolean(load_default=True)
    webhook_enabled = fields.Boolean(load_default=True)
    min_severity = fields.String(load_default="info", validate=validate.OneOf(SEVERITIES))
    quiet_hours = fields.Nested(QuietHoursSchema, load_default=None, allow_none=True)
    digest = fields.String(load_default="off", validate=validate.OneOf(("off", "hourly", "daily")))
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class CountSchema(Schema):
    count = fields.Integer()


class EventsAcceptedSchema(Schema):
    event_ids = fields.List(fields.String())


class AlertTestAcceptedSchema(Schema):
    event_id = fields.String()
    alert_type = fields.String()
    config_id = fields.Integer(allow_none=True)


class _ErrorBody(Schema):
    code = fields.String()
    message = fields.String()
    field_errors = fields.Dict(data_key="fields")


class ErrorSchema(Schema):
    """The one error shape of every 4xx/5xx: ``{"error": {"code", "message", "fields"}}``."""

    error = fields.Nested(_ErrorBody)
