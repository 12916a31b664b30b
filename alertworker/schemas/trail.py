"""The trail (SPEC §17): an event's outcomes per config, the list's query and page."""

from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, fields, validate

from alertworker.core.catalog import ALERT_TYPES, CHANNELS
from alertworker.schemas.configs import _Strict

OUTCOMES = (
    "no_matching_config", "inactive", "condition_not_met", "provider_filtered", "duplicate",
    "silenced", "inhibited", "cooldown", "hourly_cap", "resolved", "nothing_to_resolve",
    "notified", "rejected",
)  # fmt: skip


class PreferenceDecisionSchema(Schema):
    decision = fields.String(validate=validate.OneOf(("skipped", "deferred", "digest")))
    reason = fields.String(metadata={"description": "opted_out, below_min_severity, quiet_hours"})
    until = fields.DateTime(metadata={"description": "deferred: when the quiet hours end"})
    digest_id = fields.Integer()


class TrailDeliverySchema(Schema):
    delivery_id = fields.Integer()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    recipient = fields.String()
    kind = fields.String()
    status = fields.String()
    preference = fields.Nested(PreferenceDecisionSchema, allow_none=True)


class TrailOutcomeSchema(Schema):
    config_id = fields.Integer(allow_none=True)
    config_name = fields.String(allow_none=True)
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    reason = fields.String(metadata={"description": "in words, naming field, value, threshold"})
    notification_id = fields.Integer(
        metadata={"description": "notified; inhibited: the inhibiting one; cooldown: folded into"}
    )
    notification_ids = fields.List(fields.Integer(), metadata={"description": "resolved"})
    silence_id = fields.Integer()
    until = fields.DateTime(allow_none=True, metadata={"description": "cooldown, hourly_cap"})
    count = fields.Integer(metadata={"description": "hourly_cap: sent in the hour"})
    cap = fields.Integer(metadata={"description": "hourly_cap: max_alerts_per_hour"})
    deliveries = fields.List(
        fields.Nested(TrailDeliverySchema), metadata={"description": "notified"}
    )
    received_at = fields.DateTime(
        metadata={"description": "when the event was processed more than once"}
    )


class EventTrailSchema(Schema):
    event_id = fields.String()
    received_at = fields.DateTime()
    alert_type = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    event_count = fields.Integer(metadata={"description": "events of the batch stored with it"})
    outcomes = fields.List(fields.Nested(TrailOutcomeSchema))


class EventTrailPageSchema(Schema):
    items = fields.List(fields.Nested(EventTrailSchema))
    next_cursor = fields.String(allow_none=True)


class EventTrailQuerySchema(_Strict):
    since = fields.AwareDateTime(default_timezone=UTC)
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    alert_type = fields.String(validate=validate.OneOf(list(ALERT_TYPES)))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(validate=validate.Length(1, 200))
