"""The event wire format of SPEC §3, as the publisher, the API and the worker validate it."""

import uuid

import pytest
from marshmallow import ValidationError

from alertworker.schemas import CONDITION_SCHEMAS, EventSchema, PublicEventSchema

GOOD = {"tenant_id": "acme", "alert_type": "high_latency", "title": "slow"}


def test_defaults_are_filled():
    e = EventSchema().load(GOOD)
    uuid.UUID(e["event_id"])
    assert e["occurred_at"].tzinfo is not None
    assert (e["message"], e["context"], e["severity"], e["is_test"]) == ("", {}, None, False)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"alert_type": "meteor_strike"}, "alert_type"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"message": "x" * 4001}, "message"),
        ({"severity": "fatal"}, "severity"),
        ({"context": ["not", "an", "object"]}, "context"),
        ({"context": {"blob": "x" * 17000}}, "context"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "occurred_at"),  # no zone: not RFC 3339
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"tenant_id": "has space"}, "tenant_id"),
        ({"tenant_id": 7}, "tenant_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_events_name_the_field(change, field):
    with pytest.raises(ValidationError) as err:
        EventSchema().load({**GOOD, **change})
    assert field in err.value.messages


def test_public_schema_refuses_test_only_fields():
    with pytest.raises(ValidationError) as err:
        PublicEventSchema().load({**GOOD, "is_test": True})
    assert "is_test" in err.value.messages


def test_condition_keys_are_per_type_and_unknown_keys_are_named():
    CONDITION_SCHEMAS["high_latency"].load({"latency_ms": 100, "provider_names": ["a"]})
    with pytest.raises(ValidationError) as err:
        CONDITION_SCHEMAS["high_latency"].load({"threshold": 0.5})
    assert "threshold" in err.value.messages
    with pytest.raises(ValidationError):
        CONDITION_SCHEMAS["cost_limit_warning"].load({"threshold": 1.5})
    with pytest.raises(ValidationError):
        CONDITION_SCHEMAS["circuit_breaker_opened"].load({"min_consecutive_failures": 0})
