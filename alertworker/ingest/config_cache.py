"""Per-process cache of alert configs, keyed by tenant and checked against ``config_version``.

The pipeline reads each tenant's ``config_version`` once per batch anyway (it resolves the
tenant slugs); a cached entry is reused only while that number is unchanged, so a config change
(which bumps it in the same transaction, see ``models``) takes effect for the next batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alertworker.core.models import AlertConfig, EscalationPolicy


@dataclass(frozen=True)
class ConfigView:
    """The parts of an alert config the pipeline needs, detached from any session."""

    id: int
    tenant_id: int
    alert_type: str
    severity: str
    is_active: bool
    channels: tuple[str, ...]
    cooldown_minutes: int
    max_alerts_per_hour: int
    group_similar: bool
    group_by: tuple[str, ...]
    conditions: dict[str, Any]
    email_recipients: tuple[str, ...] = ()  # one email delivery row each
    sms_numbers: tuple[str, ...] = ()  # one sms delivery row each
    escalation_policy_id: int | None = None  # SPEC §14
    escalation_delay: int | None = None  # the policy's first delay_minutes


ByType = dict[str, list[ConfigView]]


class ConfigCache:
    def __init__(self, max_tenants: int = 10_000) -> None:
        self.max_tenants = max_tenants
        self._entries: dict[int, tuple[int, ByType]] = {}

    def get(self, session: Session, versions: dict[int, int]) -> dict[int, ByType]:
        """Configs (active or not) by tenant id and alert type, for tenants at these versions."""
        stale = [t for t, v in versions.items() if self._entries.get(t, (None,))[0] != v]
        if stale:
            if len(self._entries) + len(stale) > self.max_tenants:
                self._entries.clear()
            loaded: dict[int, ByType] = {t: defaultdict(list) for t in stale}
            its_policy = EscalationPolicy.id == AlertConfig.escalation_policy_id
            rows = session.execute(
                select(AlertConfig, EscalationPolicy.steps)
                .outerjoin(EscalationPolicy, its_policy)
                .where(AlertConfig.tenant_id.in_(stale))
                .order_by(AlertConfig.id)
            )
            for c, steps in rows:
                loaded[c.tenant_id][c.alert_type].append(
                    ConfigView(
                        id=c.id,
                        tenant_id=c.tenant_id,
                        alert_type=c.alert_type,
                        severity=c.severity,
                        is_active=c.is_active,
                        channels=tuple(c.channels),
                        cooldown_minutes=c.cooldown_minutes,
                        max_alerts_per_hour=c.max_alerts_per_hour,
                        group_similar=c.group_similar,
                        group_by=tuple(c.group_by),
                        conditions=dict(c.conditions),
                        email_recipients=tuple(
                            (c.channel_config.get("email") or {}).get("recipients") or ()
                        ),
                        sms_numbers=tuple((c.channel_config.get("sms") or {}).get("numbers") or ()),
                        escalation_policy_id=c.escalation_policy_id,
                        escalation_delay=steps[0]["delay_minutes"] if steps else None,
                    )
                )
            for tenant_id, by_type in loaded.items():
                self._entries[tenant_id] = (versions[tenant_id], by_type)
        return {t: self._entries[t][1] for t in versions}
