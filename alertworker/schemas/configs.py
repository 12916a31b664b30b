"""Alert configs (SPEC §4) as the API reads and writes them, and the per-type conditions.

Unknown keys are rejected, naming the key. Secrets (slack.webhook_url, webhook header values,
webhook.secret, pagerduty.routing_key) are write-only: responses carry
``mask_channel_config``'s masks, and a masked value sent back means "keep the stored one"
(``configs.restore_secrets`` swaps it back).
URLs are checked by ``outbound.check_url``; no string of a channel config may hold a control
character, and custom headers follow ``outbound.header_problem`` (no look-alike of a header
alertworker sets, by case or ``_``/``-``).
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from alertworker.core.catalog import ALERT_TYPES, CHANNELS, SEVERITIES
from alertworker.core.scrub import MASK
from alertworker.delivery.outbound import has_control, header_problem

# --- conditions (SPEC §4) -------------------------------------------------------------------


class _Conditions(Schema):
    """Every type's conditions. A field's ``metadata`` (label, description, default: what the
    evaluator uses when the key is absent) is what the catalog and the OpenAPI document show."""

    class Meta:
        unknown = RAISE

    provider_names = fields.List(
        fields.String(validate=validate.Length(1, 200)),
        validate=validate.Length(1, 100),
        metadata={"label": "Providers", "description": "context.provider_name is one of these"},
    )


def _threshold(compared_with: str) -> fields.Float:
    return fields.Float(
        allow_nan=False,
        validate=validate.Range(0, 1, min_inclusive=False, max_inclusive=True),
        metadata={"label": "Threshold (fraction of the limit)", "default": 0.9,
                  "description": f"met when {compared_with} is at least this"},
    )  # fmt: skip


class _CircuitBreakerOpened(_Conditions):
    min_consecutive_failures = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={"label": "Min. consecutive failures",
                  "description": "met when context.consecutive_failures is at least this"},
    )  # fmt: skip


class _CostLimitWarning(_Conditions):
    threshold = _threshold("context.percentage / 100 (or current_value / limit_value)")


class _RateLimitWarning(_Conditions):
    threshold = _threshold("context.requests / context.limit")


class _HighErrorRate(_Conditions):
    error_rate = fields.Float(
        allow_nan=False,
        validate=validate.Range(0, 1),
        metadata={"label": "Error rate", "default": 0.05,
                  "description": "met when context.error_rate is at least this"},
    )  # fmt: skip
    min_requests = fields.Integer(
        strict=True,
        validate=validate.Range(min=0),
        metadata={"label": "Min. requests",
                  "description": "and context.requests is at least this"},
    )  # fmt: skip


class _HighLatency(_Conditions):
    latency_ms = fields.Float(
        allow_nan=False,
        validate=validate.Range(0, min_inclusive=False),
        metadata={"label": "Latency (ms)", "default": 5000,
                  "description": "met when context.latency_ms is at least this"},
    )  # fmt: skip


def _conditions(alert_type: str, cls: type[_Conditions] = _Conditions) -> _Conditions:
    """The schema of one type's conditions; an unknown key's error names the allowed ones."""
    schema = cls()
    allowed = ", ".join(sorted(schema.fields))
    schema.error_messages = schema.error_messages | {
        "unknown": f"not a condition of {alert_type}; allowed: {allowed}"
    }
    return schema


_TYPED: dict[str, type[_Conditions]] = {
    "circuit_breaker_opened": _CircuitBreakerOpened,
    "cost_limit_warning": _CostLimitWarning,
    "rate_limit_warning": _RateLimitWarning,
    "high_error_rate": _HighErrorRate,
    "high_latency": _HighLatency,
}
CONDITION_SCHEMAS: dict[str, Schema] = {
    alert_type: _conditions(alert_type, _TYPED.get(alert_type, _Conditions))
    for alert_type in ALERT_TYPES
}
# alert_type -> {key: the value the evaluator uses when the config leaves the key out}
CONDITION_DEFAULTS: dict[str, dict[str, Any]] = {
    alert_type: {k: f.metadata["default"] for k, f in s.fields.items() if "default" in f.metadata}
    for alert_type, s in CONDITION_SCHEMAS.items()
}


# --- alert configs ---------------------------------------------------------------------------

MAX_ID = 2**31 - 1


def _no_control(value: str) -> None:
    """Every string of a channel config goes out (headers, addresses, URLs, the Slack channel)."""
    if has_control(value):
        raise ValidationError("must not contain control characters")


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
    if (pagerduty := masked.get("pagerduty")) and pagerduty.get("routing_key"):
        pagerduty["routing_key"] = MASK
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
        _no_control(value)
        _URL(value)
        if "@" in urlsplit(value).netloc:
            raise ValidationError("must not contain credentials")
        return value


def _headers(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        if problem := header_problem(name, value):
            raise ValidationError(problem)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class EmailChannelSchema(_Strict):
    recipients = fields.List(
        fields.Email(validate=[validate.Length(max=320), _no_control]),
        required=True,
        validate=validate.Length(1, 50),
    )


class SlackChannelSchema(_Strict):
    webhook_url = _HttpURL(secret=True, required=True)
    channel = fields.String(validate=[validate.Length(1, 80), _no_control])


class WebhookChannelSchema(_Strict):
    url = _HttpURL(required=True)
    headers = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 100)),
        values=fields.String(validate=validate.Length(max=4096)),
        load_default=dict,
        validate=[validate.Length(max=20), _headers],
    )
    secret = fields.String(
        load_default=None, allow_none=True, validate=[validate.Length(1, 512), _no_control]
    )


def _routing_key(value: str) -> None:
    if not is_masked(value) and (len(value) != 32 or not value.isascii() or not value.isalnum()):
        raise ValidationError("must be a PagerDuty integration key: 32 letters and digits")


class PagerDutyChannelSchema(_Strict):
    routing_key = fields.String(required=True, validate=_routing_key)  # a secret (SPEC §15)


E164 = validate.Regexp(r"^\+[1-9]\d{6,14}$", error="must be an E.164 number, e.g. +4915112345678")


class SmsChannelSchema(_Strict):
    numbers = fields.List(
        fields.String(validate=E164), required=True, validate=validate.Length(1, 10)
    )


class ChannelConfigSchema(_Strict):
    email = fields.Nested(EmailChannelSchema)
    slack = fields.Nested(SlackChannelSchema)
    webhook = fields.Nested(WebhookChannelSchema)
    pagerduty = fields.Nested(PagerDutyChannelSchema)
    sms = fields.Nested(SmsChannelSchema)


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
        missing = {
            ch: ["required when the channel is selected"]
            for ch in data["channels"]
            if ch != "in_app" and ch not in present
        }
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
        validate=validate.Length(1, len(CHANNELS)),
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
    auto_resolve_minutes = fields.Integer(
        strict=True, load_default=0, validate=validate.Range(0, 10080)
    )
    notify_on_resolve = fields.Boolean(load_default=True)
    escalation_policy_id = fields.Integer(
        strict=True, load_default=None, allow_none=True, validate=validate.Range(1, MAX_ID)
    )  # SPEC §14: the tenant's own policy (checked by ``configs``)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    @pre_load
    def _read_only(self, data: Any, **_: Any) -> Any:
        """``health`` (SPEC §18) and ``last_fired_at`` are computed: sent back with the rest of
        a config, they are dropped."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in ("health", "last_fired_at")}
        return data

    @validates_schema(skip_on_field_errors=True)
    def _whole(self, data: dict[str, Any], partial: Any = False, **_: Any) -> None:
        if "channels" in data:
            data["channels"] = list(dict.fromkeys(data["channels"]))
        if not partial:
            check_config(data)
        if errors := unsafe_urls(data.get("channel_config") or {}, self.settings):
            raise ValidationError({"channel_config": errors})

    @post_load
    def _severity(self, data: dict[str, Any], partial: Any = False, **_: Any) -> dict[str, Any]:
        if not partial and data.get("severity") is None:
            data["severity"] = ALERT_TYPES[data["alert_type"]]
        return data


