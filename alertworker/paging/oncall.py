"""On-call schedules (SPEC §14): stored per tenant, and asked who is on call.

Input arrives validated by ``schemas.ScheduleSchema``; here the users must be the tenant's own
(422 per field otherwise). The formula itself is ``schedules`` (pure). A schedule that a policy
targets cannot be deleted (409).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alertworker.core.models import EscalationPolicy, OnCallSchedule
from alertworker.paging import schedules
from alertworker.tenants import users
from alertworker.tenants.configs import ConflictError, get_owned

log = logging.getLogger(__name__)

FIELDS = ("name", "timezone", "layers", "overrides")


def list_schedules(session: Session, tenant_id: int) -> list[OnCallSchedule]:
    query = select(OnCallSchedule).where(OnCallSchedule.tenant_id == tenant_id)
    return list(session.scalars(query.order_by(OnCallSchedule.id)))


def get_schedule(session: Session, tenant_id: int, schedule_id: int) -> OnCallSchedule:
    return get_owned(session, OnCallSchedule, tenant_id, schedule_id, "schedule")


def save_schedule(
    session: Session, tenant_id: int, data: dict[str, Any], schedule_id: int | None = None
) -> OnCallSchedule:
    """Create (no ``schedule_id``) or replace a schedule from a full, validated one."""
    row = OnCallSchedule(tenant_id=tenant_id)
    if schedule_id is not None:
        row = get_schedule(session, tenant_id, schedule_id)
    _check_users(session, tenant_id, data)
    for key in FIELDS:
        setattr(row, key, data[key])
    session.add(row)
    session.commit()
    log.info("tenant %d saved schedule %d", tenant_id, row.id)
    return row


def delete_schedule(session: Session, tenant_id: int, schedule_id: int) -> None:
    row = get_schedule(session, tenant_id, schedule_id)
    policies = session.scalars(
        select(EscalationPolicy).where(EscalationPolicy.tenant_id == tenant_id)
    )
    using = [p.id for p in policies if schedule_id in targeted(p.steps, "schedule")]
    if using:
        raise ConflictError(f"schedule {schedule_id} is used by escalation policies {using}")
    session.delete(row)
    session.commit()
    log.info("tenant %d deleted schedule %d", tenant_id, schedule_id)


def targeted(steps: list[dict[str, Any]], kind: str) -> set[int]:
    """The user or schedule ids a policy's steps target."""
    return {t[f"{kind}_id"] for step in steps for t in step["targets"] if t.get("type") == kind}


def on_call(session: Session, tenant_id: int, schedule_id: int, at: datetime) -> dict[str, Any]:
    """``{user_id, email, layer, override, until}`` of the schedule at ``at``."""
    row = get_schedule(session, tenant_id, schedule_id)
    found = schedules.on_call(schedules.from_data(_stored(row)), at)
    answer = found.answer
    uid = answer.user_id
    email = users.emails(session, tenant_id, [uid] if uid is not None else [])
    return {
        "user_id": uid, "email": email.get(uid) if uid is not None else None,
        "layer": answer.layer, "override": answer.override, "until": found.until,
    }  # fmt: skip


def shifts(
    session: Session, tenant_id: int, schedule_id: int, start: datetime, end: datetime
) -> dict[str, Any]:
    """``{"shifts": [...]}`` of [start, end), at most 31 days (422 otherwise)."""
    row = get_schedule(session, tenant_id, schedule_id)
    try:
        schedules.validate_range(start, end)
    except ValueError as exc:
        raise ValidationError({"to": [str(exc)]}) from None
    segments = schedules.shifts(schedules.from_data(_stored(row)), start, end)
    ids = {s.answer.user_id for s in segments}  # shifts() leaves out nobody-on-call gaps
    email = users.emails(session, tenant_id, {i for i in ids if i is not None})
    return {
        "shifts": [
            {"start": s.start, "end": s.end, "user_id": s.answer.user_id,
             "email": email.get(s.answer.user_id or 0),  # ids start at 1; shifts have one
             "layer": s.answer.layer, "override": s.answer.override}
            for s in segments
        ]
    }  # fmt: skip


def answer_at(session: Session, schedule: OnCallSchedule, at: datetime) -> int | None:
    """Who is on call on ``schedule`` at ``at`` (the escalation's schedule target)."""
    return schedules.on_call(schedules.from_data(_stored(schedule)), at).answer.user_id


def _stored(row: OnCallSchedule) -> dict[str, Any]:
    return {"timezone": row.timezone, "layers": row.layers, "overrides": row.overrides}


def _check_users(session: Session, tenant_id: int, data: dict[str, Any]) -> None:
    wanted = {u for layer in data["layers"] for u in layer["users"]}
    wanted |= {o["user_id"] for o in data["overrides"]}
    known = users.emails(session, tenant_id, wanted)
    errors: dict[str, Any] = {}
    for i, layer in enumerate(data["layers"]):
        if missing := [u for u in layer["users"] if u not in known]:
            errors.setdefault("layers", {})[i] = {"users": [f"not users of this tenant: {missing}"]}
    for i, override in enumerate(data["overrides"]):
        if override["user_id"] not in known:
            errors.setdefault("overrides", {})[i] = {"user_id": ["not a user of this tenant"]}
    if errors:
        raise ValidationError(errors)
