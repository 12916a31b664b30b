"""``POST /events``: one event or an array of up to 500, validated and enqueued (SPEC §3).

Events belong to the token's tenant: ``tenant_id`` may be omitted (it is filled in) and any
other tenant's slug is refused with 403. Validation errors of an array are keyed by index.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import ValidationError

from alertworker.schemas import EventsAcceptedSchema, PublicEventSchema
from api.auth import principal, require
from api.errors import ApiError
from api.ext import services
from api.io import doc, json_body, reply

bp = Blueprint("events", __name__)
MAX_EVENTS = 500
ACCEPTED = EventsAcceptedSchema()


def _own_tenant(events: list[Any], slug: str) -> list[Any]:
    foreign = {}
    for i, event in enumerate(events):
        if isinstance(event, dict):
            event.setdefault("tenant_id", slug)
            if event["tenant_id"] != slug:
                foreign[str(i)] = {"tenant_id": [f"must be this token's tenant, {slug!r}"]}
    if foreign:
        raise ApiError(403, "events may only be sent for the token's own tenant", fields=foreign)
    return events


@bp.post("/events")
@require("events:write")
@doc(
    body={"oneOf": [PublicEventSchema, {"type": "array", "items": PublicEventSchema,
                                        "minItems": 1, "maxItems": MAX_EVENTS}]},
    response=ACCEPTED, status=202,
)  # fmt: skip
def post_events():
    """Validate and enqueue one event or an array of up to 500; 202 with their event_ids."""
    body = json_body()
    single = isinstance(body, dict)
    events = [body] if single else body
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise ValidationError([f"must be an event object or an array of 1..{MAX_EVENTS} events"])
    events = _own_tenant(events, principal().tenant_slug)
    try:
        event_ids = services().publisher.publish_many(events)
    except ValidationError as exc:
        messages = exc.messages
        if single and isinstance(messages, dict):  # many=True keys the messages by index
            messages = messages.get(0, messages)
        raise ValidationError(messages) from None
    return reply(ACCEPTED, {"event_ids": event_ids}, 202)
