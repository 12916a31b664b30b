"""``/admin/alerts/silences`` (SPEC §16): list (by state), create, read, replace, expire."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from alertworker.core.db import utcnow
from alertworker.schemas.silences import (
    SilenceListSchema,
    SilenceOutSchema,
    SilenceQuerySchema,
    SilenceSchema,
)
from alertworker.tenants import silences
from api.auth import principal, require
from api.ext import db
from api.io import created, doc, json_body, query, reply

bp = Blueprint("silences", __name__)
BASE = "/admin/alerts/silences"
ITEM = BASE + "/<int:silence_id>"
OUT, LIST = SilenceOutSchema(), SilenceListSchema()


def _load() -> dict:
    return SilenceSchema(now=utcnow()).load(json_body())


@bp.get(BASE)
@require("alerts:read")
@doc(query=SilenceQuerySchema, response=LIST)
def list_silences():
    """The tenant's silences, latest end first, optionally by state."""
    rows = silences.list_silences(db(), principal().tenant_id, **query(SilenceQuerySchema()))
    return reply(LIST, {"items": rows})


@bp.post(BASE)
@require("alerts:write")
@doc(body=SilenceSchema, response=OUT, status=201)
def create_silence():
    """Create a silence; its author is the token's user."""
    p = principal()
    silence = silences.create_silence(db(), p.tenant_id, p.user_id, _load())
    return created(OUT, silence, ".get_silence", silence_id=silence.id)


@bp.get(ITEM)
@require("alerts:read")
@doc(response=OUT)
def get_silence(silence_id: int) -> ResponseReturnValue:
    """One silence, with its state."""
    return reply(OUT, silences.get_silence(db(), principal().tenant_id, silence_id))


@bp.put(ITEM)
@require("alerts:write")
@doc(body=SilenceSchema, response=OUT, errors=(409,))
def replace_silence(silence_id: int) -> ResponseReturnValue:
    """Replace a pending or active silence (409 once it has expired)."""
    tenant_id = principal().tenant_id
    silences.get_silence(db(), tenant_id, silence_id)  # 404 before 422
    return reply(OUT, silences.replace_silence(db(), tenant_id, silence_id, _load()))


@bp.post(ITEM + "/expire")
@require("alerts:write")
@doc(response=OUT)
def expire_silence(silence_id: int) -> ResponseReturnValue:
    """End a silence now (idempotent)."""
    return reply(OUT, silences.expire_silence(db(), principal().tenant_id, silence_id))
