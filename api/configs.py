"""``/admin/alerts/configs``: list, create, read, replace, patch and delete alert configs."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from alertworker.schemas import ConfigOutSchema, ConfigQuerySchema, ConfigSchema
from alertworker.tenants import configs
from api.auth import principal, require
from api.ext import db, services
from api.io import created, doc, json_body, query, reply

bp = Blueprint("configs", __name__)
OUT = ConfigOutSchema()
ITEM = "/admin/alerts/configs/<int:config_id>"


class ConfigPatchSchema(ConfigSchema):
    """Any subset of a config's fields; the merged config must still be valid."""


class ConfigReplaceSchema(ConfigSchema):
    """A whole config for PUT; ``is_active`` left out keeps the current state (a PUT of an
    edited config never re-activates a paused one)."""

    is_active = fields.Boolean(metadata={"description": "left out: the current state is kept"})


class ConfigListSchema(Schema):
    items = fields.List(fields.Nested(ConfigOutSchema))


LIST = ConfigListSchema()


def _load(schema: type[ConfigSchema] = ConfigSchema, *, partial: bool = False) -> dict:
    return schema(settings=services().settings, partial=partial).load(json_body())


@bp.get("/admin/alerts/configs")
@require("alerts:read")
@doc(query=ConfigQuerySchema, response=LIST)
def list_configs():
    """List the tenant's alert configs, optionally by alert_type and is_active."""
    rows = configs.list_configs(db(), principal().tenant_id, **query(ConfigQuerySchema()))
    return reply(LIST, {"items": rows})


@bp.post("/admin/alerts/configs")
@require("alerts:write")
@doc(body=ConfigSchema, response=OUT, status=201)
def create_config():
    """Create an alert config."""
    config = configs.create_config(db(), principal().tenant_id, _load())
    return created(OUT, config, ".get_config", config_id=config.id)


@bp.get(ITEM)
@require("alerts:read")
@doc(response=OUT)
def get_config(config_id: int) -> ResponseReturnValue:
    """One alert config (secrets masked)."""
    return reply(OUT, configs.get_config(db(), principal().tenant_id, config_id))


@bp.put(ITEM)
@require("alerts:write")
@doc(body=ConfigReplaceSchema, response=OUT)
def replace_config(config_id: int) -> ResponseReturnValue:
    """Replace an alert config; a masked secret sent back keeps the stored one."""
    tenant_id = principal().tenant_id
    configs.get_config(db(), tenant_id, config_id)  # 404 before 422
    return reply(
        OUT, configs.replace_config(db(), tenant_id, config_id, _load(ConfigReplaceSchema))
    )


@bp.patch(ITEM)
@require("alerts:write")
@doc(body=ConfigPatchSchema, response=OUT)
def patch_config(config_id: int) -> ResponseReturnValue:
    """Change some fields of an alert config, e.g. {"is_active": false}."""
    tenant_id = principal().tenant_id
    configs.get_config(db(), tenant_id, config_id)  # 404 before 422
    changes = _load(ConfigPatchSchema, partial=True)
    return reply(OUT, configs.patch_config(db(), tenant_id, config_id, changes))


@bp.delete(ITEM)
@require("alerts:write")
@doc(status=204)
def delete_config(config_id: int) -> ResponseReturnValue:
    """Delete an alert config (its notifications stay, without a config)."""
    configs.delete_config(db(), principal().tenant_id, config_id)
    return "", 204
