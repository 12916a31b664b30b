"""``/admin/alerts/notifications``: list, detail, unread count, read, acknowledge, resolve, mark
all read.

The live stream of the same resource is in ``api.stream``.
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from alertworker.schemas import (
    CountSchema,
    NotificationDetailSchema,
    NotificationPageSchema,
    NotificationQuerySchema,
    NotificationSchema,
)
from alertworker.tenants import notifications
from api.auth import principal, require
from api.ext import db, services
from api.io import doc, query, reply

bp = Blueprint("notifications", __name__)
BASE = "/admin/alerts/notifications"
ITEM = BASE + "/<int:notification_id>"
ONE, DETAIL, PAGE, COUNT = (
    NotificationSchema(),
    NotificationDetailSchema(),
    NotificationPageSchema(),
    CountSchema(),
)


@bp.get(BASE)
@require("alerts:read")
@doc(query=NotificationQuerySchema, response=PAGE)
def list_notifications():
    """Notifications, newest first, filtered; follow next_cursor for the next page."""
    filters = query(NotificationQuerySchema())
    return reply(PAGE, notifications.list_notifications(db(), principal().tenant_id, **filters))


@bp.get(ITEM)
@require("alerts:read")
@doc(response=DETAIL)
def get_notification(notification_id: int) -> ResponseReturnValue:
    """One notification with its per-channel deliveries (status, attempts, last error)."""
    tenant_id = principal().tenant_id
    return reply(DETAIL, notifications.get_notification(db(), tenant_id, notification_id))


@bp.get(BASE + "/unread/count")
@require("alerts:read")
@doc(response=COUNT)
def unread_count():
    """How many of the tenant's notifications are unread."""
    return reply(COUNT, {"count": notifications.unread_count(db(), principal().tenant_id)})


@bp.post(ITEM + "/read")
@require("alerts:write")
@doc(response=ONE)
def mark_read(notification_id: int) -> ResponseReturnValue:
    """Mark a notification read (idempotent)."""
    return reply(ONE, notifications.mark_read(db(), principal().tenant_id, notification_id))


@bp.post(ITEM + "/acknowledge")
@require("alerts:write")
@doc(response=ONE)
def acknowledge(notification_id: int) -> ResponseReturnValue:
    """Acknowledge a notification: records who and when, and marks it read."""
    p, svc = principal(), services()
    lease = svc.settings.delivery_lease_seconds
    row, pending = notifications.acknowledge(db(), p.tenant_id, notification_id, p.user_id, lease)
    svc.after_commit([], pending)
    return reply(ONE, row)


@bp.post(ITEM + "/resolve")
@require("alerts:write")
@doc(response=ONE)
def resolve(notification_id: int) -> ResponseReturnValue:
    """Resolve a notification by hand (idempotent); 200 with the resolved notification."""
    p, svc = principal(), services()
    lease = svc.settings.delivery_lease_seconds
    row, resolved, pending = notifications.resolve(
        db(), p.tenant_id, notification_id, p.user_id, lease
    )
    svc.after_commit(resolved, pending)
    return reply(ONE, row)


@bp.post(BASE + "/mark-all-read")
@require("alerts:write")
@doc(response=COUNT)
def mark_all_read():
    """Mark every unread notification read; returns how many changed."""
    return reply(COUNT, {"count": notifications.mark_all_read(db(), principal().tenant_id)})
