"""``/docs``: the API's documentation page, rendered here from the OpenAPI document.

No JavaScript and no CDN: :func:`view_model` turns ``api.openapi``'s document into operations
grouped by resource and the component schemas, and ``templates/docs.html`` (Jinja, autoescaped)
prints them. The page has the admin page's strict Content-Security-Policy. ``GET /`` sends
people here; the page links to ``/alerts`` and ``/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, redirect, render_template

from api.openapi import document
from api.web import PAGE_HEADERS

bp = Blueprint("docs", __name__)
METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/")
def index() -> Response:
    """Redirect to the API documentation page."""
    return redirect("/docs", 302)  # type: ignore[return-value]


@bp.get("/docs")
def docs_page() -> Response:
    """The API documentation page, rendered from the OpenAPI document."""
    response = Response(render_template("docs.html", **view_model(document())))
    response.headers.update(PAGE_HEADERS)
    return response


def type_of(schema: dict[str, Any]) -> dict[str, Any]:
    """``{"text", "ref"}``: how a schema reads in a table; ``ref`` names a linked component."""
    if "$ref" in schema:
        return {"text": "", "ref": schema["$ref"].rsplit("/", 1)[-1]}
    kind = schema.get("type", "any")
    if kind == "array":
        inner = type_of(schema.get("items", {}))
        return {"text": f"array of {inner['text']}".rstrip(), "ref": inner["ref"]}
    if "anyOf" in schema:
        return {"text": f"{kind}, by alert_type", "ref": None}
    text = kind + (f" ({schema['format']})" if "format" in schema else "")
    return {"text": text + (" or null" if schema.get("nullable") else ""), "ref": None}


def _notes(schema: dict[str, Any]) -> str:
    parts = [schema.get("description", "")]
    if "enum" in schema:
        parts.append("one of " + ", ".join(str(v) for v in schema["enum"]))
    for key, word in (("default", "default"), ("minimum", "≥"), ("maximum", "≤")):
        if key in schema and schema[key] not in (None, [], {}):
            parts.append(f"{word} {json.dumps(schema[key])}")
    return "; ".join(p for p in parts if p)


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [
        {"name": name, "type": type_of(prop), "required": name in required, "notes": _notes(prop)}
        for name, prop in schema.get("properties", {}).items()
    ]


def _group(path: str) -> str:
    parts = path.removeprefix("/api/v1").strip("/").split("/")
    if parts[:2] == ["admin", "alerts"] and len(parts) > 2:
        return parts[2]
    return parts[0] if path.startswith("/api/v1/") and parts[0] != "openapi.json" else "service"


def _operation(path: str, method: str, op: dict[str, Any], errors: dict[str, Any]) -> dict:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    responses = []
    for code, answer in op["responses"].items():
        if "$ref" in answer:
            text = errors[answer["$ref"].rsplit("/", 1)[-1]]["description"]
            responses.append({"code": code, "text": text, "type": {"text": "", "ref": "Error"}})
            continue
        content: dict[str, Any] = next(iter(answer.get("content", {}).values()), {})
        kind = type_of(content["schema"]) if "schema" in content else {"text": "", "ref": None}
        responses.append({"code": code, "text": "", "type": kind})
    return {
        "id": op["operationId"], "method": method.upper(), "path": path,
        "summary": op["summary"],  # the description's `code` spans, split for <code>
        "description": [(i % 2 == 1, part) for i, part in enumerate(
            op.get("description", "").split("`")) if part],
        "params": [
            {"name": p["name"], "in": p["in"], "type": type_of(p.get("schema", {})),
             "required": p.get("required", False), "notes": _notes(p | p.get("schema", {}))}
            for p in op.get("parameters", [])
        ],
        "body": type_of(body["schema"]) if "schema" in body else None,
        "responses": responses,
    }  # fmt: skip


def view_model(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the template prints it: ``info``, ``groups`` and ``schemas``."""
    groups: dict[str, list[dict[str, Any]]] = {}
    errors = document["components"]["responses"]
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                operation = _operation(path, method, item[method], errors)
                groups.setdefault(_group(path), []).append(operation)
    schemas = [
        {"name": name, "description": schema.get("description", ""), "fields": _fields(schema)}
        for name, schema in sorted(document["components"]["schemas"].items())
        if not name.startswith("_")
    ]
    return {"info": document["info"], "groups": sorted(groups.items()), "schemas": schemas}