def unsafe_urls(channel_config: dict[str, Any], settings: Any) -> dict[str, Any]:
    """Per channel, the Slack or webhook URL that outbound safety refuses (none without
    ``settings``); masked in the message."""
    from alertworker.delivery.outbound import UnsafeURLError, check_url

    errors: dict[str, Any] = {}
    for channel, key in (("slack", "webhook_url"), ("webhook", "url")):
        url = (channel_config.get(channel) or {}).get(key)
        if not url or (channel == "slack" and is_masked(url)) or settings is None:
            continue
        try:
            check_url(url, settings)
        except UnsafeURLError as exc:
            errors[channel] = {key: [str(exc).replace(url, mask_url(url))]}
    return errors


class EndpointHealthSchema(Schema):
    """One destination's health (SPEC §18): consecutive failed deliveries, reset by a success."""

    consecutive_failures = fields.Integer()
    last_failure_at = fields.DateTime(allow_none=True)
    last_success_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_alerted_at = fields.DateTime(allow_none=True, metadata={"description": "delivery_failing"})


class ConfigOutSchema(ConfigSchema):
    """A config as responses show it: secrets masked, each external channel's ``health``."""

    # masked on the way out: a Function here where ConfigSchema loads a Nested
    channel_config = fields.Function(  # type: ignore[assignment]
        lambda c: mask_channel_config(c.channel_config)
    )
    health = fields.Method("_health", metadata={"type": "object", "additionalProperties": {
        "$ref": "#/components/schemas/EndpointHealth"}})  # fmt: skip
    last_fired_at = fields.DateTime(
        dump_only=True, allow_none=True,
        metadata={"description": "when its newest notification was made; null if never"},
    )  # fmt: skip

    def _health(self, config: Any) -> dict[str, Any]:
        rows = {h.channel: h for h in config.health}
        empty = {"consecutive_failures": 0} | dict.fromkeys(
            ("last_failure_at", "last_success_at", "last_error", "last_alerted_at")
        )
        return {
            channel: EndpointHealthSchema().dump(rows.get(channel, empty))
            for channel in config.channels
            if channel != "in_app"
        }


class ConfigQuerySchema(_Strict):
    alert_type = fields.String(validate=validate.OneOf(list(ALERT_TYPES)))
    is_active = fields.Boolean()
