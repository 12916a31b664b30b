"""Silences and inhibition rules (SPEC §16): create, read, change, expire, always per tenant.

Input arrives validated by ``schemas.silences``. A silence's ``state`` is derived from its
times (:func:`state_of`): ``pending`` before ``starts_at``, ``active`` from it until
``ends_at``, ``expired`` from ``ends_at`` on. Expiring sets ``ends_at`` to now. Writes go
through the ORM, so the ``before_flush`` hook in ``models`` bumps the tenant's
``config_version`` and the workers' caches (``alertworker.ingest.silencing``) reload on their next
batch.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alertworker.core.db import utcnow
from alertworker.core.models import InhibitRule, Silence
from alertworker.tenants.configs import ConflictError, get_owned

log = logging.getLogger(__name__)


def state_of(silence: Silence, now: datetime) -> str:
    if now < silence.starts_at:
        return "pending"
    return "active" if now < silence.ends_at else "expired"


def with_state(silence: Silence, now: datetime | None = None) -> Silence:
    """The silence with its derived ``state`` set, for the response."""
    silence.state = state_of(silence, now or utcnow())  # type: ignore[attr-defined]
    return silence


def list_silences(session: Session, tenant_id: int, *, state: str | None = None) -> list[Silence]:
    now = utcnow()
    query = select(Silence).where(Silence.tenant_id == tenant_id)
    if state == "pending":
        query = query.where(Silence.starts_at > now)
    elif state == "active":
        query = query.where(Silence.starts_at <= now, Silence.ends_at > now)
    elif state == "expired":
        query = query.where(Silence.ends_at <= now)
    rows = session.scalars(query.order_by(Silence.ends_at.desc(), Silence.id.desc()))
    return [with_state(s, now) for s in rows]


def get_silence(session: Session, tenant_id: int, silence_id: int) -> Silence:
    return with_state(get_owned(session, Silence, tenant_id, silence_id, "silence"))


def create_silence(
    session: Session, tenant_id: int, user_id: int | None, data: dict[str, Any]
) -> Silence:
    silence = Silence(tenant_id=tenant_id, created_by=user_id, **data)
    session.add(silence)
    session.commit()
    log.info("tenant %d created silence %d until %s", tenant_id, silence.id, silence.ends_at)
    return with_state(silence)


def replace_silence(
    session: Session, tenant_id: int, silence_id: int, data: dict[str, Any]
) -> Silence:
    """PUT: only a pending or active silence changes; an expired one is history (409)."""
    silence = get_silence(session, tenant_id, silence_id)
    if silence.state == "expired":  # type: ignore[attr-defined]
        raise ConflictError(f"silence {silence_id} has expired; create a new one")
    for key, value in data.items():
        setattr(silence, key, value)
    session.commit()
    log.info("tenant %d changed silence %d", tenant_id, silence_id)
    return with_state(silence)


def expire_silence(session: Session, tenant_id: int, silence_id: int) -> Silence:
    """End the silence now; an expired one stays as it is (idempotent)."""
    silence = get_silence(session, tenant_id, silence_id)
    now = utcnow()
    if silence.ends_at > now:
        silence.ends_at = now
        if silence.starts_at > now:
            silence.starts_at = now
        session.commit()
        log.info("tenant %d expired silence %d", tenant_id, silence_id)
    return with_state(silence, now)


# --- inhibition rules ---------------------------------------------------------------------


def list_rules(session: Session, tenant_id: int) -> list[InhibitRule]:
    query = select(InhibitRule).where(InhibitRule.tenant_id == tenant_id)
    return list(session.scalars(query.order_by(InhibitRule.id)))


def get_rule(session: Session, tenant_id: int, rule_id: int) -> InhibitRule:
    return get_owned(session, InhibitRule, tenant_id, rule_id, "inhibit rule")


def create_rule(session: Session, tenant_id: int, data: dict[str, Any]) -> InhibitRule:
    rule = InhibitRule(tenant_id=tenant_id, **data)
    session.add(rule)
    session.commit()
    log.info("tenant %d created inhibit rule %d", tenant_id, rule.id)
    return rule


def replace_rule(
    session: Session, tenant_id: int, rule_id: int, data: dict[str, Any]
) -> InhibitRule:
    rule = get_rule(session, tenant_id, rule_id)
    for key, value in data.items():
        setattr(rule, key, value)
    session.commit()
    log.info("tenant %d changed inhibit rule %d", tenant_id, rule_id)
    return rule


def delete_rule(session: Session, tenant_id: int, rule_id: int) -> None:
    session.delete(get_rule(session, tenant_id, rule_id))
    session.commit()
    log.info("tenant %d deleted inhibit rule %d", tenant_id, rule_id)
