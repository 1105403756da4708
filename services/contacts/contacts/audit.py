"""The audit log: one append-only, hash-chained record per change, denial and export (RELIABILITY L1).

Records are written in the caller's transaction, so a change never commits
without its record. Appends take a transaction-scoped advisory lock so the
chain stays linear when several workers write at once.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contacts import rules
from contacts.models import AuditEntry
from crm_shared.auth import Caller
from crm_shared.errors import ValidationFailed

_LOCK_KEY = 0x6175646974  # "audit"


def _record(at: datetime, caller: Caller | None, action: str, entity: str, entity_id: str | None,
            before: Any, after: Any, details: dict[str, Any] | None) -> dict[str, Any]:
    return rules.audit_record({
        "at": at.astimezone(UTC).isoformat(), "actor_id": caller.user_id if caller else None,
        "actor_role": caller.role if caller else None, "action": action, "entity": entity,
        "entity_id": entity_id, "before": before, "after": after, "details": details or {},
    })


def _chain(session: Session) -> dict[str, str]:
    chain = session.info.get("audit_chain")
    if chain is None:
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        prev = session.scalar(sa.select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
        chain = {"prev": prev or rules.GENESIS_HASH}
        session.info["audit_chain"] = chain
    return chain


def head(session: Session) -> str:
    """Lock the chain for this transaction and return its head (taken before a savepoint, see ``rewind``)."""
    return _chain(session)["prev"]


def rewind(session: Session, prev: str) -> None:
    """After rolling back a savepoint, forget the records it added: the chain continues from ``prev``."""
    _chain(session)["prev"] = prev


def _linked(chain: dict[str, str], record: dict[str, Any]) -> dict[str, Any]:
    digest = rules.audit_hash(chain["prev"], record)
    row = {"at": datetime.fromisoformat(record["at"]), "actor_id": record["actor_id"],
           "actor_role": record["actor_role"], "action": record["action"], "entity": record["entity"],
           "entity_id": record["entity_id"], "before": record["before"], "after": record["after"],
           "details": record["details"], "prev_hash": chain["prev"], "hash": digest}
    chain["prev"] = digest
    return row


def append(session: Session, caller: Caller | None, action: str, entity: str, entity_id: str | None,
           before: Any = None, after: Any = None, details: dict[str, Any] | None = None) -> None:
    """Add one record to the chain inside the current transaction."""
    chain = _chain(session)
    record = _record(datetime.now(UTC), caller, action, entity, entity_id, before, after, details)
    session.add(AuditEntry(**_linked(chain, record)))


def append_many(session: Session, caller: Caller | None, entries: list[dict[str, Any]]) -> None:
    """Add many records in one INSERT (imports): the same chain, one round trip instead of one per record.

    Each entry has ``action``, ``entity``, ``entity_id`` and optional ``before``,
    ``after``, ``details``. Pending ORM records are flushed first so the chain
    order is the id order.
    """
    if not entries:
        return
    chain = _chain(session)
    session.flush()
    now = datetime.now(UTC)
    rows = [_linked(chain, _record(now, caller, e["action"], e["entity"], e.get("entity_id"), e.get("before"),
                                   e.get("after"), e.get("details"))) for e in entries]
    session.execute(sa.insert(AuditEntry.__table__), rows)


def reset_chain(session: Session) -> None:
    """Forget the cached chain head (after commit or rollback the lock is gone)."""
    session.info.pop("audit_chain", None)


def _row_dict(row: AuditEntry) -> dict[str, Any]:
    return {"id": row.id, "at": row.at.astimezone(UTC).isoformat(), "actor_id": row.actor_id,
            "actor_role": row.actor_role, "action": row.action, "entity": row.entity, "entity_id": row.entity_id,
            "before": row.before, "after": row.after, "details": row.details, "prev_hash": row.prev_hash,
            "hash": row.hash}


def list_entries(session: Session, entity_id: str | None = None, action: str | None = None,
                 actor_id: str | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
    if page < 1 or not 1 <= per_page <= 200:
        raise ValidationFailed("Validation failed", {"fields": {"page": ["page >= 1, per_page 1-200"]}})
    query = sa.select(AuditEntry)
    if entity_id:
        query = query.where(AuditEntry.entity_id == entity_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor_id:
        query = query.where(AuditEntry.actor_id == actor_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return {"items": [_row_dict(r) for r in rows], "total": total, "page": page, "per_page": per_page}


def verify(session: Session) -> dict[str, Any]:
    """Walk the whole chain; ``first_bad_id`` names the first record that was tampered with."""
    rows = (_row_dict(r) for r in session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
            .yield_per(1000))
    count = session.scalar(sa.select(sa.func.count(AuditEntry.id)))
    erasures = session.scalars(sa.select(AuditEntry.details).where(AuditEntry.action == "erase")
                               .order_by(AuditEntry.id))
    vouched = {int(k): v for d in erasures for k, v in ((d or {}).get("pseudonymized_rows") or {}).items()}
    bad = rules.verify_chain(rows, vouched)
    return {"records": count, "valid": bad is None, "first_bad_id": bad}
