"""Condition evaluation (SPEC §4): pure functions of (conditions, context) -> Outcome.

A condition whose context field is missing or not a number is *not met*, with a reason that
says which field. Every type accepts ``provider_names``. The keys each type accepts, and their
ranges, are validated by ``schemas.CONDITION_SCHEMAS``, whose fields also hold the defaults
used here for a key left out (``CONDITION_DEFAULTS``); this module only evaluates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alertworker.schemas.configs import CONDITION_DEFAULTS


@dataclass(frozen=True)
class Outcome:
    met: bool
    reason: str = ""  # names the field, its value and the threshold (the trail shows it, §17)
    kind: str = "condition_not_met"  # or provider_filtered (``provider_names``)


MET = Outcome(True)


def _number(context: Mapping[str, Any], key: str) -> float | None:
    value = context.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _not_met(reason: str) -> Outcome:
    return Outcome(False, reason)


def _missing(key: str) -> Outcome:
    return _not_met(f"context.{key} missing or not a number")


def _at_least(context: Mapping[str, Any], key: str, threshold: float) -> Outcome:
    value = _number(context, key)
    if value is None:
        return _missing(key)
    if value < threshold:
        return _not_met(f"context.{key} = {value:g} is below {threshold:g}")
    return MET


def _ratio(context: Mapping[str, Any], num: str, den: str) -> float | None:
    a, b = _number(context, num), _number(context, den)
    if a is None or b is None or b <= 0:
        return None
    return a / b


def condition_value(c: Mapping[str, Any], alert_type: str, key: str) -> Any:
    """A config's condition value, or the default the schema declares for it."""
    return c.get(key, CONDITION_DEFAULTS[alert_type][key])


def _circuit_breaker_opened(c: Mapping[str, Any], ctx: Mapping[str, Any]) -> Outcome:
    if "min_consecutive_failures" not in c:
        return MET
    return _at_least(ctx, "consecutive_failures", c["min_consecutive_failures"])


def _cost_limit_warning(c: Mapping[str, Any], ctx: Mapping[str, Any]) -> Outcome:
    threshold = condition_value(c, "cost_limit_warning", "threshold")
    pct = _number(ctx, "percentage")  # a percentage, 0..100 (and past 100 when over)
    if pct is not None:
        if pct / 100 < threshold:
            return _not_met(f"context.percentage = {pct:g} is below {threshold * 100:g}")
        return MET
    ratio = _ratio(ctx, "current_value", "limit_value")
    if ratio is None:
        return _not_met("context.percentage (or current_value/limit_value) missing or not a number")
    if ratio < threshold:
        return _not_met(f"context.current_value / context.limit_value = {ratio:.3g} is below "
                        f"threshold {threshold:g}")  # fmt: skip
    return MET


def _rate_limit_warning(c: Mapping[str, Any], ctx: Mapping[str, Any]) -> Outcome:
    threshold = condition_value(c, "rate_limit_warning", "threshold")
    ratio = _ratio(ctx, "requests", "limit")
    if ratio is None:
        return _not_met("context.requests/limit missing or not a number")
    if ratio < threshold:
        return _not_met(
            f"context.requests / context.limit = {ratio:.3g} is below threshold {threshold:g}"
        )
    return MET


def _high_error_rate(c: Mapping[str, Any], ctx: Mapping[str, Any]) -> Outcome:
    outcome = _at_least(ctx, "error_rate", condition_value(c, "high_error_rate", "error_rate"))
    if outcome.met and "min_requests" in c:
        outcome = _at_least(ctx, "requests", c["min_requests"])
    return outcome


def _high_latency(c: Mapping[str, Any], ctx: Mapping[str, Any]) -> Outcome:
    return _at_least(ctx, "latency_ms", condition_value(c, "high_latency", "latency_ms"))


_RULES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Outcome]] = {
    "circuit_breaker_opened": _circuit_breaker_opened,
    "cost_limit_warning": _cost_limit_warning,
    "rate_limit_warning": _rate_limit_warning,
    "high_error_rate": _high_error_rate,
    "high_latency": _high_latency,
}


def evaluate(alert_type: str, conditions: Mapping[str, Any], context: Mapping[str, Any]) -> Outcome:
    """Whether an event of ``alert_type`` with ``context`` meets a config's ``conditions``."""
    providers = conditions.get("provider_names")
    if providers:
        name = context.get("provider_name")
        if name not in providers:
            return Outcome(False, f"context.provider_name = {json.dumps(name, default=str)} is "
                                  f"not in provider_names {json.dumps(providers)}",
                           "provider_filtered")  # fmt: skip
    rule = _RULES.get(alert_type)
    return rule(conditions, context) if rule else MET
