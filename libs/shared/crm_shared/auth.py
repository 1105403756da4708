"""Passwords, signed tokens and roles.

The gateway issues tokens; every service verifies the same token from the RPC
context itself (RELIABILITY A1), so a forged context header gets nothing.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from werkzeug.security import check_password_hash, generate_password_hash

from crm_shared.config import auth_settings
from crm_shared.errors import Forbidden, Unauthorized

ADMIN, MARKETING, SALES, EXECUTIVE, SYSTEM = "admin", "marketing", "sales", "executive", "system"
ROLES: tuple[str, ...] = (ADMIN, MARKETING, SALES, EXECUTIVE)
WRITERS: tuple[str, ...] = (ADMIN, MARKETING, SALES)
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


@dataclass(frozen=True)
class Caller:
    """Who is calling: decoded from a verified token, never from loose headers."""

    user_id: str
    role: str
    name: str = ""
    email: str = ""
    token: str = field(default="", repr=False, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.role in (ADMIN, SYSTEM)

    def require(self, *roles: str) -> Caller:
        """Raise Forbidden unless the caller has one of ``roles`` (system always passes)."""
        if self.role == SYSTEM or self.role in roles:
            return self
        raise Forbidden(f"role '{self.role}' may not do this", {"role": self.role, "allowed": list(roles)})

    def can_write_owned(self, owner_id: str | None) -> bool:
        """Seed 000 permissions: sales write only what they own; executives never write."""
        if self.role in (ADMIN, MARKETING, SYSTEM):
            return True
        if self.role == SALES:
            return owner_id is not None and str(owner_id) == str(self.user_id)
        return False

    def require_owner(self, owner_id: str | None, what: str = "contact") -> Caller:
        if not self.can_write_owned(owner_id):
            raise Forbidden(f"you may only change a {what} you own",
                            {"role": self.role, "owner_id": owner_id})
        return self


def create_token(user_id: str, role: str, name: str = "", email: str = "",
                 ttl_seconds: int | None = None) -> str:
    settings = auth_settings()
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id), "role": role, "name": name, "email": email,
        "iss": settings.issuer, "aud": settings.audience,
        "iat": now, "nbf": now, "exp": now + (ttl_seconds or settings.ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.secret, algorithm=ALGORITHM)


def decode_token(token: str | None) -> Caller:
    """Verify signature, algorithm, issuer, audience and expiry; anything else is 401."""
    if not token:
        raise Unauthorized("missing bearer token")
    settings = auth_settings()
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM or any(k in header for k in ("jku", "jwk", "x5u", "kid")):
            raise Unauthorized("token header not accepted")
        claims = jwt.decode(
            token, settings.secret, algorithms=[ALGORITHM], audience=settings.audience,
            issuer=settings.issuer, options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    role = claims.get("role")
    if role not in ROLES + (SYSTEM,):
        raise Unauthorized("invalid token: unknown role")
    return Caller(user_id=str(claims["sub"]), role=role, name=claims.get("name", ""),
                  email=claims.get("email", ""), token=token)


def system_token(service: str, ttl_seconds: int = 300) -> str:
    """A short-lived token for background work that acts on nobody's behalf (timers, workers)."""
    return create_token(f"system:{service}", SYSTEM, name=service, ttl_seconds=ttl_seconds)


def role_in(role: str, allowed: Iterable[str]) -> bool:
    return role == SYSTEM or role in allowed
