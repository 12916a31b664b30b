"""Reading requests and writing responses: JSON bodies, query strings, dumps, OpenAPI notes.

:func:`json_body` parses strictly (no NaN/Infinity, bounded nesting) and refuses strings that
Postgres cannot store (NUL, unpaired surrogates), so no body reaches the database as a 500;
a body past the limit is 413, chunked or not. orjson parses first (a tenth of the stdlib's
time); whatever it refuses is parsed again by the stdlib, whose answer stands, so both give the
same (``tests/test_api_io.py``); a body with a ``\u0000`` or surrogate escape, or a number of
19 digits, goes to the stdlib at once. Without those escapes a body orjson takes (valid UTF-8
only) holds no string to refuse, so only its depth is checked.
:func:`doc` records a view's schemas for the OpenAPI document (``api.openapi``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson
from flask import Response, jsonify, request, url_for
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from api.errors import ApiError

MAX_DEPTH = 32
# Where orjson's result could differ from the stdlib's: the escapes of NUL and of surrogates
# (strings to refuse), and 19 digits or more (orjson makes a float of a 64-bit-overflowing int).
_ORJSON_DIFFERS = re.compile(rb"\\u(0000|[dD][89a-fA-F])|[0-9]{19}").search


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def json_body() -> Any:
    """The request's JSON body; 400 when it is missing or malformed, 422 for bad strings."""
    raw = _raw_body()
    if not raw.strip():
        raise ApiError(400, "the request body must be JSON", code="malformed_json")
    return parse_json(raw)


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed and checked as :func:`json_body` does (400 malformed, 422 bad strings)."""
    if not _ORJSON_DIFFERS(raw):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the stdlib's answer stands (it takes UTF-16, a BOM, surrogates' bytes...)
        else:
            _check_depth(data)  # valid UTF-8 with no \u0000 or surrogate escape: no bad string
            return data
    data = _stdlib_loads(raw)
    _check_tree(data)
    return data


def _stdlib_loads(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise ApiError(400, "the request body is not valid JSON", code="malformed_json") from None


def _check_depth(data: Any) -> None:
    """What :func:`_check_tree` says of a tree without strings to refuse, faster."""
    stack = [(data, 0)] if type(data) in (dict, list) else []
    while stack:
        node, depth = stack.pop()
        children = node.values() if type(node) is dict else node
        if not children:
            continue
        if depth >= MAX_DEPTH:  # its children lie deeper than MAX_DEPTH
            message = f"JSON nested deeper than {MAX_DEPTH} levels"
            raise ApiError(400, message, code="malformed_json")
        stack.extend((child, depth + 1) for child in children if type(child) in (dict, list))


def _raw_body() -> bytes:
    """The body, 413 past ``MAX_CONTENT_LENGTH`` however it is framed: werkzeug refuses a
    declared length past it, but only cuts a chunked body there, so look for one byte more."""
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return raw


def _check_tree(data: Any) -> None:
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            message = f"JSON nested deeper than {MAX_DEPTH} levels"
            raise ApiError(400, message, code="malformed_json")
        if isinstance(node, dict):
            for key, value in node.items():
                _check_string(key, path + (key,))
                stack.append((value, path + (key,)))
        elif isinstance(node, list):
            stack.extend((value, path + (str(i),)) for i, value in enumerate(node))
        elif isinstance(node, str):
            _check_string(node, path)


def _check_string(text: str, path: tuple[str, ...]) -> None:
    bad = "\x00" in text
    if not bad:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            bad = True
    if bad:
        where = ".".join(p.encode("utf-8", "replace").decode() for p in path) or "_schema"
        where = where.replace("\x00", "\\u0000")
        raise ValidationError({where: ["must not contain NUL characters or unpaired surrogates"]})


def query(schema: Schema) -> dict[str, Any]:
    """The query string loaded through ``schema`` (422 per parameter)."""
    return schema.load(request.args.to_dict(flat=True))


def reply(schema: Schema, obj: Any, status: int = 200) -> tuple[Response, int]:
    return jsonify(schema.dump(obj)), status


def created(schema: Schema, obj: Any, endpoint: str, **values: Any) -> tuple[Response, int, dict]:
    """201 with the new resource and its ``Location``: the URL of the view ``endpoint``."""
    return jsonify(schema.dump(obj)), 201, {"Location": url_for(endpoint, **values)}


def doc(
    *,
    body: Any = None,
    query: Any = None,
    response: Any = None,
    status: int = 200,
    content_type: str = "application/json",
    errors: tuple[int, ...] = (),
    headers: dict[str, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Note a view's request and response schemas for the OpenAPI document; ``errors``: the
    statuses it answers beyond the ones its body, query, path and scope imply (409, 503);
    ``headers``: optional request headers it reads, with what they mean."""

    def deco(view: Callable[..., Any]) -> Callable[..., Any]:
        view.openapi = {  # type: ignore[attr-defined]
            "body": body,
            "query": query,
            "response": response,
            "status": status,
            "content_type": content_type,
            "errors": errors,
            "headers": headers or {},
        }
        return view

    return deco
