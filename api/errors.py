"""The one error shape, ``{"error": {"code", "message", "fields"}}``, for every error response.

The mapping from exceptions to status codes lives here only: HTTP errors keep their status,
``ValidationError`` is 422 per field, a missing row 404, a unique-constraint race 409, an
unreachable broker, Redis or database 503. Anything else is logged and answered 500 in the
same shape (a bug: no input is meant to reach it).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from werkzeug.exceptions import HTTPException

from alertworker.client import PublishError
from alertworker.tenants.configs import ConflictError, NotFoundError

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "too_many_requests",
    500: "internal_error", 503: "unavailable",
}  # fmt: skip


class ApiError(Exception):
    """An error answered as is: status, message and optional per-field details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields or {}
        self.code = code or CODES.get(status, "error")
        self.headers = headers or {}


def error_response(error: ApiError) -> tuple[Response, int, dict[str, str]]:
    body = {"error": {"code": error.code, "message": error.message, "fields": error.fields}}
    return jsonify(body), error.status, error.headers


def _http(exc: HTTPException) -> Any:
    if exc.code is None or exc.code < 400:  # redirects and the like pass through
        return exc
    headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "www-authenticate")}
    message = (exc.description or exc.name).split("\n")[0]
    return error_response(ApiError(exc.code, message, headers=headers))


def _validation(exc: ValidationError) -> Any:
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    fields = {str(k): v for k, v in messages.items()}
    return error_response(ApiError(422, "the request is not valid", fields=fields))


def _integrity(exc: IntegrityError) -> Any:
    log.info("integrity conflict: %s", type(exc.orig).__name__)
    return error_response(ApiError(409, "the request conflicts with the current state"))


def _database(exc: DBAPIError) -> Any:
    log.warning("database error: %s", type(exc.orig).__name__)
    return error_response(ApiError(503, "the database is unavailable", fields={}))


def _unavailable(exc: Exception) -> Any:
    log.warning("dependency unavailable: %s", type(exc).__name__)
    what = "the broker" if isinstance(exc, PublishError) else "Redis"
    return error_response(ApiError(503, f"{what} is unavailable; try again later"))


def _unexpected(exc: Exception) -> Any:
    if isinstance(exc, StatementError):  # its text carries the SQL parameters: maybe secrets
        log.error("unhandled database error %s", type(exc.orig).__name__)
    else:
        log.exception("unhandled error")
    return error_response(ApiError(500, "internal error"))


def register(app: Flask) -> None:
    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(ValidationError, _validation)
    app.register_error_handler(NotFoundError, lambda exc: error_response(ApiError(404, str(exc))))
    app.register_error_handler(ConflictError, lambda exc: error_response(ApiError(409, str(exc))))
    app.register_error_handler(IntegrityError, _integrity)
    app.register_error_handler(OperationalError, _database)
    app.register_error_handler(InterfaceError, _database)
    app.register_error_handler(PublishError, _unavailable)
    app.register_error_handler(redis.exceptions.ConnectionError, _unavailable)
    app.register_error_handler(redis.exceptions.TimeoutError, _unavailable)
    app.register_error_handler(Exception, _unexpected)
