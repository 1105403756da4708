"""The activity timeline: own facts and what the other services' events say about a contact.

Every entry moves the contact's ``last_activity_at`` (the 30-day "inactive"
rule); interactions (emails sent or replied, calls) also move
``last_contact_at``. Entries from events carry the event id, so a redelivery
adds nothing (the handler also claims the event).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contacts import rules
from contacts.models import Activity, Contact, StageChange
from crm_shared.auth import Caller
from crm_shared.errors import NotFound, ValidationFailed

# Event types that are an interaction with the contact (seed 000 "Last Contact").
INTERACTIONS = {"email_sent", "email_replied", "call_logged"}
MAX_TITLE = 300


def activity_row(contact_id: str, type_: str, title: str, details: dict[str, Any] | None, actor: Caller | None,
                 occurred_at: datetime, source: str = "contacts", event_id: str | None = None) -> dict[str, Any]:
    """The column values of one timeline entry (also inserted set-based by imports)."""
    return {"contact_id": contact_id, "type": type_, "title": title[:MAX_TITLE], "details": details or {},
            "actor_id": actor.user_id if actor else None, "actor_name": actor.name if actor else None,
            "source": source, "event_id": event_id, "occurred_at": occurred_at}


def add_activity(session: Session, contact: Contact, type_: str, title: str, details: dict[str, Any] | None,
                 actor: Caller | None, occurred_at: datetime | None = None, source: str = "contacts",
                 event_id: str | None = None) -> Activity:
    when = occurred_at or datetime.now(UTC)
    entry = Activity(**activity_row(contact.id, type_, title, details, actor, when, source, event_id))
    session.add(entry)
    if contact.last_activity_at is None or when > contact.last_activity_at:
        contact.last_activity_at = when
    if type_ in INTERACTIONS and (contact.last_contact_at is None or when > contact.last_contact_at):
        contact.last_contact_at = when
    return entry


def activity_dict(entry: Activity) -> dict[str, Any]:
    return {"id": str(entry.id), "contact_id": entry.contact_id, "type": entry.type, "title": entry.title,
            "details": entry.details, "user_id": entry.actor_id, "user_name": entry.actor_name,
            "source": entry.source, "occurred_at": entry.occurred_at.astimezone(UTC).isoformat()}


def _filtered(contact_id: str, type: str | list[str] | None, date_from: datetime | None,
              date_to: datetime | None, user_id: str | None):
    """The timeline query with the list's filters (shared by the list and the CSV export)."""
    query = sa.select(Activity).where(Activity.contact_id == contact_id)
    types = type if isinstance(type, list) else [t for t in (type or "").split(",") if t]
    exact, prefixes = rules.activity_type_filter(types)
    if exact or prefixes:
        query = query.where(sa.or_(Activity.type.in_(exact), *[Activity.type.startswith(p) for p in prefixes]))
    if date_from:
        query = query.where(Activity.occurred_at >= date_from)
    if date_to:
        query = query.where(Activity.occurred_at < date_to)
    if user_id:
        query = query.where(Activity.actor_id == user_id)
    return query


def export_rows(session: Session, contact_id: str, type: str | list[str] | None, date_from: datetime | None,
                date_to: datetime | None, user_id: str | None, limit: int) -> tuple[list[dict[str, Any]], int]:
    """At most ``limit`` entries, newest first, and how many matched."""
    if session.scalar(sa.select(Contact.id).where(Contact.id == contact_id)) is None:
        raise NotFound("contact not found", {"contact_id": contact_id})
    query = _filtered(contact_id, type, date_from, date_to, user_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit))
    return [activity_dict(r) for r in rows], total


