"""``/admin/alerts/users``: the tenant's users (id, email), to put in schedules and policies."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from alertworker.core.models import User
from alertworker.schemas.escalation import UserListSchema, UserSchema
from alertworker.tenants import users
from alertworker.tenants.configs import get_owned
from api.auth import principal, require
from api.ext import db
from api.io import created, doc, json_body, reply

bp = Blueprint("users", __name__)
ONE, LIST = UserSchema(), UserListSchema()


@bp.get("/admin/alerts/users")
@require("alerts:read")
@doc(response=LIST)
def list_users() -> ResponseReturnValue:
    """The tenant's users."""
    return reply(LIST, {"items": users.list_users(db(), principal().tenant_id)})


@bp.post("/admin/alerts/users")
@require("alerts:write")
@doc(body=UserSchema, response=ONE, status=201, errors=(409,))
def add_user() -> ResponseReturnValue:
    """Add a user by email (409 if the tenant has one with that address)."""
    email = ONE.load(json_body())["email"]
    user = users.add_user(db(), principal().tenant_id, email)
    return created(ONE, user, ".get_user", user_id=user.id)


@bp.get("/admin/alerts/users/<int:user_id>")
@require("alerts:read")
@doc(response=ONE)
def get_user(user_id: int) -> ResponseReturnValue:
    """One user of the tenant (id, email)."""
    return reply(ONE, get_owned(db(), User, principal().tenant_id, user_id, "user"))
