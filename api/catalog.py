"""``GET /admin/alerts/catalog``: alert types, severities, channels and each type's condition
keys with their types, ranges and defaults, generated from the schemas (for forms)."""

from __future__ import annotations

from flask import Blueprint

from alertworker.schemas.catalog import CatalogSchema, catalog
from api.auth import require
from api.io import doc, reply

bp = Blueprint("catalog", __name__)
CATALOG = CatalogSchema()


@bp.get("/admin/alerts/catalog")
@require("alerts:read")
@doc(response=CATALOG)
def get_catalog():
    """Alert types with default severities, channels and each type's condition keys."""
    return reply(CATALOG, catalog())
