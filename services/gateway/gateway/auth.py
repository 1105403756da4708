"""Authentication and the one role decorator every view uses."""
from __future__ import annotations

import functools
import hmac
import os
from collections.abc import Callable

from flask import g, request

from crm_shared.auth import ROLES, Caller, decode_token
from crm_shared.errors import Forbidden, Unauthorized

# Who may do what, by kind of action (SPEC "Permissions"); views name one of these.
READ = ROLES
WRITE = ("admin", "marketing", "sales")
MARKETING = ("admin", "marketing")
ADMIN_ONLY = ("admin",)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_caller() -> Caller:
    return g.caller


def require(*roles: str) -> Callable:
    """Authenticate the bearer token and allow only ``roles`` (default: every role)."""
    allowed = roles or ROLES

    def decorator(view: Callable) -> Callable:
        view._crm_roles = allowed  # read by the OpenAPI generator

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            token = bearer_token()
            if token is None:
                raise Unauthorized("missing bearer token")
            caller = decode_token(token)
            g.caller, g.token = caller, token
            if caller.role not in allowed:
                raise Forbidden(f"role '{caller.role}' may not do this", {"role": caller.role,
                                                                        "allowed": list(allowed)})
            return view(*args, **kwargs)

        return wrapper

    return decorator


def require_api_key_or(*roles: str) -> Callable:
    """Website tracking posts with ``X-API-Key``; everyone else with a bearer token."""

    def decorator(view: Callable) -> Callable:
        authed = require(*roles)(view)

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            key = request.headers.get("X-API-Key")
            if key is not None:
                expected = os.environ.get("CRM_TRACKING_API_KEY", "demo-tracking-key")
                if not hmac.compare_digest(key, expected):
                    raise Unauthorized("invalid API key")
                from crm_shared.auth import create_token

                g.caller = Caller(user_id="api-key", role="system", name="website")
                g.token = create_token("api-key", "system", name="website", ttl_seconds=60)
                return view(*args, **kwargs)
            return authed(*args, **kwargs)

        return wrapper

    return decorator
