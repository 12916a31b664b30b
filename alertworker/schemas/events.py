"""The event wire format of SPEC §3, as the publisher, the API and the worker validate it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

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

from alertworker.core.catalog import ALERT_TYPES, SEVERITIES

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
    title = fields.String(load_default=None, validate=validate.Length(1, 200))  # see _title
    message = fields.String(load_default="", validate=validate.Length(0, 4000))
    severity = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(SEVERITIES)
    )
    context = fields.Dict(keys=fields.String(), load_default=dict)
    occurred_at = fields.AwareDateTime(load_default=None, allow_none=True)
    # Set only by the API's test endpoint: bypasses throttling, optionally targets one config.
    is_test = fields.Boolean(load_default=False)
    config_id = fields.Integer(load_default=None, allow_none=True, strict=True)
    # SPEC §13: "resolve" closes the open alert this event names; its title is optional.
    action = fields.String(load_default="trigger", validate=validate.OneOf(("trigger", "resolve")))

    @validates("context")
    def _context_size(self, value: dict[str, Any], **_: Any) -> None:
        try:
            size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"must be a JSON object: {exc}") from None
        if size > MAX_CONTEXT_BYTES:
            raise ValidationError(f"is {size} bytes serialized; at most {MAX_CONTEXT_BYTES}")

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _title(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        if data.get("action", "trigger") != "trigger":
            return
        if not (isinstance(original, dict) and "title" in original):
            raise ValidationError({"title": ["Missing data for required field."]})
        if original["title"] is None:  # the worker could not show a trigger without one
            raise ValidationError({"title": ["Field may not be null."]})

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
    skip = ("is_test", "config_id", "action")
    wire = {k: v for k, v in event.items() if v is not None and k not in skip}
    if event.get("action", "trigger") != "trigger":
        wire["action"] = event["action"]
    wire["occurred_at"] = event["occurred_at"].isoformat()
    if event.get("is_test"):
        wire["is_test"] = True
    if event.get("config_id") is not None:
        wire["config_id"] = event["config_id"]
    return wire
