"""Delivery operations (SPEC §18): a delivery with its attempts, and the replay requests."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from alertworker.core.catalog import ATTEMPT_OUTCOMES, CHANNELS
from alertworker.schemas.configs import MAX_ID, _Strict
from alertworker.schemas.resources import DeliverySchema


class AttemptSchema(Schema):
    attempt = fields.Integer()
    started_at = fields.DateTime()
    duration_ms = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    outcome = fields.String(validate=validate.OneOf(ATTEMPT_OUTCOMES))
    error = fields.String(allow_none=True, metadata={"description": "scrubbed, ≤ 500 chars"})


class DeliveryDetailSchema(DeliverySchema):
    """A delivery with every send attempt, oldest first (numbered from 1 again after a replay)."""

    notification_id = fields.Integer()
    config_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    attempt_log = fields.List(fields.Nested(AttemptSchema))


class BulkRetrySchema(_Strict):
    """Which failed deliveries to replay: created in [since, until), optionally one config's
    or one channel's."""

    config_id = fields.Integer(validate=validate.Range(1, MAX_ID))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    since = fields.AwareDateTime(required=True, default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)

    @validates_schema(skip_on_field_errors=True)
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("until") is not None and data["until"] <= data["since"]:
            raise ValidationError({"until": ["must be after since"]})

    @post_load
    def _utc(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        try:
            return {k: v.astimezone(UTC) if k in ("since", "until") else v for k, v in data.items()}
        except OverflowError:
            raise ValidationError({"since": ["out of range"]}) from None


class BulkRetryAcceptedSchema(Schema):
    count = fields.Integer(metadata={"description": "deliveries put back to pending"})
    truncated = fields.Boolean(
        metadata={"description": "more than 10,000 matched: call again for the next ones"}
    )
