"""``POST /admin/alerts/test``: a sample event through the real pipeline, marked ``is_test``.

``?alert_type=T`` reaches every active config of that type; ``?config_id=ID`` aims at that one
config (active or not) with a sample that meets its conditions. Throttling is bypassed.
"""

from __future__ import annotations

from flask import Blueprint

from alertworker.schemas import AlertTestAcceptedSchema, AlertTestQuerySchema
from alertworker.tenants.samples import test_event
from api.auth import principal, require
from api.ext import db, services
from api.io import doc, query, reply

bp = Blueprint("test_alerts", __name__)
ACCEPTED = AlertTestAcceptedSchema()


@bp.post("/admin/alerts/test")
@require("alerts:write")
@doc(query=AlertTestQuerySchema, response=ACCEPTED, status=202, errors=(409,))
def send_test_alert():
    """Send a sample event of a type (or for one config) through the pipeline; 202."""
    p = principal()
    event = test_event(db(), p.tenant_id, p.tenant_slug, **query(AlertTestQuerySchema()))
    event_id = services().publisher.publish_many([event], internal=True)[0]
    return reply(ACCEPTED, dict(event, event_id=event_id), 202)
