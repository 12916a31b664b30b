"""``/admin/alerts/events``: the trail (SPEC §17), why an event did or did not notify."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from alertworker.ingest import trail_query
from alertworker.schemas.trail import EventTrailPageSchema, EventTrailQuerySchema, EventTrailSchema
from api.auth import principal, require
from api.ext import db
from api.io import doc, query, reply

bp = Blueprint("trail", __name__)
ONE, PAGE = EventTrailSchema(), EventTrailPageSchema()


@bp.get("/admin/alerts/events")
@require("alerts:read")
@doc(query=EventTrailQuerySchema, response=PAGE)
def list_events() -> ResponseReturnValue:
    """Processed events with their outcomes, newest first; follow next_cursor for more."""
    filters = query(EventTrailQuerySchema())
    return reply(PAGE, trail_query.list_events(db(), principal().tenant_id, **filters))


@bp.get("/admin/alerts/events/<event_id>")
@require("alerts:read")
@doc(response=ONE)
def get_event(event_id: str) -> ResponseReturnValue:
    """One event's outcome per config considered, each with its reason; 404 if unknown."""
    return reply(ONE, trail_query.get_event(db(), principal().tenant_id, event_id))
