"""``/admin/alerts/inhibit-rules`` (SPEC §16): list, create, read, replace, delete."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from alertworker.schemas.silences import InhibitRuleListSchema, InhibitRuleSchema
from alertworker.tenants import silences
from api.auth import principal, require
from api.ext import db
from api.io import created, doc, json_body, reply

bp = Blueprint("inhibit_rules", __name__)
BASE = "/admin/alerts/inhibit-rules"
ITEM = BASE + "/<int:rule_id>"
ONE, LIST = InhibitRuleSchema(), InhibitRuleListSchema()


@bp.get(BASE)
@require("alerts:read")
@doc(response=LIST)
def list_rules():
    """The tenant's inhibition rules."""
    return reply(LIST, {"items": silences.list_rules(db(), principal().tenant_id)})


@bp.post(BASE)
@require("alerts:write")
@doc(body=InhibitRuleSchema, response=ONE, status=201)
def create_rule():
    """Create an inhibition rule."""
    rule = silences.create_rule(db(), principal().tenant_id, ONE.load(json_body()))
    return created(ONE, rule, ".get_rule", rule_id=rule.id)


@bp.get(ITEM)
@require("alerts:read")
@doc(response=ONE)
def get_rule(rule_id: int) -> ResponseReturnValue:
    """One inhibition rule."""
    return reply(ONE, silences.get_rule(db(), principal().tenant_id, rule_id))


@bp.put(ITEM)
@require("alerts:write")
@doc(body=InhibitRuleSchema, response=ONE)
def replace_rule(rule_id: int) -> ResponseReturnValue:
    """Replace an inhibition rule."""
    tenant_id = principal().tenant_id
    silences.get_rule(db(), tenant_id, rule_id)  # 404 before 422
    return reply(ONE, silences.replace_rule(db(), tenant_id, rule_id, ONE.load(json_body())))


@bp.delete(ITEM)
@require("alerts:write")
@doc(status=204)
def delete_rule(rule_id: int) -> ResponseReturnValue:
    """Delete an inhibition rule."""
    silences.delete_rule(db(), principal().tenant_id, rule_id)
    return "", 204
