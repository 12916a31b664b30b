"""Silences and inhibition rules (SPEC §16) as the API reads and writes them.

A matcher's regex is compiled here, so one that does not compile is a 422 naming the matcher.
``SilenceSchema(now=...)`` checks the times against ``now``: ``ends_at`` after ``starts_at``
(default now), after now and at most 90 days after now. Naive times are read as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from alertworker.core.catalog import ALERT_TYPES, SEVERITIES
from alertworker.ingest.matchers import CONTEXT, FIELDS, OPS, compile_regex
from alertworker.schemas.configs import _Strict

MAX_SILENCE = timedelta(days=90)
STATES = ("pending", "active", "expired")
_CONTEXT_KEY = re.compile(r"[^\s]{1,100}")
_KNOWN = {"alert_type": set(ALERT_TYPES), "severity": set(SEVERITIES)}


def _matcher_name(name: str) -> None:
    if name in FIELDS:
        return
    if not (name.startswith(CONTEXT) and _CONTEXT_KEY.fullmatch(name[len(CONTEXT) :])):
        raise ValidationError("must be alert_type, severity, config_id or context.<key>")


def _equal_name(name: str) -> None:
    if name != "alert_type" and not (
        name.startswith(CONTEXT) and _CONTEXT_KEY.fullmatch(name[len(CONTEXT) :])
    ):
        raise ValidationError("must be alert_type or context.<key>")


class MatcherSchema(_Strict):
    name = fields.String(required=True, validate=[validate.Length(1, 108), _matcher_name])
    op = fields.String(required=True, validate=validate.OneOf(OPS))
    value = fields.String(required=True, validate=validate.Length(0, 1000))

    @validates_schema(skip_on_field_errors=True)
    def _value(self, data: dict[str, Any], **_: Any) -> None:
        value, name = data["value"], data["name"]
        if data["op"] in ("=~", "!~"):
            try:
                compile_regex(value)
            except ValueError as exc:
                raise ValidationError({"value": [str(exc)]}) from None
        elif name in _KNOWN and value not in _KNOWN[name]:
            raise ValidationError({"value": [f"not a known {name}: {value!r}"]})


def _matchers(**kwargs: Any) -> fields.List:
    return fields.List(fields.Nested(MatcherSchema), validate=validate.Length(1, 20), **kwargs)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class SilenceSchema(_Strict):
    """A silence as POST and PUT take it (PUT replaces every field)."""

    def __init__(self, *, now: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.now = now

    id = fields.Integer(dump_only=True)
    matchers = _matchers(required=True)
    starts_at = fields.AwareDateTime(default_timezone=UTC, load_default=None)
    ends_at = fields.AwareDateTime(default_timezone=UTC, required=True)
    comment = fields.String(required=True, validate=validate.Length(1, 500))

    @validates_schema(skip_on_field_errors=True)
    def _times(self, data: dict[str, Any], **_: Any) -> None:
        now = self.now or datetime.now(UTC)
        try:
            starts = _utc(data["starts_at"]) if data.get("starts_at") else now
            ends = _utc(data["ends_at"])
        except OverflowError:
            raise ValidationError({"ends_at": ["out of range"]}) from None
        data["starts_at"], data["ends_at"] = starts, ends
        if ends <= starts:
            raise ValidationError({"ends_at": ["must be after starts_at"]})
        if ends <= now:
            raise ValidationError({"ends_at": ["must be in the future"]})
        if ends > now + MAX_SILENCE:
            raise ValidationError({"ends_at": ["must be at most 90 days from now"]})


class SilenceOutSchema(Schema):
    id = fields.Integer()
    matchers = fields.List(fields.Nested(MatcherSchema))
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    comment = fields.String()
    created_by = fields.Integer(allow_none=True)
    state = fields.String(metadata={"enum": list(STATES)})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SilenceListSchema(Schema):
    items = fields.List(fields.Nested(SilenceOutSchema))


class SilenceQuerySchema(_Strict):
    state = fields.String(validate=validate.OneOf(STATES))


class InhibitRuleSchema(_Strict):
    """While an open notification matches ``source``, events matching ``target`` whose
    ``equal`` values are the notification's are not notified."""

    id = fields.Integer(dump_only=True)
    source = _matchers(required=True)
    target = _matchers(required=True)
    equal = fields.List(
        fields.String(validate=[validate.Length(1, 108), _equal_name]),
        load_default=list,
        validate=validate.Length(0, 10),
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class InhibitRuleListSchema(Schema):
    items = fields.List(fields.Nested(InhibitRuleSchema))
