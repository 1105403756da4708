"""GDPR erasure in the contacts service (RELIABILITY G1, docs/gdpr.md).

The contact row is deleted (its notes, note revisions, activities and stage
changes go with it through ON DELETE CASCADE): a scrubbed row with
placeholder values would still be a person-shaped record in every list and
count. What stays is pseudonymous: import outcomes keep their row number,
contact id and outcome (so ``import_batch`` stays idempotent), and the audit
log keeps every entry with the personal values replaced by ``[erased]``.

The audit log is a hash chain. A pseudonymized entry no longer matches its
stored hash, so the erasure appends one ``erase`` entry (itself chained) that
lists, per rewritten entry id, the hash of its new content;
``audit.verify`` accepts a rewritten entry exactly when that later entry
vouches for its present content. Links (``prev_hash``/``hash``) never change,
so nothing after an erasure has to be re-hashed and any other edit is still
detected. The database's append-only trigger allows such a rewrite only in a
transaction that set ``crm.gdpr_erasure`` (migration f8906fa0d9d9), and only
of ``before``/``after``/``details``; deletes stay refused.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contacts import audit, rules
from contacts.models import AuditEntry, Contact, ImportRow, Note, SearchTerm
from crm_shared.auth import ADMIN, Caller
from crm_shared.db import Database
from crm_shared.errors import NotFound
from crm_shared.gdpr import ERASED_TEXT, email_key, purge_reliability_rows
from crm_shared.reliability import EventOutbox
from crm_shared.service import Context, rpc

#: keys whose values are personal data wherever they appear in an audit record
PII_KEYS = frozenset({
    "first_name", "last_name", "name", "email", "emails", "phone", "phones", "address", "social",
    "custom_fields", "notes", "text", "excerpt", "title", "details", "linkedin", "twitter", "street", "city",
    "zip", "position", "to_email", "participants", "description", "q",
})

Emit = Callable[[str, dict[str, Any]], None]


def redact(value: Any, needles: Iterable[str], key: str | None = None) -> Any:
    """``value`` with personal values replaced: PII keys wholesale, other strings when they quote a needle."""
    needles = [n.lower() for n in needles if n]
    if key in PII_KEYS and value not in (None, "", [], {}):
        return ERASED_TEXT
    if isinstance(value, dict):
        return {k: redact(v, needles, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, needles) for v in value]
    if isinstance(value, str) and any(n in value.lower() for n in needles):
        return ERASED_TEXT
    return value


def _record(row: AuditEntry) -> dict[str, Any]:
    """The part of an entry its hash covers, as ``audit.verify`` reads it back."""
    data = audit._row_dict(row)
    return {k: data[k] for k in ("at", "actor_id", "actor_role", "action", "entity", "entity_id", "before",
                                 "after", "details")}


def pseudonymize_audit(session: Session, entity_ids: list[str], needles: list[str],
                       owned_needles: list[str]) -> dict[str, str]:
    """Rewrite the entries about the erased contact (and any quoting its address); returns {id: new hash}.

    Entries about the contact or its notes lose PII keys and any string
    quoting its name; other entries lose only strings quoting the address or
    full name (a lone first name is too common to blank elsewhere).
    """
    text = sa.cast(AuditEntry.before, sa.Text) + sa.cast(AuditEntry.after, sa.Text) + sa.cast(
        AuditEntry.details, sa.Text)
    quoted = [text.ilike(f"%{n}%") for n in needles if n]
    query = sa.select(AuditEntry).where(sa.or_(AuditEntry.entity_id.in_(entity_ids), *quoted)).order_by(
        AuditEntry.id).with_for_update()
    vouched: dict[str, str] = {}
    # the append-only trigger lets this transaction rewrite content (never links, never delete)
    session.execute(sa.text("SET LOCAL crm.gdpr_erasure = 'on'"))
    for row in session.scalars(query):
        own = row.entity_id in entity_ids
        words = needles + owned_needles if own else needles
        before, after, details = (redact(row.before, words), redact(row.after, words),
                                  redact(row.details, words))
        if not own and (before, after, details) == (row.before, row.after, row.details):
            continue
        if own:
            before, after = _blank_owned(before), _blank_owned(after)
        row.before, row.after, row.details = before, after, {**(details or {}), "pseudonymized": True}
        vouched[str(row.id)] = rules.audit_hash(row.prev_hash, _record(row))
    session.flush()
    return vouched


def _blank_owned(value: Any) -> Any:
    """Snapshots of the erased contact keep their field names, not their values."""
    if isinstance(value, dict):
        return {k: (v if k in ("id", "stage", "owner_id", "version", "score", "unsubscribed") else
                    (ERASED_TEXT if v not in (None, "", [], {}) else v)) for k, v in value.items()}
    return value


def _forget_search_terms(session: Session, contact: Contact) -> None:
    """Drop vocabulary words only this contact contributed (names are personal data)."""
    words = {w for w in re.split(r"[^\w]+", f"{contact.first_name} {contact.last_name}".lower()) if len(w) > 1}
    for word in words:
        still_used = session.scalar(sa.select(sa.literal(True)).where(
            Contact.id != contact.id, Contact.search_text.ilike(f"%{word}%")).limit(1))
        if not still_used:
            session.execute(sa.delete(SearchTerm).where(SearchTerm.term == word))


def erase_contact(session: Session, caller: Caller, contact_id: str, emit: Emit) -> dict[str, Any]:
    """Erase one contact's personal data in this database and announce ``contact_erased``."""
    caller.require(ADMIN)
    contact = session.scalar(sa.select(Contact).where(Contact.id == contact_id).with_for_update())
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    addresses = [a for a in dict.fromkeys([contact.email, *(contact.emails or [])]) if a]
    full_name = f"{contact.first_name} {contact.last_name}".strip()
    needles = [*addresses, *[p for p in [contact.phone, *(contact.phones or [])] if p], full_name]
    owned = [w for w in (contact.first_name, contact.last_name) if w and len(w) > 2]
    note_ids = list(session.scalars(sa.select(Note.id).where(Note.contact_id == contact_id)))
    vouched = pseudonymize_audit(session, [contact_id, *note_ids], needles, owned)
    import_rows = session.execute(sa.update(ImportRow).where(ImportRow.contact_id == contact_id).values(
        result=sa.func.jsonb_build_object("row", ImportRow.row, "contact_id", contact_id, "outcome",
                                          ImportRow.outcome, "erased", True))).rowcount
    _forget_search_terms(session, contact)
    session.delete(contact)
    session.flush()
    purged = purge_reliability_rows(session, addresses, contact_id)
    key = email_key(contact.email)
    emit("contact_erased", {"contact_id": contact_id, "email_hash": key})
    audit.append(session, caller, "erase", "contact", contact_id,
                 details={"email_hash": key, "pseudonymized_rows": vouched})
    return {"contact_id": contact_id, "erased": True, "email_hash": key,
            "audit_entries_pseudonymized": len(vouched), "notes_deleted": len(note_ids),
            "import_rows_scrubbed": import_rows or 0, "reliability_rows": purged}


class ErasureMixin:
    """The erase RPC, mixed into ``ContactsService`` (kept apart so the service file stays untouched)."""

    db: Database
    outbox: EventOutbox
    ctx: Context

    @rpc
    def erase_contact(self, contact_id: str) -> dict[str, Any]:
        """Admin only (G1): the contact's personal data leaves every service database."""
        caller = self.ctx.caller
        caller.require(ADMIN)
        self.outbox.flush()  # events still waiting carry the contact's data: publish them so the purge sees them
        try:
            result = erase_contact(self.db, caller, str(contact_id),
                                   lambda event_type, data: self.outbox.add(self.db, event_type, data))
            self.db.commit()
        finally:
            audit.reset_chain(self.db)
        self.outbox.flush()
        return result
