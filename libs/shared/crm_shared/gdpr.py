"""GDPR erasure helpers every service shares (RELIABILITY G1).

``email_key`` is the only trace of an erased address that may remain: an
HMAC-SHA256 under a secret from configuration, so the suppression list can
still recognise the address on a later import without storing it (a plain
SHA-256 of an email is reversible by guessing). Every service computes the
same key because they all use this one function and ``CRM_GDPR_HASH_KEY``.

``purge_reliability_rows`` clears the copies of personal data that the
reliability tables keep (published outbox envelopes, parked events, stored
idempotent results) in any service database.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm_shared.config import env
from crm_shared.reliability import handler_failures, idempotency_keys, outbox

KEY_PREFIX = "hmac-sha256:"
ERASED_TEXT = "[erased]"


def hash_secret() -> bytes:
    """The keyed-hash secret (``CRM_GDPR_HASH_KEY``); rotating it forgets every erased address."""
    return env("CRM_GDPR_HASH_KEY", "dev-only-gdpr-key-change-me-0123456789abcdef").encode()


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def email_key(email: str) -> str:
    """The keyed hash that stands for an erased address on the suppression list."""
    digest = hmac.new(hash_secret(), normalize_email(email).encode(), hashlib.sha256).hexdigest()
    return KEY_PREFIX + digest


def is_email_key(value: str | None) -> bool:
    return bool(value) and str(value).startswith(KEY_PREFIX)


def mentions(value: Any, needles: Iterable[str]) -> bool:
    """True when the JSON text of ``value`` contains any needle (case-insensitive)."""
    text = json.dumps(value, default=str).lower()
    return any(n and n.lower() in text for n in needles)


def _like_any(column: sa.ColumnElement, needles: list[str]) -> sa.ColumnElement[bool]:
    text = sa.cast(column, sa.Text)
    return sa.or_(*[text.ilike(f"%{_escape_like(n)}%", escape="\\") for n in needles])


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def purge_reliability_rows(session: Session, addresses: Iterable[str], contact_id: str | None = None
                           ) -> dict[str, int]:
    """Drop outbox envelopes and parked events that quote the erased contact; blank stored results.

    Outbox rows quoting an erased address go whether published or not: an
    event carrying the address must not be delivered after the erasure (an
    unroutable one may wait unpublished for a while). Rows that only name the
    contact id go once published; a waiting one may also concern other
    contacts (``contacts_imported``) and holds no personal data of its own.
    """
    addresses = [a for a in dict.fromkeys(str(a).strip() for a in addresses) if a]
    ids = [contact_id] if contact_id else []
    if not addresses and not ids:
        return {"outbox": 0, "failures": 0, "idempotency": 0}
    conds = []
    if addresses:
        conds.append(_like_any(outbox.c.envelope, addresses))
    if ids:
        conds.append(sa.and_(outbox.c.published_at.is_not(None), _like_any(outbox.c.envelope, ids)))
    sent = session.execute(sa.delete(outbox).where(sa.or_(*conds))).rowcount
    parked = session.execute(sa.delete(handler_failures).where(
        _like_any(handler_failures.c.envelope, addresses + ids))).rowcount
    # a stored result naming the contact may quote its data (a logged call's notes): a retry with that key
    # now answers {"erased": true} instead of replaying it
    results = session.execute(sa.update(idempotency_keys).where(
        _like_any(idempotency_keys.c.result, addresses + ids)).values(result={"erased": True})).rowcount
    return {"outbox": sent or 0, "failures": parked or 0, "idempotency": results or 0}
