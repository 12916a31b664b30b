"""``GET /admin/alerts/catalog`` and the OpenAPI conditions: generated, never a copy.

Everything here is derived from ``alertworker.core.catalog`` (types, default severities, channels)
and ``CONDITION_SCHEMAS`` (each type's condition keys): a field's JSON Schema comes from
apispec's marshmallow converter, completed with what OpenAPI 3.0 renders poorly (exclusive
bounds) and the field's ``metadata`` (label, description, default). The admin page's form and
the OpenAPI document both read this, so they cannot drift from what the API accepts.
"""

from __future__ import annotations

import functools
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields, validate

from alertworker.core.catalog import ALERT_TYPES, CHANNEL_LABELS, CHANNELS, SEVERITIES
from alertworker.core.scrub import SECRET_KEYS
from alertworker.schemas.configs import CONDITION_SCHEMAS, MASK, ChannelConfigSchema


@functools.cache
def _converter() -> Any:
    plugin = MarshmallowPlugin()
    APISpec("catalog", "1", "3.0.3", plugins=[plugin])
    return plugin.converter


def field_schema(field: fields.Field) -> dict[str, Any]:
    """A condition field as JSON Schema (OpenAPI 3.0 dialect), with its label and default."""
    prop = dict(_converter().field2property(field))
    for v in field.validators:
        if isinstance(v, validate.Range):
            if v.min is not None and not v.min_inclusive:
                prop["exclusiveMinimum"] = True
            if v.max is not None and not v.max_inclusive:
                prop["exclusiveMaximum"] = True
    if prop.get("type") == "object" and "maxLength" in prop:  # apispec's name for Length
        prop["maxProperties"] = prop.pop("maxLength")
    if "label" in field.metadata:
        prop["x-label"] = field.metadata["label"]
    return prop


def conditions_schema(alert_type: str) -> dict[str, Any]:
    """The JSON Schema of one type's ``conditions`` object (unknown keys refused)."""
    schema: Schema = CONDITION_SCHEMAS[alert_type]
    return {
        "type": "object",
        "additionalProperties": False,
        "description": f"conditions of {alert_type} configs",
        "properties": {key: field_schema(f) for key, f in schema.fields.items()},
    }


def channel_fields(channel: str) -> list[dict[str, Any]]:
    """The fields of a channel's ``channel_config`` section (none for in_app); ``secret``: shown
    masked, write-only."""
    nested = ChannelConfigSchema().fields.get(channel)
    if not isinstance(nested, fields.Nested):
        return []
    return [
        {"key": key, "required": f.required, "secret": key in (*SECRET_KEYS, "headers"),
         **field_schema(f)}
        for key, f in nested.schema.fields.items()
    ]  # fmt: skip


def catalog() -> dict[str, Any]:
    """The vocabulary a form needs: severities, channels, alert types and their conditions."""
    return {
        "severities": list(SEVERITIES),
        "channels": [
            {"id": c, "label": CHANNEL_LABELS.get(c, c.capitalize()), "fields": channel_fields(c)}
            for c in CHANNELS
        ],
        "mask": MASK,
        "alert_types": [
            {
                "alert_type": alert_type,
                "default_severity": severity,
                "conditions": [
                    {"key": key, **prop}
                    for key, prop in conditions_schema(alert_type)["properties"].items()
                ],
            }
            for alert_type, severity in ALERT_TYPES.items()
        ],
    }


class CatalogSchema(Schema):
    """The catalog's shape (its content is generated, see :func:`catalog`)."""

    severities = fields.List(fields.String())
    channels = fields.List(
        fields.Dict(),
        metadata={"description": "{id, label, fields: [{key, required, secret, type, ...}]}"},
    )
    mask = fields.String(metadata={"description": "how responses show a stored secret"})
    alert_types = fields.List(
        fields.Dict(),
        metadata={"description": "{alert_type, default_severity, conditions: [{key, type, "
                  "minimum, maximum, exclusiveMinimum, default, description, x-label, ...}]}"},
    )  # fmt: skip
