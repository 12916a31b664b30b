"""``/me``: who the calling token is (tenant, user, scopes), for the admin page's header."""

from __future__ import annotations

from flask import Blueprint

from alertworker.schemas import WhoAmISchema
from alertworker.tenants import users
from api.auth import principal, require
from api.ext import db
from api.io import doc, reply

bp = Blueprint("me", __name__)
ME = WhoAmISchema()


@bp.get("/me")
@require("alerts:read")
@doc(response=ME)
def whoami():
    """Who the token belongs to: the tenant's slug and id, the user's id and email, its scopes."""
    p = principal()
    return reply(ME, {
        "tenant": p.tenant_slug, "tenant_id": p.tenant_id, "user_id": p.user_id,
        "email": users.email_of(db(), p.tenant_id, p.user_id), "scopes": sorted(p.scopes),
    })  # fmt: skip
