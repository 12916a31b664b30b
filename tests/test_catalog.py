"""GET /admin/alerts/catalog is what the schemas accept: every key it lists is accepted by the
API with its default (or a valid value from its range), values past its bounds and unlisted
keys are refused, the latter naming the allowed keys; the OpenAPI document says the same."""

from __future__ import annotations

import pytest

from alertworker.core.catalog import ALERT_TYPES, CHANNELS, EXTERNAL_CHANNELS
from alertworker.ingest.conditions import evaluate
from alertworker.schemas import CONDITION_SCHEMAS
from tests import test_api_support as support
from tests.test_api_support import API, assert_error

app, client, caller = support.app, support.client, support.caller
CONFIGS = f"{API}/admin/alerts/configs"


@pytest.fixture
def catalog(client, caller):
    me = caller(scopes=["alerts:read", "alerts:write"])
    r = client.get(f"{API}/admin/alerts/catalog", headers=me.h)
    assert r.status_code == 200, r.get_json()
    return r.get_json(), me


def _post(client, me, alert_type, conditions):
    body = {"name": "c", "alert_type": alert_type, "channels": ["in_app"], "conditions": conditions}
    return client.post(CONFIGS, json=body, headers=me.h)


def _valid(spec):
    if "default" in spec:
        return spec["default"]
    if spec["type"] == "array":
        return ["openai"] * spec.get("minItems", 1)
    return spec.get("minimum", 0) + (1 if spec.get("exclusiveMinimum") else 0)


def _past_bounds(spec):
    """Values just outside the declared range (or of the wrong type)."""
    if spec["type"] == "array":
        return [[], "openai", [""]]
    bad = [None, True, "x"] + (["5"] if spec["type"] == "integer" else [])  # "5.0": coerced
    if "minimum" in spec:
        bad.append(spec["minimum"] if spec.get("exclusiveMinimum") else spec["minimum"] - 0.5)
    if "maximum" in spec:
        bad.append(spec["maximum"] + (0 if spec.get("exclusiveMaximum") else 0.5))
    if spec["type"] == "integer":
        bad.append(_valid(spec) + 0.5)
    return bad


def test_catalog_lists_types_severities_and_channels(catalog):
    body, _ = catalog
    assert {t["alert_type"]: t["default_severity"] for t in body["alert_types"]} == ALERT_TYPES
    assert [c["id"] for c in body["channels"]] == list(CHANNELS)
    assert body["severities"] == ["info", "warning", "error", "critical"]
    by_type = {t["alert_type"]: t for t in body["alert_types"]}
    assert by_type["delivery_failing"]["default_severity"] == "error"
    latency = {c["key"]: c for c in by_type["high_latency"]["conditions"]}["latency_ms"]
    assert latency | {"description": ""} == latency | {
        "type": "number", "minimum": 0, "exclusiveMinimum": True, "default": 5000,
        "description": "", "x-label": "Latency (ms)",
    }  # fmt: skip


def test_channel_fields_are_what_a_config_needs(catalog, client):
    """Each channel's listed required keys are exactly the ones a config without them misses;
    the secret ones are those responses mask."""
    body, me = catalog
    by_id = {c["id"]: c for c in body["channels"]}
    assert (by_id["pagerduty"]["label"], by_id["sms"]["label"]) == ("PagerDuty", "SMS")
    assert by_id["in_app"]["fields"] == []
    for channel in EXTERNAL_CHANNELS:
        required = {f["key"] for f in by_id[channel]["fields"] if f["required"]}
        config = {"name": "c", "alert_type": "high_latency", "channels": [channel],
                  "channel_config": {channel: {}}}  # fmt: skip
        err = assert_error(client.post(CONFIGS, json=config, headers=me.h), 422)
        assert set(err["fields"]["channel_config"][channel]) == required, (channel, err)
    secret = {(c["id"], f["key"]) for c in body["channels"] for f in c["fields"] if f["secret"]}
    assert secret == {("slack", "webhook_url"), ("webhook", "headers"), ("webhook", "secret"),
                      ("pagerduty", "routing_key")}  # fmt: skip
    (numbers,) = by_id["sms"]["fields"]
    assert numbers["items"]["pattern"] == r"^\+[1-9]\d{6,14}$" and numbers["maxItems"] == 10


