"""One JSON error envelope for every failure (API.md): never a stack trace."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from crm_shared.errors import CrmError
from crm_shared.rpc import RemoteError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    return response


def retry_after_header(exc: CrmError) -> str | None:
    """RFC 9110 ``Retry-After`` (whole seconds) for a 429 or 503 whose details say when to come back.

    Every limit (login, export, the daily send cap) puts ``retry_after_s`` in its details; the header
    lets HTTP clients and proxies back off without reading the body.
    """
    if exc.status not in (429, 503):
        return None
    seconds = (exc.details or {}).get("retry_after_s")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return str(max(1, int(seconds + 0.999)))


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CrmError)
    def handle_domain_error(exc: CrmError):
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        retry_after = retry_after_header(exc)
        if retry_after:
            response.headers["Retry-After"] = retry_after
        return response

    @app.errorhandler(ValidationError)
    def handle_validation(exc: ValidationError):
        return error_response(422, "validation_error", "Validation failed", {"fields": exc.normalized_messages()})

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(RemoteError)
    def handle_remote(exc: RemoteError):
        log.error("service error", extra={"exc_type": exc.exc_type, "value": exc.value[:500]})
        return error_response(500, "internal_error", "An internal error occurred")

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled gateway error")
        return error_response(500, "internal_error", "An internal error occurred")
