"""``/admin/alerts/schedules``: on-call schedules, and who is on call (SPEC §14)."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from alertworker.core.db import utcnow
from alertworker.paging import oncall
from alertworker.schemas.escalation import (
    OnCallQuerySchema,
    OnCallSchema,
    ScheduleListSchema,
    ScheduleSchema,
    ShiftsSchema,
)
from api.auth import principal, require
from api.ext import db
from api.io import created, doc, json_body, query, reply

bp = Blueprint("schedules", __name__)
BASE = "/admin/alerts/schedules"
ITEM = BASE + "/<int:schedule_id>"
ONE, LIST, ONCALL, SHIFTS = ScheduleSchema(), ScheduleListSchema(), OnCallSchema(), ShiftsSchema()


@bp.get(BASE)
@require("alerts:read")
@doc(response=LIST)
def list_schedules():
    """The tenant's on-call schedules."""
    return reply(LIST, {"items": oncall.list_schedules(db(), principal().tenant_id)})


@bp.post(BASE)
@require("alerts:write")
@doc(body=ScheduleSchema, response=ONE, status=201)
def create_schedule():
    """Create an on-call schedule (its users must be the tenant's)."""
    schedule = oncall.save_schedule(db(), principal().tenant_id, ONE.load(json_body()))
    return created(ONE, schedule, ".get_schedule", schedule_id=schedule.id)


@bp.get(ITEM)
@require("alerts:read")
@doc(response=ONE)
def get_schedule(schedule_id: int) -> ResponseReturnValue:
    """One on-call schedule."""
    return reply(ONE, oncall.get_schedule(db(), principal().tenant_id, schedule_id))


@bp.put(ITEM)
@require("alerts:write")
@doc(body=ScheduleSchema, response=ONE)
def replace_schedule(schedule_id: int) -> ResponseReturnValue:
    """Replace an on-call schedule."""
    tenant_id = principal().tenant_id
    oncall.get_schedule(db(), tenant_id, schedule_id)  # 404 before 422
    return reply(ONE, oncall.save_schedule(db(), tenant_id, ONE.load(json_body()), schedule_id))


@bp.delete(ITEM)
@require("alerts:write")
@doc(status=204, errors=(409,))
def delete_schedule(schedule_id: int) -> ResponseReturnValue:
    """Delete an on-call schedule (409 while an escalation policy targets it)."""
    oncall.delete_schedule(db(), principal().tenant_id, schedule_id)
    return "", 204


@bp.get(ITEM + "/oncall")
@require("alerts:read")
@doc(query=OnCallQuerySchema, response=OnCallSchema)
def get_oncall(schedule_id: int) -> ResponseReturnValue:
    """Who is on call ?at=T (default now), or the shifts ?from=A&to=B (at most 31 days)."""
    tenant_id, q = principal().tenant_id, query(OnCallQuerySchema())
    if "start" in q:
        return reply(SHIFTS, oncall.shifts(db(), tenant_id, schedule_id, q["start"], q["end"]))
    return reply(ONCALL, oncall.on_call(db(), tenant_id, schedule_id, q.get("at") or utcnow()))
