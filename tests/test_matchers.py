"""Matcher semantics of SPEC §16 as a table, and a silence's state at its boundaries."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from alertworker.core.models import Silence
from alertworker.ingest.matchers import compile_matchers, compile_regex, matches, value_of
from alertworker.tenants.silences import state_of

CONTEXT = {"provider_name": "openai", "requests": 5, "ratio": 0.25, "healthy": True,
           "gone": None, "tags": ["a", "b"], "region": "eu-west-1"}  # fmt: skip


def holds(name, op, value, *, alert_type="high_latency", severity="warning", config_id=7):
    compiled = compile_matchers([{"name": name, "op": op, "value": value}])
    return matches(compiled, lambda n: value_of(n, alert_type, severity, config_id, CONTEXT))


@pytest.mark.parametrize(
    ("name", "op", "value", "expected"),
    [
        ("alert_type", "=", "high_latency", True),
        ("alert_type", "=", "high_error_rate", False),
        ("alert_type", "!=", "high_error_rate", True),
        ("alert_type", "!=", "high_latency", False),
        ("alert_type", "=~", "high_.*", True),
        ("alert_type", "=~", "high", False),  # anchored: the whole string must match
        ("alert_type", "=~", "latency", False),
        ("alert_type", "=~", ".*latency", True),
        ("alert_type", "!~", "high", True),
        ("alert_type", "!~", "high_.*", False),
        ("severity", "=", "warning", True),
        ("severity", "=~", "warning|error", True),
        ("severity", "!~", "warning|error", False),
        ("config_id", "=", "7", True),
        ("config_id", "!=", "7", False),
        ("config_id", "=~", "[0-9]", True),
        ("context.provider_name", "=", "openai", True),
        ("context.provider_name", "=", "OpenAI", False),  # case matters
        ("context.provider_name", "=~", "open", False),
        ("context.provider_name", "=~", "open.*", True),
        ("context.region", "=~", "eu-.*", True),
        ("context.requests", "=", "5", True),  # numbers rendered as strings
        ("context.requests", "=~", "[0-9]+", True),
        ("context.requests", "=", "5.0", False),
        ("context.ratio", "=", "0.25", True),
        ("context.healthy", "=", "true", True),  # booleans too
        ("context.healthy", "=", "True", False),
        ("context.gone", "=", "null", True),  # JSON null is the text null, not missing
        ("context.tags", "=", '["a","b"]', True),  # other JSON: its compact text
        ("context.missing", "=", "", True),  # a missing key is the empty string
        ("context.missing", "!=", "", False),
        ("context.missing", "=~", ".*", True),
        ("context.missing", "=~", ".+", False),
        ("context.missing", "!~", ".+", True),
        ("context.missing", "!=", "openai", True),
    ],
)
def test_matcher_table(name, op, value, expected):
    assert holds(name, op, value) is expected


def test_every_matcher_must_hold():
    compiled = compile_matchers([
        {"name": "alert_type", "op": "=", "value": "high_latency"},
        {"name": "context.provider_name", "op": "=", "value": "azure"},
    ])  # fmt: skip
    assert not matches(compiled, lambda n: value_of(n, "high_latency", "warning", 1, CONTEXT))
    assert matches(compiled, lambda n: value_of(n, "high_latency", "warning", 1,
                                                {"provider_name": "azure"}))  # fmt: skip


def test_state_boundaries_with_a_fixed_clock():
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    silence = Silence(starts_at=start, ends_at=start + timedelta(hours=2))
    tick = timedelta(microseconds=1)
    assert state_of(silence, start - tick) == "pending"
    assert state_of(silence, start) == "active"  # starts_at is inclusive
    assert state_of(silence, start + timedelta(hours=2) - tick) == "active"
    assert state_of(silence, start + timedelta(hours=2)) == "expired"  # ends_at is not
    assert state_of(silence, start + timedelta(days=30)) == "expired"


def test_a_backtracking_pattern_takes_linear_time():
    """``(a+)+$`` against thirty a's and a b is ~10^9 steps for a backtracking engine (Python's
    ``re``): one tenant's silence would stall every worker. RE2 answers in microseconds."""
    code = (
        "from alertworker.ingest.matchers import compile_matchers, matches\n"
        "m = compile_matchers([{'name': 'context.x', 'op': '=~', 'value': '(a+)+$'}])\n"
        "print(matches(m, lambda n: 'a' * 30 + 'b'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=20, check=True)  # fmt: skip
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)a", r"(?<!x)a", "a{2,1}", "(unclosed"])
def test_patterns_re2_cannot_run_are_refused_with_the_reason(pattern):
    with pytest.raises(ValueError, match="not a valid RE2 regular expression: .+"):
        compile_regex(pattern)
