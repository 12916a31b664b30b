"""Escalation policies (SPEC §14): stored per tenant, validated against the tenant's ids.

Input arrives validated by ``schemas.PolicySchema``; here each user and schedule target must
be the tenant's own (422 per field otherwise), and a masked secret sent back (as responses
show it) keeps the secret stored for the target of the same type at the same place, as
``configs.restore_secrets`` does for channel_config. A policy a config uses cannot be deleted
(409; the foreign key is RESTRICT, so a concurrent use cannot slip past).
"""

from __future__ import annotations

import logging
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alertworker.core.models import AlertConfig, EscalationPolicy, OnCallSchedule
from alertworker.paging.oncall import targeted
from alertworker.tenants import users
from alertworker.tenants.configs import ConflictError, get_owned, restore_secrets

log = logging.getLogger(__name__)

FIELDS = ("name", "steps", "repeat")


def list_policies(session: Session, tenant_id: int) -> list[EscalationPolicy]:
    query = select(EscalationPolicy).where(EscalationPolicy.tenant_id == tenant_id)
    return list(session.scalars(query.order_by(EscalationPolicy.id)))


def get_policy(session: Session, tenant_id: int, policy_id: int) -> EscalationPolicy:
    return get_owned(session, EscalationPolicy, tenant_id, policy_id, "escalation policy")


def save_policy(
    session: Session, tenant_id: int, data: dict[str, Any], policy_id: int | None = None
) -> EscalationPolicy:
    """Create (no ``policy_id``) or replace a policy from a full, validated one."""
    row = EscalationPolicy(tenant_id=tenant_id, steps=[])
    if policy_id is not None:
        row = get_policy(session, tenant_id, policy_id)
    steps = _restore(data["steps"], row.steps)
    _check_ids(session, tenant_id, steps)
    row.name, row.steps, row.repeat = data["name"], steps, data["repeat"]
    session.add(row)
    session.commit()
    log.info("tenant %d saved escalation policy %d", tenant_id, row.id)
    return row


def delete_policy(session: Session, tenant_id: int, policy_id: int) -> None:
    row = get_policy(session, tenant_id, policy_id)
    using = list(
        session.scalars(select(AlertConfig.id).where(AlertConfig.escalation_policy_id == row.id))
    )
    if using:
        raise ConflictError(f"escalation policy {policy_id} is used by alert configs {using}")
    session.delete(row)
    try:
        session.commit()
    except IntegrityError:  # a config took it meanwhile
        session.rollback()
        raise ConflictError(f"escalation policy {policy_id} is used by an alert config") from None
    log.info("tenant %d deleted escalation policy %d", tenant_id, policy_id)


def _check_ids(session: Session, tenant_id: int, steps: list[dict[str, Any]]) -> None:
    known_users = users.emails(session, tenant_id, targeted(steps, "user"))
    wanted = targeted(steps, "schedule")
    known_schedules = set(
        session.scalars(
            select(OnCallSchedule.id).where(
                OnCallSchedule.tenant_id == tenant_id, OnCallSchedule.id.in_(wanted)
            )
        )
        if wanted
        else ()
    )
    errors: dict[int, Any] = {}
    for i, step in enumerate(steps):
        for j, t in enumerate(step["targets"]):
            if t["type"] == "user" and t["user_id"] not in known_users:
                bad = {"user_id": ["not a user of this tenant"]}
            elif t["type"] == "schedule" and t["schedule_id"] not in known_schedules:
                bad = {"schedule_id": ["not a schedule of this tenant"]}
            else:
                continue
            errors.setdefault(i, {"targets": {}})["targets"][j] = bad
    if errors:
        raise ValidationError({"steps": errors})


def _restore(steps: list[dict[str, Any]], stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``steps`` with each masked secret replaced by the one stored at the same place."""
    errors: dict[int, Any] = {}
    restored = []
    for i, step in enumerate(steps):
        targets = []
        for j, target in enumerate(step["targets"]):
            old = _at(stored, i, j, target["type"])
            try:
                targets.append(_restore_target(target, old))
            except ValidationError as exc:
                errors.setdefault(i, {"targets": {}})["targets"][j] = exc.messages
        restored.append({**step, "targets": targets})
    if errors:
        raise ValidationError({"steps": errors})
    return restored


def _restore_target(target: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    kind = target["type"]
    if kind in ("slack", "webhook", "pagerduty"):
        try:
            return restore_secrets({kind: target}, {kind: old})[kind]
        except ValidationError as exc:
            raise ValidationError(exc.messages_dict["channel_config"][kind]) from None
    return target


def _at(steps: list[dict[str, Any]], i: int, j: int, kind: str) -> dict[str, Any]:
    try:
        target = steps[i]["targets"][j]
    except (IndexError, KeyError, TypeError):
        return {}
    return target if target.get("type") == kind else {}
