"""The storm again with silences and inhibition rules loaded (``--silences N --inhibit-rules M``).

None of them matches the storm's events (their providers, types and severity differ), so the
storm takes the same path and the same checks hold; the difference against the plain storm is
what matching costs (SPEC §16: at most 10 %). Half the rules target the storm's type, so the
candidate sources are read every batch, and one open ``quota_exhausted`` notification of
another provider is there for that read to find.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from alertworker.core.db import utcnow
from alertworker.core.models import AlertNotification, InhibitRule, Silence, Tenant


def _silence(i: int) -> list[dict[str, str]]:
    provider = {"name": "context.provider_name", "op": "=", "value": f"maintenance-{i}"}
    return [
        [provider],
        [{"name": "alert_type", "op": "=", "value": "circuit_breaker_opened"},
         {"name": "context.provider_name", "op": "=~", "value": f"maintenance-{i}-.*"}],
        [{"name": "severity", "op": "=", "value": "critical"},
         {"name": "context.region", "op": "!=", "value": ""}],
    ][i % 3]  # fmt: skip


def _rule(i: int) -> dict[str, list]:
    source, target = [("quota_exhausted", "circuit_breaker_opened|high_latency"),
                      ("provider_unhealthy", "high_error_rate")][i % 2]  # fmt: skip
    return {"source": [{"name": "alert_type", "op": "=", "value": source}],
            "target": [{"name": "alert_type", "op": "=~", "value": target}],
            "equal": ["context.provider_name"]}  # fmt: skip


def loader(silences: int, rules: int) -> Callable[[object, str], None]:
    """``load(stage, slug)``: the tenant's silences, rules and one open source notification."""

    def load(stage: Any, slug: str) -> None:
        now = utcnow()
        with stage.session_factory() as session:
            tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            session.add_all(
                Silence(tenant_id=tenant_id, matchers=_silence(i), comment=f"bench {i}",
                        starts_at=now, ends_at=now + timedelta(days=1))
                for i in range(silences)
            )  # fmt: skip
            session.add_all(InhibitRule(tenant_id=tenant_id, **_rule(i)) for i in range(rules))
            session.add(AlertNotification(
                tenant_id=tenant_id, event_id="bench-open-source", alert_type="quota_exhausted",
                severity="critical", title="quota gone elsewhere", fingerprint="-",
                context={"provider_name": "elsewhere"}, occurred_at=now, last_occurred_at=now,
            ))  # fmt: skip
            session.commit()

    return load
