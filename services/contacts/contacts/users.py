"""Users and sign-in: the owners contacts are assigned to."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contacts import audit
from contacts.models import User
from crm_shared.auth import ROLES, Caller, hash_password, verify_password
from crm_shared.errors import NotFound, Unauthorized, ValidationFailed
from crm_shared.validators import normalize_email

# A real hash to compare against when the email is unknown, so timing does not reveal which emails exist.
_DUMMY_HASH = hash_password("not-a-real-password")


def user_to_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "email": user.email, "role": user.role, "active": user.active}


def authenticate(session: Session, email: str, password: str, source_ip: str | None = None) -> dict[str, Any]:
    """Check a sign-in and write its audit record, success or not (RELIABILITY L1: logins are audited).

    The caller commits, also when this raises: a failed sign-in must leave its record.
    """
    key = normalize_email(email)
    user = session.scalar(sa.select(User).where(User.email == key))
    failure = None
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password or "")
        failure = "unknown_or_inactive_user"
    elif not verify_password(user.password_hash, password or ""):
        failure = "wrong_password"
    details = {"email": key, "source_ip": source_ip}
    if failure:
        audit.append(session, None, "login_failed", "user", user.id if user else None,
                     details={**details, "reason": failure})
        raise Unauthorized("invalid email or password")
    audit.append(session, Caller(user_id=user.id, role=user.role, name=user.name, email=user.email), "login",
                 "user", user.id, details=details)
    return user_to_dict(user)


def list_users(session: Session, role: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(User).where(User.active.is_(True)).order_by(User.name)
    if role:
        query = query.where(User.role == role)
    return [user_to_dict(u) for u in session.scalars(query)]


def get_user(session: Session, user_id: str) -> dict[str, Any]:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user not found", {"user_id": user_id})
    return user_to_dict(user)


def upsert_user(session: Session, email: str, name: str, role: str, password: str) -> dict[str, Any]:
    """Create or update a user by email (demo data and admin set-up)."""
    if role not in ROLES:
        raise ValidationFailed("unknown role", {"fields": {"role": [f"must be one of {', '.join(ROLES)}"]}})
    key = normalize_email(email)
    user = session.scalar(sa.select(User).where(User.email == key))
    if user is None:
        user = User(email=key, name=name, role=role, password_hash=hash_password(password))
        session.add(user)
    else:
        user.name, user.role = name, role
        if not verify_password(user.password_hash, password):
            user.password_hash = hash_password(password)
    session.flush()
    return user_to_dict(user)
