"""SPEC §14 shapes: users, on-call schedules, escalation policies and their targets.

Targets reuse the channel_config schemas (a Slack target is a ``SlackChannelSchema`` with a
``type``, and so on), so they follow the same validation, masking and outbound-safety rules.
Ids (users, schedules) are checked against the tenant by the domain (``oncall``, ``policies``),
which knows the tenant; a schema does not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from alertworker.paging.schedules import DAYS
from alertworker.schemas.configs import (
    E164,
    MAX_ID,
    PagerDutyChannelSchema,
    SlackChannelSchema,
    WebhookChannelSchema,
    _Strict,
    mask_channel_config,
    unsafe_urls,
)
from alertworker.schemas.resources import _HH_MM, _timezone

_ID: dict[str, Any] = {"strict": True, "validate": validate.Range(1, MAX_ID)}


class UserSchema(_Strict):
    id = fields.Integer(dump_only=True)
    email = fields.Email(required=True, validate=validate.Length(max=320))


class UserListSchema(_Strict):
    items = fields.List(fields.Nested(UserSchema))


# --- schedules ---------------------------------------------------------------------------------


class _Instant(fields.String):
    """An RFC 3339 instant with a UTC offset, kept as its ISO text."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            t = datetime.fromisoformat(text) if "T" in text.upper() else None
        except ValueError:
            t = None
        if t is None or t.tzinfo is None:
            raise ValidationError("must be an RFC 3339 time with an offset, e.g. 2026-03-02T09:00Z")
        return t.isoformat()


class _Rotation(fields.Field):
    """``"daily"``, ``"weekly"`` or ``{"hours": 1..720}``."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value in ("daily", "weekly"):
            return value
        if isinstance(value, dict) and set(value) == {"hours"}:
            hours = value["hours"]
            if isinstance(hours, int) and not isinstance(hours, bool) and 1 <= hours <= 720:
                return {"hours": hours}
        raise ValidationError('must be "daily", "weekly" or {"hours": 1..720}')


class RestrictionSchema(_Strict):
    days = fields.List(
        fields.String(validate=validate.OneOf(DAYS)), required=True, validate=validate.Length(1, 7)
    )
    start = fields.String(required=True, validate=_HH_MM)
    end = fields.String(required=True, validate=_HH_MM)


class LayerSchema(_Strict):
    users = fields.List(fields.Integer(**_ID), required=True, validate=validate.Length(1, 50))
    rotation = _Rotation(required=True, metadata={"description": 'daily, weekly or {"hours": N}'})
    start = _Instant(required=True)
    restrictions = fields.List(
        fields.Nested(RestrictionSchema), load_default=list, validate=validate.Length(max=20)
    )


class OverrideSchema(_Strict):
    user_id = fields.Integer(required=True, **_ID)
    start = _Instant(required=True)
    end = _Instant(required=True)

    @validates_schema(skip_on_field_errors=True)
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if datetime.fromisoformat(data["end"]) <= datetime.fromisoformat(data["start"]):
            raise ValidationError({"end": ["must be after start"]})


class ScheduleSchema(_Strict):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    timezone = fields.String(required=True, validate=[validate.Length(1, 64), _timezone])
    layers = fields.List(fields.Nested(LayerSchema), required=True, validate=validate.Length(1, 5))
    overrides = fields.List(
        fields.Nested(OverrideSchema), load_default=list, validate=validate.Length(max=100)
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ScheduleListSchema(_Strict):
    items = fields.List(fields.Nested(ScheduleSchema))


class OnCallQuerySchema(_Strict):
    """``at`` (default now) for who is on call, or ``from`` and ``to`` (≤ 31 days) for shifts."""

    at = fields.AwareDateTime()
    start = fields.AwareDateTime(data_key="from")
    end = fields.AwareDateTime(data_key="to")

    @validates_schema
    def _one(self, data: dict[str, Any], **_: Any) -> None:
        if ("start" in data) != ("end" in data):
            raise ValidationError({"to" if "start" in data else "from": ["give both from and to"]})
        if "at" in data and "start" in data:
            raise ValidationError({"at": ["give either at, or from and to"]})


class OnCallSchema(_Strict):
    user_id = fields.Integer(allow_none=True)
    email = fields.String(allow_none=True)
    layer = fields.Integer(allow_none=True)
    override = fields.Boolean()
    until = fields.DateTime(allow_none=True)


class ShiftSchema(_Strict):
    start = fields.DateTime()
    end = fields.DateTime()
    user_id = fields.Integer()
    email = fields.String(allow_none=True)
    layer = fields.Integer(allow_none=True)
    override = fields.Boolean()


class ShiftsSchema(_Strict):
    shifts = fields.List(fields.Nested(ShiftSchema))


# --- escalation policies -----------------------------------------------------------------------


class _Typed(_Strict):
    type = fields.String(required=True)


class UserTarget(_Typed):
    user_id = fields.Integer(required=True, **_ID)


class ScheduleTarget(_Typed):
    schedule_id = fields.Integer(required=True, **_ID)


class EmailTarget(_Typed):
    address = fields.Email(required=True, validate=validate.Length(max=320))


class SlackTarget(SlackChannelSchema, _Typed):
    pass


class WebhookTarget(WebhookChannelSchema, _Typed):
    pass


class PagerDutyTarget(PagerDutyChannelSchema, _Typed):
    pass


class SmsTarget(_Typed):  # one number of ``channel_config.sms.numbers``
    number = fields.String(required=True, validate=E164)


TARGETS: dict[str, type[_Typed]] = {
    "user": UserTarget, "schedule": ScheduleTarget, "email": EmailTarget, "slack": SlackTarget,
    "webhook": WebhookTarget, "pagerduty": PagerDutyTarget, "sms": SmsTarget,
}  # fmt: skip


def mask_target(target: dict[str, Any]) -> dict[str, Any]:
    """A target as responses show it: its secrets masked as channel_config masks them."""
    kind = target.get("type")
    if kind in ("slack", "webhook", "pagerduty"):
        return mask_channel_config({kind: target})[kind]
    return dict(target)


class _Target(fields.Field):
    """One target, validated by the schema its ``type`` names."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValidationError("must be an object with a type")
        schema = TARGETS.get(value.get("type"))  # type: ignore[arg-type]
        if schema is None:
            raise ValidationError({"type": [f"must be one of: {', '.join(TARGETS)}"]})
        return schema().load(value)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else mask_target(value)


class StepSchema(_Strict):
    delay_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(0, 1440))
    targets = fields.List(
        _Target(metadata={"type": "object", "description": "one of: " + ", ".join(TARGETS)}),
        required=True,
        validate=validate.Length(1, 10),
    )


class PolicySchema(_Strict):
    """An escalation policy. ``PolicySchema(settings=s)`` checks target URLs against ``s``."""

    def __init__(self, *, settings: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    steps = fields.List(fields.Nested(StepSchema), required=True, validate=validate.Length(1, 10))
    repeat = fields.Integer(strict=True, load_default=0, validate=validate.Range(0, 5))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    @validates_schema(skip_on_field_errors=True)
    def _urls(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[int, Any] = {}
        for i, step in enumerate(data["steps"]):
            for j, target in enumerate(step["targets"]):
                if bad := unsafe_urls({target["type"]: target}, self.settings):
                    errors.setdefault(i, {"targets": {}})["targets"][j] = bad[target["type"]]
        if errors:
            raise ValidationError({"steps": errors})


class PolicyListSchema(_Strict):
    items = fields.List(fields.Nested(PolicySchema))