def list_activity(session: Session, contact_id: str, page: int = 1, per_page: int = 20,
                  type: str | list[str] | None = None, date_from: datetime | None = None,
                  date_to: datetime | None = None, user_id: str | None = None) -> dict[str, Any]:
    """Newest first, filterable by type (or a group such as ``email``), date range and user."""
    if session.scalar(sa.select(Contact.id).where(Contact.id == contact_id)) is None:
        raise NotFound("contact not found", {"contact_id": contact_id})
    if page < 1 or not 1 <= per_page <= 200:
        raise ValidationFailed("Validation failed", {"fields": {"per_page": ["page >= 1, per_page 1-200"]}})
    query = _filtered(contact_id, type, date_from, date_to, user_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(Activity.occurred_at.desc(), Activity.id.desc())
                           .offset((page - 1) * per_page).limit(per_page))
    return {"items": [activity_dict(r) for r in rows], "total": total, "page": page, "per_page": per_page}


def record_event(session: Session, contact_id: str | None, type_: str, title: str, details: dict[str, Any],
                 envelope: dict[str, Any], email: str | None = None) -> Contact | None:
    """An entry from another service's event; returns the contact, or None when it no longer exists."""
    contact = None
    if contact_id:
        contact = session.scalar(sa.select(Contact).where(Contact.id == str(contact_id)).with_for_update())
    if contact is None and email:
        contact = session.scalar(sa.select(Contact).where(Contact.email == email.strip().lower())
                                 .with_for_update())
    if contact is None:
        return None
    add_activity(session, contact, type_, title, details, _event_actor(envelope), _occurred_at(envelope),
                 envelope.get("source", "system"), envelope.get("event_id"))
    return contact


EMAIL_TITLES = {
    "email_sent": "Email sent", "email_delivered": "Email delivered", "email_opened": "Email opened",
    "email_clicked": "Email link clicked", "email_bounced": "Email bounced", "email_replied": "Email reply received",
}


