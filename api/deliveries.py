"""``/admin/alerts/deliveries``: one delivery with its attempts; replay one or many (SPEC §18).

Replays commit first and then enqueue the delivery tasks through the API's broker client; a
lost enqueue is made good by the sweeper (the rows carry a pending lease).
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from alertworker.delivery import attempts, replay
from alertworker.schemas import BulkRetryAcceptedSchema, BulkRetrySchema, DeliveryDetailSchema
from api.auth import principal, require
from api.errors import ApiError
from api.ext import db, services
from api.io import doc, json_body, reply

bp = Blueprint("deliveries", __name__)
ITEM = "/admin/alerts/deliveries/<int:delivery_id>"
DETAIL, ACCEPTED = DeliveryDetailSchema(), BulkRetryAcceptedSchema()


@bp.get(ITEM)
@require("alerts:read")
@doc(response=DETAIL)
def get_delivery(delivery_id: int) -> ResponseReturnValue:
    """One delivery with every send attempt (time, duration, status code, outcome, error)."""
    return reply(DETAIL, attempts.get_delivery(db(), principal().tenant_id, delivery_id))


@bp.post(ITEM + "/retry")
@require("alerts:write")
@doc(response=DETAIL, status=202, errors=(409,))
def retry_delivery(delivery_id: int) -> ResponseReturnValue:
    """Replay a failed delivery (same id, same Idempotency-Key); 409 unless it is failed."""
    tenant_id = principal().tenant_id
    try:
        pending = replay.retry_one(db(), services().settings, tenant_id, delivery_id)
    except replay.NotFailedError as exc:
        raise ApiError(409, str(exc)) from None
    replay.enqueue(services().publisher.celery_app, [pending])
    return reply(DETAIL, attempts.get_delivery(db(), tenant_id, delivery_id), 202)


@bp.post("/admin/alerts/deliveries/retry")
@require("alerts:write")
@doc(body=BulkRetrySchema, response=ACCEPTED, status=202)
def retry_deliveries():
    """Replay the failed deliveries created in [since, until), at most 10,000 per call."""
    filters = BulkRetrySchema().load(json_body())
    pending, truncated = replay.retry_many(
        db(), services().settings, principal().tenant_id, **filters
    )
    replay.enqueue(services().publisher.celery_app, pending)
    return reply(ACCEPTED, {"count": len(pending), "truncated": truncated}, 202)
