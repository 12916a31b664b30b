"""The hot path's event loader accepts and rejects exactly what the marshmallow schema does,
with the same output (and so the same wire form) and the same error messages."""

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from functools import partial

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from alertworker.core.catalog import ALERT_TYPES, SEVERITIES
from alertworker.schemas import EventSchema, PublicEventSchema, event_to_wire
from alertworker.schemas.fast_events import _fast, load_event, load_events, wire_events

GENERATED = ("event_id", "occurred_at")  # filled in when absent: random uuid4, now

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
odd_values = (
    st.binary(max_size=20)
    | st.sampled_from([uuid.uuid4(), datetime.now(UTC), math.nan, math.inf, (1, 2), {1, 2}, 1.0])
    | st.sampled_from(["yes", "0", 1, 0, "t"])  # what marshmallow's Boolean takes for bools
)
any_value = json_values | odd_values

UUID_FORMS = (
    str,
    lambda u: str(u).upper(),
    lambda u: u.hex,
    lambda u: f"{{{u}}}",
    "urn:uuid:{}".format,
)
uuids = st.builds(lambda u, form: form(u), st.uuids(), st.sampled_from(UUID_FORMS))
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
stamps = st.datetimes(timezones=st.none() | zones).map(lambda d: d.isoformat()) | st.sampled_from(
    ["2026-01-01T00:00:00Z", "2026-01-01", "2026-01-01 10:00+01:00", "yesterday", ""]
)
slugs = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z") | st.sampled_from(
    ["acme", "acme\n", "", "has space", "x" * 65, "-lead", "ok.dot_-"]
)
contexts = st.dictionaries(st.text(max_size=10), json_values, max_size=6) | st.sampled_from(
    [{"blob": "x" * n} for n in (16_373, 16_374)]  # 16 KiB serialized, and one byte more
    + [{"blob": "é" * n} for n in (2_728, 2_729)]  # \u00e9: 6 bytes each, as json.dumps counts
    + [{1: "int key"}, {"nested": {2: "int key"}}]
)

FIELDS = {
    "event_id": uuids | st.none() | st.text(max_size=40),
    "tenant_id": slugs,
    "alert_type": st.sampled_from([*ALERT_TYPES, "meteor_strike"]),
    "title": st.none() | st.text(max_size=210) | st.sampled_from(["", "x" * 200, "x" * 201]),
    "message": st.text(max_size=30) | st.sampled_from(["x" * 4000, "x" * 4001]),
    "severity": st.none() | st.sampled_from([*SEVERITIES, "fatal"]),
    "context": contexts,
    "occurred_at": stamps | st.none(),
    "action": st.sampled_from(["trigger", "resolve", "close"]),
    "is_test": st.booleans(),
    "config_id": st.none() | st.integers(-5, 2**40) | st.just(True),
    "surprise": st.integers(),
}


@st.composite
def events(draw, odd: bool = True):
    """Events with each field absent, plausible, or (with ``odd``) anything at all."""
    out = {}
    for name, values in FIELDS.items():
        if name == "surprise" and not draw(st.integers(0, 20)) == 0:
            continue
        if name in ("tenant_id", "alert_type", "title") and draw(st.integers(0, 9)) == 0:
            continue  # sometimes missing
        if name not in ("tenant_id", "alert_type", "title") and draw(st.booleans()):
            continue
        out[name] = draw(any_value if odd and draw(st.integers(0, 7)) == 0 else values)
    return out


def outcome(load, raw):
    try:
        return "ok", load(raw)
    except ValidationError as err:
        return "error", err.messages


def assert_same(fast, slow, raw):
    assert fast[0] == slow[0], (raw, fast, slow)
    if fast[0] == "error":
        assert fast[1] == slow[1]
        return
    a, b = fast[1], slow[1]
    assert list(a) == list(b)  # same keys, same order: the same wire form
    wa, wb = event_to_wire(a), event_to_wire(b)
    for key in GENERATED:
        if raw.get(key) is None:  # each side made its own: both of the right kind
            if key == "event_id":
                assert uuid.UUID(a[key]).version == uuid.UUID(b[key]).version == 4
            else:
                assert abs(a[key] - b[key]) < timedelta(seconds=5)
                assert a[key].tzinfo == b[key].tzinfo == UTC
            a, b = {**a, key: None}, {**b, key: None}
            wa, wb = {**wa, key: None}, {**wb, key: None}
    assert a == b
    assert json.dumps(wa) == json.dumps(wb)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=events() | any_value)
def test_one_event_loads_exactly_as_the_schema(raw):
    for internal, schema in ((True, EventSchema()), (False, PublicEventSchema())):
        slow = outcome(schema.load, raw)
        assert_same(outcome(partial(load_event, internal=internal), raw), slow, raw)
        fast = _fast(raw, internal)  # the fast path alone never accepts what the schema refuses
        if fast is not None:
            assert_same(("ok", fast), slow, raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raws=st.lists(events(), min_size=1, max_size=4))
def test_arrays_load_exactly_as_the_schema_with_many(raws):
    for internal, schema in ((True, EventSchema()), (False, PublicEventSchema())):
        fast = outcome(partial(load_events, internal=internal), raws)
        slow = outcome(partial(schema.load, many=True), raws)
        assert fast[0] == slow[0]
        if fast[0] == "error":
            assert fast[1] == slow[1]
        else:
            for raw, a, b in zip(raws, fast[1], slow[1], strict=True):
                assert_same(("ok", a), ("ok", b), raw)


@settings(max_examples=300, deadline=None)
@given(raw=events(odd=False))
def test_plain_valid_events_take_the_fast_path(raw):
    """What a JSON body or a broker message carries is decided without marshmallow, so the
    speed is there; and the wire form loads again to itself (the worker reads it)."""
    for internal, schema in ((True, EventSchema()), (False, PublicEventSchema())):
        try:
            expected = schema.load(raw)
        except ValidationError:
            continue
        json_safe = json.loads(json.dumps(raw))
        if json_safe != raw:  # e.g. an int key in the context: JSON never carries one
            continue
        assert _fast(raw, internal) is not None, raw
        wire = event_to_wire(expected)
        again = outcome(EventSchema().load, wire)  # ("error" for a trigger titled null)
        assert_same(outcome(load_event, wire), again, wire)
        assert (_fast(wire, True) is not None) == (again[0] == "ok")


def test_wire_events_is_the_publishers_form():
    raw = {"tenant_id": "acme", "alert_type": "high_latency", "title": "slow", "action": "trigger"}
    (wire,) = wire_events([raw])
    assert set(wire) == {"event_id", "tenant_id", "alert_type", "title", "message", "context",
                         "occurred_at"}  # fmt: skip
    assert wire_events([wire]) == [wire]