def email_entry(event_type: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An ``email_*`` body (alone or an item of ``emails_*``) as (timeline title, details)."""
    subject = data.get("subject") or ""
    label = EMAIL_TITLES.get(event_type, event_type)
    details = {k: data.get(k) for k in ("email_id", "subject", "campaign_id", "template_id", "url")
               if data.get(k) is not None}
    return (f"{label}: {subject}" if subject else label), details


def score_entry(data: dict[str, Any]) -> tuple[str, int, str, dict[str, Any]]:
    """A ``score_changed`` body as (contact id, score, timeline title, details)."""
    score = max(0, min(100, int(data.get("score", 0))))
    previous = data.get("previous_score")
    title = f"Score changed: {previous if previous is not None else '-'} → {score}"
    details = {"score": score, "previous_score": previous, "fit": data.get("fit"),
               "engagement": data.get("engagement"), "reason": data.get("reason", "")}
    return str(data.get("contact_id") or ""), score, title, details


def record_scores(session: Session, changes: list[dict[str, Any]], envelope: dict[str, Any]) -> int:
    """Score changes from scoring (one ``score_changed`` or a ``scores_changed`` batch) in two statements.

    Every contact an import adds gets one, so this is the contacts service's
    busiest handler during an import: one UPDATE ... FROM VALUES for the
    scores and one multi-row INSERT for the timeline entries, no ORM round
    trips. Contacts that no longer exist are skipped; returns how many were updated.
    """
    entries = {}
    for data in changes:
        contact_id, score, title, details = score_entry(data)
        if contact_id:
            entries[contact_id] = (score, title, details)   # the last change of a contact wins
    if not entries:
        return 0
    when = _occurred_at(envelope)
    table = Contact.__table__
    values = sa.values(sa.column("id", sa.String), sa.column("score", sa.Integer), name="changed").data(
        [(contact_id, score) for contact_id, (score, _, _) in entries.items()])
    updated = session.execute(
        table.update().where(table.c.id == values.c.id)
        .values(score=values.c.score, last_activity_at=sa.func.greatest(table.c.last_activity_at, when))
        .returning(table.c.id)).scalars().all()
    if updated:
        actor, source = _event_actor(envelope), envelope.get("source", "system")
        session.execute(Activity.__table__.insert(), [
            activity_row(contact_id, "score_changed", entries[contact_id][1], entries[contact_id][2], actor, when,
                         source, envelope.get("event_id")) for contact_id in updated])
    return len(updated)


def _occurred_at(envelope: dict[str, Any]) -> datetime:
    occurred = envelope.get("occurred_at")
    try:
        when = datetime.fromisoformat(occurred) if occurred else datetime.now(UTC)
    except ValueError:
        when = datetime.now(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _event_actor(envelope: dict[str, Any]) -> Caller | None:
    actor_id = (envelope.get("data") or {}).get("actor_id")
    return Caller(user_id=actor_id, role="system", name="") if actor_id else None


def stage_history(session: Session, contact_id: str) -> list[dict[str, Any]]:
    """Every stage change of a contact, newest first: who, when, from, to."""
    if session.scalar(sa.select(Contact.id).where(Contact.id == contact_id)) is None:
        raise NotFound("contact not found", {"contact_id": contact_id})
    rows = session.scalars(sa.select(StageChange).where(StageChange.contact_id == contact_id)
                           .order_by(StageChange.changed_at.desc(), StageChange.id.desc()))
    return [{"from": r.from_stage, "to": r.to_stage, "user_id": r.actor_id, "user_name": r.actor_name,
             "changed_at": r.changed_at.astimezone(UTC).isoformat()} for r in rows]


def import_activity(session: Session, envelope: dict[str, Any], data: dict[str, Any]) -> None:
    """An "import completed" entry on each contact the import touched that has none for it yet."""
    import_id = data.get("import_id")
    file_name = data.get("file_name") or "file"
    for key, verb in (("created_contact_ids", "Created"), ("merged_contact_ids", "Updated")):
        ids = [str(i) for i in data.get(key) or []]
        if not ids:
            continue
        seen = set(session.scalars(sa.select(Activity.contact_id).where(
            Activity.contact_id.in_(ids), Activity.type == "import_completed",
            Activity.details["import_id"].astext == str(import_id))))
        record_for_many(session, [i for i in ids if i not in seen], "import_completed",
                        f"{verb} by import of {file_name}", {"import_id": import_id, "file_name": file_name},
                        envelope)


def record_for_many(session: Session, contact_ids: list[str], type_: str, title: str, details: dict[str, Any],
                    envelope: dict[str, Any], chunk: int = 5000) -> int:
    """The same timeline entry on many contacts in two statements a chunk (an import touches 50,000)."""
    return record_many(session, type_, [(contact_id, title, details, None) for contact_id in contact_ids],
                       envelope, chunk)


def record_many(session: Session, type_: str, entries: list[tuple[str, str, dict[str, Any], str | None]],
                envelope: dict[str, Any], chunk: int = 5000) -> int:
    """Timeline entries of one type, each ``(contact_id, title, details, actor_id)``, two statements a chunk.

    What ``record_event`` does for each entry, set-based (a batch event such as ``emails_sent``, an
    import's "import completed" entries): entries of contacts that no longer exist are skipped,
    ``last_activity_at`` (and, for interactions, ``last_contact_at``) move forward, a contact named
    twice gets both entries. ``actor_id`` None means the envelope's actor. Returns the entries written.
    """
    when, source = _occurred_at(envelope), envelope.get("source", "system")
    default_actor = _event_actor(envelope)
    table = Contact.__table__
    moved = {"last_activity_at": sa.func.greatest(table.c.last_activity_at, when)}
    if type_ in INTERACTIONS:
        moved["last_contact_at"] = sa.func.greatest(table.c.last_contact_at, when)
    done = 0
    for start in range(0, len(entries), chunk):
        part = [entry for entry in entries[start:start + chunk] if entry[0]]
        ids = sorted({str(entry[0]) for entry in part})
        if not ids:
            continue
        found = set(session.execute(table.update().where(table.c.id.in_(ids)).values(**moved)
                                    .returning(table.c.id)).scalars())
        rows = [activity_row(str(contact_id), type_, title, details,
                             Caller(user_id=actor_id, role="system", name="") if actor_id else default_actor,
                             when, source, envelope.get("event_id"))
                for contact_id, title, details, actor_id in part if str(contact_id) in found]
        if rows:
            session.execute(Activity.__table__.insert(), rows)
        done += len(rows)
    return done
