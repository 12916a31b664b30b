"""Bearer-token authentication and scopes (SPEC §6).

``@require("alerts:read")`` on a view: no or a bad token answers 401, a token without the scope
403; otherwise :func:`principal` is the caller (tenant, user, scopes) for the rest of the
request. Tokens are never logged; only their display prefix is ever shown. A token verified
less than ``TOKEN_CACHE_SECONDS`` ago in this process is admitted without the database, so a
revocation takes effect within that bound.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from alertworker.tenants.auth import Principal, verify_token
from api.errors import ApiError
from api.ext import db, services

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="alertworker"'}


def principal() -> Principal:
    return g.principal


def _authenticate() -> Principal:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401, "an 'Authorization: Bearer <token>' header is required", headers=_CHALLENGE
        )
    tokens = services().tokens  # verified a moment ago: admitted (TOKEN_CACHE_SECONDS)
    found = tokens.get(token)
    if found is None:
        found = verify_token(db(), token)
        db().close()  # give the connection back: the view may first wait for a slow client
        if found is None:
            raise ApiError(401, "the token is invalid or revoked", headers=_CHALLENGE)
        tokens.put(token, found)
    return found


def require(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Admit only callers whose token has ``scope``."""

    def deco(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.principal = _authenticate()
            if scope not in g.principal.scopes:
                raise ApiError(403, f"the token lacks the {scope!r} scope")
            return view(*args, **kwargs)

        wrapper.scope = scope  # type: ignore[attr-defined]
        return wrapper

    return deco
