"""``/admin/alerts/escalation-policies``: who is paged next when nobody acknowledges (§14)."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from alertworker.paging import policies
from alertworker.schemas.escalation import PolicyListSchema, PolicySchema
from api.auth import principal, require
from api.ext import db, services
from api.io import created, doc, json_body, reply

bp = Blueprint("escalation", __name__)
BASE = "/admin/alerts/escalation-policies"
ITEM = BASE + "/<int:policy_id>"
ONE, LIST = PolicySchema(), PolicyListSchema()


def _load() -> dict:
    return PolicySchema(settings=services().settings).load(json_body())


@bp.get(BASE)
@require("alerts:read")
@doc(response=LIST)
def list_policies():
    """The tenant's escalation policies (secrets masked)."""
    return reply(LIST, {"items": policies.list_policies(db(), principal().tenant_id)})


@bp.post(BASE)
@require("alerts:write")
@doc(body=PolicySchema, response=ONE, status=201)
def create_policy():
    """Create an escalation policy."""
    policy = policies.save_policy(db(), principal().tenant_id, _load())
    return created(ONE, policy, ".get_policy", policy_id=policy.id)


@bp.get(ITEM)
@require("alerts:read")
@doc(response=ONE)
def get_policy(policy_id: int) -> ResponseReturnValue:
    """One escalation policy (secrets masked)."""
    return reply(ONE, policies.get_policy(db(), principal().tenant_id, policy_id))


@bp.put(ITEM)
@require("alerts:write")
@doc(body=PolicySchema, response=ONE)
def replace_policy(policy_id: int) -> ResponseReturnValue:
    """Replace an escalation policy; a masked secret sent back keeps the stored one."""
    tenant_id = principal().tenant_id
    policies.get_policy(db(), tenant_id, policy_id)  # 404 before 422
    return reply(ONE, policies.save_policy(db(), tenant_id, _load(), policy_id))


@bp.delete(ITEM)
@require("alerts:write")
@doc(status=204, errors=(409,))
def delete_policy(policy_id: int) -> ResponseReturnValue:
    """Delete an escalation policy (409 while an alert config uses it)."""
    policies.delete_policy(db(), principal().tenant_id, policy_id)
    return "", 204
