"""Notes on a contact: types, tags, full-text search, edit history and seed 000 "Note Permissions"."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contacts import audit, rules
from contacts.activity import add_activity
from contacts.models import Contact, Note, NoteRevision
from crm_shared import validators as v
from crm_shared.auth import Caller
from crm_shared.errors import BadRequest, Forbidden, NotFound, ValidationFailed

NOTE_FIELDS = ("text", "type", "tags")


def clean_note(data: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """Text 1-2000 characters, a known type, valid tags; 422 naming each bad field."""
    unknown = sorted(set(data) - set(NOTE_FIELDS))
    if unknown:
        raise BadRequest("unknown fields in note", {"fields": {k: ["unknown field"] for k in unknown}})
    errors = rules.FieldErrors()
    out: dict[str, Any] = {}
    if "text" in data or not partial:
        text = str(data.get("text") or "").strip()
        if not text:
            errors.add("text", "note text is required")
        elif len(text) > rules.NOTE_TEXT_MAX:
            errors.add("text", f"note is longer than {rules.NOTE_TEXT_MAX} characters")
        out["text"] = text
    if "type" in data or not partial:
        note_type = str(data.get("type") or "general").strip().lower()
        if note_type not in rules.NOTE_TYPES:
            errors.add("type", f"must be one of {', '.join(rules.NOTE_TYPES)}")
        out["type"] = note_type
    if "tags" in data:
        if not isinstance(data["tags"], list):
            errors.add("tags", "tags must be a list of strings")
        else:
            out["tags"] = errors.run("tags", v.validate_tags, data["tags"])
    elif not partial:
        out["tags"] = []
    errors.raise_if_any()
    return out


def note_dict(note: Note, caller: Caller | None = None, owner_id: str | None = None,
              revisions: int | None = None) -> dict[str, Any]:
    out = {"id": note.id, "contact_id": note.contact_id, "type": note.type, "text": note.text,
           "tags": list(note.tags or []), "author_id": note.author_id, "author_name": note.author_name,
           "author_role": note.author_role, "created_at": note.created_at.astimezone(UTC).isoformat(),
           "updated_at": note.updated_at.astimezone(UTC).isoformat(), "edited": note.updated_at != note.created_at}
    if caller is not None:
        out["can_edit"] = rules.can_edit_note(caller, note.author_id, owner_id)
        out["can_delete"] = rules.can_delete_note(caller, note.author_id)
    if revisions is not None:
        out["revisions"] = revisions
    return out


def _contact(session: Session, contact_id: str, lock: bool = False) -> Contact:
    query = sa.select(Contact).where(Contact.id == str(contact_id))
    contact = session.scalar(query.with_for_update() if lock else query)
    if contact is None:
        raise NotFound("contact not found", {"contact_id": contact_id})
    return contact


def list_notes(session: Session, caller: Caller, contact_id: str, page: int = 1, per_page: int = 20,
               q: str | None = None, type: str | None = None, tag: str | None = None) -> dict[str, Any]:
    """Newest first; ``q`` is full-text (words, any order) with a substring fallback."""
    contact = _contact(session, contact_id)
    if page < 1 or not 1 <= per_page <= 200:
        raise ValidationFailed("Validation failed", {"fields": {"per_page": ["page >= 1, per_page 1-200"]}})
    query = sa.select(Note).where(Note.contact_id == contact.id)
    if q and q.strip():
        text = q.strip()[:200]
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(sa.or_(Note.search.op("@@")(sa.func.websearch_to_tsquery("simple", text)),
                                   Note.text.ilike(f"%{escaped}%")))
    if type:
        query = query.where(Note.type == type.lower())
    if tag:
        query = query.where(Note.tags.any(tag))
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    notes = list(session.scalars(query.order_by(Note.created_at.desc(), Note.id)
                                 .offset((page - 1) * per_page).limit(per_page)))
    counts = dict(session.execute(sa.select(NoteRevision.note_id, sa.func.count()).where(
        NoteRevision.note_id.in_([n.id for n in notes])).group_by(NoteRevision.note_id)).all()) if notes else {}
    return {"items": [note_dict(n, caller, contact.owner_id, counts.get(n.id, 0)) for n in notes],
            "total": total, "page": page, "per_page": per_page}


def add_note(session: Session, caller: Caller, contact_id: str, data: dict[str, Any],
             emit) -> dict[str, Any]:
    contact = _contact(session, contact_id, lock=True)
    if not rules.can_add_note(caller, contact.owner_id):
        raise Forbidden("you may only add notes to contacts you may change",
                        {"role": caller.role, "owner_id": contact.owner_id})
    values = clean_note(data)
    note = Note(contact_id=contact.id, author_id=caller.user_id, author_name=caller.name,
                author_role=caller.role, **values)
    now = datetime.now(UTC)
    note.created_at = note.updated_at = now
    session.add(note)
    session.flush()
    add_activity(session, contact, "note_added", f"{values['type'].capitalize()} note added",
                 {"note_id": note.id, "excerpt": values["text"][:200], "tags": values["tags"]}, caller)
    emit("note_added", {"contact_id": contact.id, "note_id": note.id, "note_type": note.type,
                        "author_id": caller.user_id, "excerpt": note.text[:200]})
    audit.append(session, caller, "create", "note", note.id, None, note_dict(note), {"contact_id": contact.id})
    return note_dict(note, caller, contact.owner_id, 0)


def _note(session: Session, note_id: str) -> tuple[Note, Contact]:
    note = session.scalar(sa.select(Note).where(Note.id == str(note_id)).with_for_update())
    if note is None:
        raise NotFound("note not found", {"note_id": note_id})
    return note, _contact(session, note.contact_id, lock=True)


def update_note(session: Session, caller: Caller, note_id: str, data: dict[str, Any]) -> dict[str, Any]:
    note, contact = _note(session, note_id)
    if not rules.can_edit_note(caller, note.author_id, contact.owner_id):
        raise Forbidden("only the author, the contact owner or an admin may edit this note",
                        {"role": caller.role})
    values = clean_note(data, partial=True)
    before = note_dict(note)
    if all(getattr(note, k) == val for k, val in values.items()):
        return note_dict(note, caller, contact.owner_id)
    session.add(NoteRevision(note_id=note.id, text=note.text, type=note.type, tags=list(note.tags or []),
                             edited_by=caller.user_id, edited_by_name=caller.name))
    for key, val in values.items():
        setattr(note, key, val)
    note.updated_at = datetime.now(UTC)
    session.flush()
    add_activity(session, contact, "note_edited", f"{note.type.capitalize()} note edited",
                 {"note_id": note.id, "excerpt": note.text[:200]}, caller)
    audit.append(session, caller, "update", "note", note.id, before, note_dict(note), {"contact_id": contact.id})
    return note_dict(note, caller, contact.owner_id)


def delete_note(session: Session, caller: Caller, note_id: str) -> dict[str, Any]:
    note, contact = _note(session, note_id)
    if not rules.can_delete_note(caller, note.author_id):
        raise Forbidden("only the author or an admin may delete this note", {"role": caller.role})
    before = note_dict(note)
    session.delete(note)
    add_activity(session, contact, "note_deleted", f"{note.type.capitalize()} note deleted",
                 {"note_id": note.id}, caller)
    audit.append(session, caller, "delete", "note", note.id, before, None, {"contact_id": contact.id})
    return {"id": note.id, "deleted": True}


def note_history(session: Session, note_id: str) -> dict[str, Any]:
    """The note now and every earlier version, newest first, with who edited and when."""
    note = session.get(Note, str(note_id))
    if note is None:
        raise NotFound("note not found", {"note_id": note_id})
    revisions = session.scalars(sa.select(NoteRevision).where(NoteRevision.note_id == note.id)
                                .order_by(NoteRevision.id.desc()))
    return {"note": note_dict(note), "revisions": [
        {"text": r.text, "type": r.type, "tags": list(r.tags or []), "edited_by": r.edited_by,
         "edited_by_name": r.edited_by_name, "edited_at": r.edited_at.astimezone(UTC).isoformat()}
        for r in revisions]}