def test_catalog_needs_a_token(client):
    assert_error(client.get(f"{API}/admin/alerts/catalog"), 401)


def test_every_listed_key_is_accepted_and_its_bounds_hold(catalog, client):
    body, me = catalog
    for entry in body["alert_types"]:
        alert_type = entry["alert_type"]
        keys = [c["key"] for c in entry["conditions"]]
        assert sorted(keys) == sorted(CONDITION_SCHEMAS[alert_type].fields)
        for spec in entry["conditions"]:
            r = _post(client, me, alert_type, {spec["key"]: _valid(spec)})
            assert r.status_code == 201, (alert_type, spec, r.get_json())
            assert r.get_json()["conditions"] == {spec["key"]: _valid(spec)}
            for value in _past_bounds(spec):
                r = _post(client, me, alert_type, {spec["key"]: value})
                err = assert_error(r, 422)
                assert spec["key"] in err["fields"]["conditions"], (alert_type, spec, value)


@pytest.mark.parametrize("alert_type", sorted(ALERT_TYPES))
def test_an_unlisted_key_is_refused_naming_the_allowed_ones(catalog, client, alert_type):
    body, me = catalog
    (entry,) = [t for t in body["alert_types"] if t["alert_type"] == alert_type]
    err = assert_error(_post(client, me, alert_type, {"latency": 1, "provider_names": ["a"]}), 422)
    (message,) = err["fields"]["conditions"]["latency"]
    assert alert_type in message
    assert message.endswith("allowed: " + ", ".join(sorted(c["key"] for c in entry["conditions"])))


def test_catalog_defaults_are_what_the_evaluator_uses(catalog):
    """Just below a default, a config without the key is not met, as with the key explicit;
    with a lower explicit value it is: so the default is the one the evaluator applies."""
    body, _ = catalog
    checked = 0
    for entry in body["alert_types"]:
        for spec in entry["conditions"]:
            if "default" not in spec:
                continue
            x = spec["default"] * 0.9
            ctx = {"latency_ms": x, "error_rate": x, "percentage": x * 100, "requests": x * 100,
                   "limit": 100}  # fmt: skip
            alert_type = entry["alert_type"]
            explicit = {spec["key"]: spec["default"]}
            assert evaluate(alert_type, {}, ctx) == evaluate(alert_type, explicit, ctx)
            assert not evaluate(alert_type, {}, ctx).met
            assert evaluate(alert_type, {spec["key"]: x}, ctx).met
            checked += 1
    assert checked == 4  # threshold twice, error_rate, latency_ms


def test_openapi_describes_each_types_conditions(client, catalog):
    body, _ = catalog
    doc = client.get("/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    conditions = schemas["Config"]["properties"]["conditions"]
    assert schemas["ConfigOut"]["properties"]["conditions"] == conditions
    for entry in body["alert_types"]:
        ref = conditions["x-conditions-by-alert-type"][entry["alert_type"]]["$ref"]
        component = schemas[ref.rsplit("/", 1)[1]]
        assert component["additionalProperties"] is False
        assert {k: v for k, v in component["properties"].items()} == {
            c["key"]: {k: v for k, v in c.items() if k != "key"} for c in entry["conditions"]
        }
        assert {"$ref": ref} in conditions["anyOf"]


def test_the_readme_lists_each_types_condition_keys():
    """README "Conditions" names exactly the keys each type accepts (the issue: documented
    nowhere), with the defaults the schemas declare."""
    import re
    from pathlib import Path

    from alertworker.schemas.configs import CONDITION_DEFAULTS

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = text.split("### Conditions", 1)[1].split("\n\n")[2]
    rows = {}
    for line in table.splitlines()[2:]:
        name, keys = (cell.strip() for cell in line.strip("|").split("|"))
        rows[name.strip("`")] = keys
    with_keys = {t for t, s in CONDITION_SCHEMAS.items() if set(s.fields) != {"provider_names"}}
    assert set(rows) - {"every other type"} == with_keys
    for alert_type, schema in CONDITION_SCHEMAS.items():
        cell = rows.get(alert_type, rows["every other type"])
        keys = set(re.findall(r"(?:^|; )`(\w+)`", cell))
        assert keys == set(schema.fields) - {"provider_names"}, alert_type
        for key, default in CONDITION_DEFAULTS[alert_type].items():
            assert f"default {default}" in cell, (alert_type, key)
