"""``/admin/alerts/preferences``: the calling user's notification preferences (SPEC §8)."""

from __future__ import annotations

from flask import Blueprint

from alertworker.schemas import PreferencesSchema
from alertworker.tenants import preferences
from api.auth import principal, require
from api.ext import db
from api.io import doc, json_body, reply

bp = Blueprint("preferences", __name__)
PREFS = PreferencesSchema()


@bp.get("/admin/alerts/preferences")
@require("alerts:read")
@doc(response=PREFS)
def get_preferences():
    """The calling user's preferences (defaults until first set)."""
    return reply(PREFS, preferences.get_preferences(db(), principal().user_id))


@bp.put("/admin/alerts/preferences")
@require("alerts:write")
@doc(body=PreferencesSchema, response=PREFS)
def put_preferences():
    """Replace the calling user's preferences; omitted fields take their defaults."""
    data = PREFS.load(json_body())
    return reply(PREFS, preferences.put_preferences(db(), principal().user_id, data))
