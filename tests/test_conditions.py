"""Every condition rule of SPEC §4: met, not met, missing field, non-numeric field."""

import pytest

from alertworker.ingest.conditions import evaluate

CASES = [
    # alert_type, conditions, context, met
    ("circuit_breaker_opened", {"min_consecutive_failures": 3}, {"consecutive_failures": 3}, True),
    ("circuit_breaker_opened", {"min_consecutive_failures": 3}, {"consecutive_failures": 2}, False),
    ("circuit_breaker_opened", {"min_consecutive_failures": 3}, {}, False),
    (
        "circuit_breaker_opened",
        {"min_consecutive_failures": 3},
        {"consecutive_failures": "9"},
        False,
    ),
    (
        "circuit_breaker_opened",
        {"min_consecutive_failures": 3},
        {"consecutive_failures": True},
        False,
    ),
    ("circuit_breaker_opened", {}, {}, True),
    ("cost_limit_warning", {}, {"percentage": 90}, True),
    ("cost_limit_warning", {}, {"percentage": 89.9}, False),
    ("cost_limit_warning", {"threshold": 0.5}, {"percentage": 50}, True),
    ("cost_limit_warning", {"threshold": 0.5}, {"current_value": 60, "limit_value": 100}, True),
    ("cost_limit_warning", {"threshold": 0.5}, {"current_value": 40, "limit_value": 100}, False),
    ("cost_limit_warning", {}, {"current_value": 40, "limit_value": 0}, False),
    ("cost_limit_warning", {}, {"current_value": 40}, False),
    ("cost_limit_warning", {}, {"percentage": None}, False),
    ("rate_limit_warning", {}, {"requests": 95, "limit": 100}, True),
    ("rate_limit_warning", {}, {"requests": 80, "limit": 100}, False),
    ("rate_limit_warning", {"threshold": 0.8}, {"requests": 80, "limit": 100}, True),
    ("rate_limit_warning", {}, {"requests": "95", "limit": 100}, False),
    ("rate_limit_warning", {}, {"limit": 100}, False),
    ("high_error_rate", {}, {"error_rate": 0.05}, True),
    ("high_error_rate", {}, {"error_rate": 0.049}, False),
    (
        "high_error_rate",
        {"error_rate": 0.2, "min_requests": 100},
        {"error_rate": 0.3, "requests": 100},
        True,
    ),
    (
        "high_error_rate",
        {"error_rate": 0.2, "min_requests": 100},
        {"error_rate": 0.3, "requests": 99},
        False,
    ),
    ("high_error_rate", {"min_requests": 100}, {"error_rate": 0.3}, False),
    ("high_error_rate", {}, {"error_rate": float("nan")}, False),
    ("high_error_rate", {}, {}, False),
    ("high_latency", {}, {"latency_ms": 5000}, True),
    ("high_latency", {}, {"latency_ms": 4999}, False),
    ("high_latency", {"latency_ms": 100}, {"latency_ms": 150}, True),
    ("high_latency", {}, {"latency_ms": [6000]}, False),
    ("high_latency", {}, {}, False),
    ("quota_exhausted", {}, {}, True),
    ("provider_recovered", {"provider_names": ["openai"]}, {"provider_name": "openai"}, True),
    ("provider_recovered", {"provider_names": ["openai"]}, {"provider_name": "anthropic"}, False),
    ("provider_recovered", {"provider_names": ["openai"]}, {}, False),
    ("high_latency", {"provider_names": ["a"]}, {"provider_name": "a", "latency_ms": 9000}, True),
    ("high_latency", {"provider_names": ["a"]}, {"provider_name": "b", "latency_ms": 9000}, False),
]


@pytest.mark.parametrize(("alert_type", "conditions", "context", "met"), CASES)
def test_rule(alert_type, conditions, context, met):
    outcome = evaluate(alert_type, conditions, context)
    assert outcome.met is met
    assert (outcome.reason == "") is met


def test_reason_names_the_missing_field():
    assert "context.latency_ms" in evaluate("high_latency", {}, {"latency_ms": "slow"}).reason
    assert (
        "consecutive_failures"
        in evaluate("circuit_breaker_opened", {"min_consecutive_failures": 2}, {}).reason
    )
