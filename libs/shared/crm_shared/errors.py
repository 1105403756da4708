"""Typed domain errors that travel over RPC and map to HTTP once, in the gateway.

Each error is registered with nameko as deserialisable, so a caller using the
standard proxies gets the same class back; the gateway's own RPC client
rebuilds them from ``exc_path``.
"""
from __future__ import annotations

import json
from typing import Any

from nameko.exceptions import deserialize_to_instance


class CrmError(Exception):
    """Base of every expected failure; ``code`` and ``status`` become the HTTP error."""

    code = "error"
    status = 400

    def __init__(self, message: str = "", details: dict[str, Any] | str | None = None):
        if isinstance(details, str):  # rebuilt from the wire: nameko stringifies every non-str arg
            try:
                details = json.loads(details)
            except ValueError:
                details = {"detail": details}
        details = details if isinstance(details, dict) else {}
        # details travel as JSON text so numbers and booleans keep their types across RPC
        super().__init__(message, json.dumps(details, default=str))
        self.message = message or self.code
        self.details = details

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


@deserialize_to_instance
class BadRequest(CrmError):
    code, status = "bad_request", 400


@deserialize_to_instance
class Unauthorized(CrmError):
    code, status = "unauthorized", 401


@deserialize_to_instance
class Forbidden(CrmError):
    code, status = "forbidden", 403


@deserialize_to_instance
class NotFound(CrmError):
    code, status = "not_found", 404


@deserialize_to_instance
class Conflict(CrmError):
    code, status = "conflict", 409


@deserialize_to_instance
class PayloadTooLarge(CrmError):
    code, status = "payload_too_large", 413


@deserialize_to_instance
class ValidationFailed(CrmError):
    """``details`` maps each bad field to a list of reasons."""

    code, status = "validation_error", 422


@deserialize_to_instance
class RateLimited(CrmError):
    code, status = "rate_limited", 429


@deserialize_to_instance
class ServiceUnavailable(CrmError):
    code, status = "service_unavailable", 503


ERRORS_BY_NAME: dict[str, type[CrmError]] = {
    cls.__name__: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
                ValidationFailed, RateLimited, ServiceUnavailable)
}


def from_marshmallow(err: Any) -> ValidationFailed:
    """A marshmallow ValidationError as our 422, naming each field."""
    return ValidationFailed("Validation failed", {"fields": err.normalized_messages()})
