"""The API's other shapes: notifications and deliveries, queries, preferences, small replies."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from alertworker.core.catalog import ALERT_TYPES, NOTIFICATION_STATES, SEVERITIES
from alertworker.schemas.configs import E164, MAX_ID, _Strict


class DeliverySchema(Schema):
    """One delivery; ``last_error`` also says why a preference held it (skipped, deferred, …)."""

    id = fields.Integer()
    channel = fields.String()
    kind = fields.String()  # trigger | resolve | acknowledge (SPEC §13)
    recipient = fields.String()  # email: the one address, sms: the number; "" for others
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    digest_id = fields.Integer(allow_none=True)
    escalation_step = fields.Integer(allow_none=True)  # the escalation step that made it (§14)
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
    state = fields.String(metadata={"enum": list(NOTIFICATION_STATES)})
    resolved_at = fields.DateTime(allow_none=True)
    resolve_reason = fields.String(allow_none=True)
    resolved_by_event_id = fields.String(allow_none=True)
    resolved_by = fields.Integer(allow_none=True)


class EscalationSchema(Schema):
    """A notification's escalation (SPEC §14); ``step`` counts the steps run, repeats included."""

    policy_id = fields.Integer(allow_none=True)
    step = fields.Integer()
    next_at = fields.DateTime(allow_none=True)
    state = fields.String()


class NotificationDetailSchema(NotificationSchema):
    deliveries = fields.List(fields.Nested(DeliverySchema))
    escalation = fields.Nested(EscalationSchema, allow_none=True)


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    next_cursor = fields.String(allow_none=True)


class _States(fields.String):
    """One state or a comma-separated list of them, loaded as a list."""

    def _deserialize(  # type: ignore[override]  # a String on the wire, a list once loaded
        self, value: Any, attr: Any, data: Any, **kwargs: Any
    ) -> list[str]:
        states = [s.strip() for s in super()._deserialize(value, attr, data, **kwargs).split(",")]
        bad = [s for s in states if s not in NOTIFICATION_STATES]
        if bad:
            raise ValidationError(f"unknown state {bad[0]!r}: use {', '.join(NOTIFICATION_STATES)}")
        return states


class NotificationQuerySchema(_Strict):
    unread_only = fields.Boolean(load_default=False)
    state = _States(metadata={"description": "firing, acknowledged, resolved, or a comma list"})
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
    sms_enabled = fields.Boolean(load_default=True)
    phone = fields.String(load_default=None, allow_none=True, validate=E164)  # SMS (SPEC §14, §15)
    min_severity = fields.String(load_default="info", validate=validate.OneOf(SEVERITIES))
    quiet_hours = fields.Nested(QuietHoursSchema, load_default=None, allow_none=True)
    digest = fields.String(load_default="off", validate=validate.OneOf(("off", "hourly", "daily")))
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class WhoAmISchema(Schema):
    """Who a token is: its tenant, user and scopes (the admin page's header)."""

    tenant = fields.String(metadata={"description": "the tenant's slug (tenant_id of events)"})
    tenant_id = fields.Integer()
    user_id = fields.Integer()
    email = fields.String(allow_none=True)
    scopes = fields.List(fields.String())


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
