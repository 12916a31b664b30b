"""Realistic sample events per alert type (SPEC §2), for ``POST /admin/alerts/test``.

The context carries the keys a real gateway component sends for that type, with values that
meet the default conditions of §4, and, given a config's ``conditions``, meet those too (its
first ``provider_names`` entry, thresholds passed with a margin), so the test reaches delivery.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alertworker.core.models import AlertConfig
from alertworker.ingest.conditions import condition_value as _value
from alertworker.tenants.configs import ConflictError, get_config

Conditions = Mapping[str, Any]


def _cb_opened(c: Conditions, p: str) -> dict[str, Any]:
    failures = max(5, int(c.get("min_consecutive_failures", 1)))
    return {
        "provider_name": p,
        "failure_count": failures + 3,
        "consecutive_failures": failures,
        "circuit_state": "open",
    }


def _cost_warning(c: Conditions, p: str) -> dict[str, Any]:
    pct = max(92.0, math.ceil(float(_value(c, "cost_limit_warning", "threshold")) * 100))
    return {
        "provider_name": p,
        "current_value": round(pct * 5, 2),
        "limit_value": 500.0,
        "percentage": pct,
    }


def _rate_warning(c: Conditions, p: str) -> dict[str, Any]:
    limit = 1000
    requests = max(950, math.ceil(float(_value(c, "rate_limit_warning", "threshold")) * limit))
    return {"provider_name": p, "requests": requests, "limit": limit, "window_seconds": 60}


def _error_rate(c: Conditions, p: str) -> dict[str, Any]:
    rate = min(1.0, max(0.12, float(_value(c, "high_error_rate", "error_rate")) + 0.05))
    return {
        "provider_name": p,
        "error_rate": rate,
        "requests": max(1200, int(c.get("min_requests", 0))),
    }


def _latency(c: Conditions, p: str) -> dict[str, Any]:
    latency = max(7200, math.ceil(float(_value(c, "high_latency", "latency_ms")) * 1.5))
    return {"provider_name": p, "latency_ms": latency}


_BUILDERS: dict[str, tuple[str, Callable[[Conditions, str], dict[str, Any]]]] = {
    "circuit_breaker_opened": ("Circuit breaker opened for {p}", _cb_opened),
    "circuit_breaker_closed": (
        "Circuit breaker closed for {p}",
        lambda c, p: {"provider_name": p, "circuit_state": "closed"},
    ),
    "provider_unhealthy": (
        "Provider {p} is unhealthy",
        lambda c, p: {
            "provider_name": p,
            "status": "unhealthy",
            "error": "health check timed out after 10s",
        },
    ),
    "provider_recovered": ("Provider {p} recovered", lambda c, p: {"provider_name": p}),
    "cost_limit_warning": ("Cost at {pct}% of the limit", _cost_warning),
    "cost_limit_exceeded": (
        "Cost limit exceeded",
        lambda c, p: {"provider_name": p, "current_value": 512.4, "limit_value": 500.0},
    ),
    "rate_limit_warning": ("Rate limit nearly reached", _rate_warning),
    "rate_limit_exceeded": (
        "Rate limit exceeded",
        lambda c, p: {"provider_name": p, "requests": 1043, "limit": 1000, "window_seconds": 60},
    ),
    "high_error_rate": ("High error rate on {p}", _error_rate),
    "high_latency": ("High latency on {p}", _latency),
    "quota_exhausted": (
        "Quota exhausted on {p}",
        lambda c, p: {"provider_name": p, "quota": "tokens_per_day"},
    ),
    "delivery_failing": (
        "Deliveries to a destination are failing",
        lambda c, p: {
            "provider_name": p,
            "config_id": 1,
            "channel": "webhook",
            "failures": 5,
            "last_error": "hooks.example.com: HTTP 503",
        },
    ),
}


def sample_event(
    tenant_slug: str, alert_type: str, conditions: Conditions | None = None
) -> dict[str, Any]:
    """A test event of ``alert_type`` for the tenant, meeting ``conditions`` (or the defaults)."""
    conditions = conditions or {}
    provider = (conditions.get("provider_names") or ["openai"])[0]
    title, build = _BUILDERS[alert_type]
    context = build(conditions, provider)
    return {
        "tenant_id": tenant_slug,
        "alert_type": alert_type,
        "title": ("[TEST] " + title.format(p=provider, pct=context.get("percentage")))[:200],
        "message": "A test alert sent from the admin API; no action is needed.",
        "context": context,
        "is_test": True,
    }


def test_event(
    session: Session,
    tenant_id: int,
    tenant_slug: str,
    *,
    alert_type: str | None = None,
    config_id: int | None = None,
) -> dict[str, Any]:
    """The sample event for ``POST /admin/alerts/test``: for a type, or aimed at one config."""
    if config_id is None:
        if alert_type is None:
            raise ValidationError({"alert_type": ["required unless config_id is given"]})
        _check_active(session, tenant_id, alert_type)
        return sample_event(tenant_slug, alert_type)
    config = get_config(session, tenant_id, config_id)
    if alert_type is not None and alert_type != config.alert_type:
        raise ValidationError({"alert_type": [f"config {config_id} is for {config.alert_type}"]})
    event = sample_event(tenant_slug, config.alert_type, config.conditions)
    return event | {"config_id": config.id}


def _check_active(session: Session, tenant_id: int, alert_type: str) -> None:
    """A test by type reaches the tenant's active configs of it: none is a 409 naming why
    (SPEC §6), rather than a 202 that does nothing."""
    rows = session.execute(
        select(AlertConfig.id, AlertConfig.name, AlertConfig.is_active)
        .where(AlertConfig.tenant_id == tenant_id, AlertConfig.alert_type == alert_type)
        .order_by(AlertConfig.id)
    ).all()
    if any(active for _, _, active in rows):
        return
    if not rows:
        raise ConflictError(f"no {alert_type} config to test; create one first")
    paused = ", ".join(f"{config_id} ({name!r})" for config_id, name, _ in rows[:5])
    raise ConflictError(
        f"no active {alert_type} config to test: paused {paused}; activate it, "
        f"or send config_id={rows[0][0]} to test a paused config"
    )
