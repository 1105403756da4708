"""The contacts side of CSV imports: batch create/merge, undo, form tags, and the system loader.

``import_batch`` is idempotent on (import_id, row): a redelivered batch
returns the stored outcomes and writes nothing. Each row runs in its own
savepoint, so one bad row fails alone.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from contacts import audit, rules
from contacts.activity import add_activity
from contacts.models import Contact, ImportRow
from contacts.notes import add_note
from contacts.operations import ContactOps, invalidate_kpis
from crm_shared.auth import ADMIN, MARKETING, SALES, SYSTEM
from crm_shared.errors import CrmError, Forbidden, ValidationFailed

MAX_BATCH = 1000
# Fields an import row may carry besides the contact fields: form answers used for initial tags.
FORM_FIELDS = ("utility_type", "biggest_challenge", "subscribed", "schedule_demo")


def _error_text(exc: CrmError) -> str:
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    if fields:
        return "; ".join(f"{k}: {', '.join(map(str, val)) if isinstance(val, list) else val}"
                         for k, val in fields.items())
    return exc.message


def _split_form(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    contact_fields = {k: val for k, val in fields.items() if k not in FORM_FIELDS}
    form = {k: val for k, val in fields.items() if k in FORM_FIELDS}
    return contact_fields, form


def import_batch(ops: ContactOps, import_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if ops.caller.role not in (ADMIN, MARKETING, SALES, SYSTEM):
        raise Forbidden(f"role '{ops.caller.role}' may not import contacts", {"role": ops.caller.role})
    if not import_id or not isinstance(rows, list):
        raise ValidationFailed("Validation failed", {"fields": {"rows": ["give an import id and a list of rows"]}})
    if len(rows) > MAX_BATCH:
        raise ValidationFailed("Validation failed", {"fields": {"rows": [f"at most {MAX_BATCH} rows a batch"]}})
    session = ops.session
    numbers = [int(r.get("row", 0)) for r in rows]
    done = {r.row: r for r in session.scalars(sa.select(ImportRow).where(
        ImportRow.import_id == import_id, ImportRow.row.in_(numbers)))}
    results = []
    created_ids = []
    for row in rows:
        number = int(row.get("row", 0))
        if number in done:
            results.append(done[number].result)
            continue
        result = _one_row(ops, import_id, number, row)
        if result["outcome"] == "created":
            created_ids.append(result["contact_id"])
        version = None
        if result["contact_id"] and result["outcome"] != "failed":
            version = session.scalar(sa.select(Contact.version).where(Contact.id == result["contact_id"]))
        session.add(ImportRow(import_id=import_id, row=number, contact_id=result["contact_id"],
                              outcome=result["outcome"], result=result, version_after=version))
        session.flush()
        results.append(result)
    if created_ids:
        ops.emit("contacts_imported", {"import_id": import_id, "contact_ids": created_ids, "created": True})
    invalidate_kpis()
    return results


def _one_row(ops: ContactOps, import_id: str, number: int, row: dict[str, Any]) -> dict[str, Any]:
    action = row.get("action")
    contact_fields, form = _split_form(dict(row.get("fields") or {}))
    base = {"row": number, "contact_id": row.get("contact_id"), "outcome": "failed", "changes": {},
            "conflicts": {}, "error": None}
    if action == "merge":
        target = ops.session.scalar(sa.select(Contact).where(Contact.id == str(row.get("contact_id") or "")))
        if target is not None and not rules.can_write_contact(ops.caller, target.owner_id):
            # audited in the batch's transaction: a denial must not roll back the rows before it
            audit.append(ops.session, ops.caller, "denied", "contact", target.id,
                         details={"attempted": "import merge", "import_id": import_id, "row": number})
            return {**base, "error": "you may only merge into contacts you own"}
    try:
        with ops.session.begin_nested():
            if action == "create":
                created = ops.create(contact_fields, source="import", import_id=import_id, form=form,
                                     owner_id=row.get("owner_id"), audit_action="import_create")
                changes = {k: {"before": None, "after": created.get(k)} for k in contact_fields
                           if created.get(k) not in (None, "", [], {})}
                return {**base, "contact_id": created["id"], "outcome": "created", "changes": changes}
            if action == "merge":
                return {**base, **_merge_row(ops, import_id, str(row.get("contact_id") or ""), contact_fields,
                                             form)}
            return {**base, "error": "action must be create or merge"}
    except CrmError as exc:
        return {**base, "error": _error_text(exc)}


def _merge_row(ops: ContactOps, import_id: str, contact_id: str, fields: dict[str, Any],
               form: dict[str, Any]) -> dict[str, Any]:
    contact = ops.load(contact_id, lock=True)
    incoming = rules.clean_contact({k: val for k, val in fields.items() if k != "owner_id"}, partial=True)
    form_tags = rules.initial_tags({**form, "position": incoming.get("position")}) if form else []
    if form_tags:
        incoming["tags"] = rules.merge_tags(incoming.get("tags") or [], form_tags)
    before = ops.to_api(contact)
    updates, conflicts = rules.import_merge(before, incoming)
    if "email" in updates:
        updates.pop("email")
    old_tags = list(contact.tags or [])
    changes = {k: {"before": before.get(k), "after": val} for k, val in updates.items()}
    if updates:
        ops.apply_values(contact, updates)
        ops.touch(contact)
        ops.tag_activity(contact, old_tags)
        add_activity(ops.session, contact, "import_merged", "Updated by import: " + ", ".join(sorted(updates)),
                     {"import_id": import_id, "changes": changes}, ops.caller)
        ops.snapshot_event("contact_updated", contact, sorted(updates))
        audit.append(ops.session, ops.caller, "import_merge", "contact", contact.id,
                     {k: c["before"] for k, c in changes.items()}, {k: c["after"] for k, c in changes.items()},
                     {"import_id": import_id})
    return {"contact_id": contact.id, "outcome": "merged", "changes": changes, "conflicts": conflicts}


def undo_import(ops: ContactOps, import_id: str) -> dict[str, Any]:
    """Remove what the import created and restore what it merged, unless someone changed it since (I8)."""
    if ops.caller.role not in (ADMIN, MARKETING, SALES, SYSTEM):
        raise Forbidden(f"role '{ops.caller.role}' may not undo imports", {"role": ops.caller.role})
    session = ops.session
    rows = list(session.scalars(sa.select(ImportRow).where(ImportRow.import_id == import_id,
                                                            ImportRow.undone.is_(False),
                                                            ImportRow.outcome.in_(("created", "merged")))
                                .order_by(ImportRow.row)))
    removed, restored, kept = [], [], []
    for item in rows:
        contact = session.scalar(sa.select(Contact).where(Contact.id == item.contact_id).with_for_update())
        item.undone = True
        if contact is None:
            kept.append({"contact_id": item.contact_id, "reason": "no longer exists"})
            continue
        if contact.version != item.version_after:
            kept.append({"contact_id": contact.id, "reason": "changed since the import"})
            continue
        if not rules.can_write_contact(ops.caller, contact.owner_id):
            kept.append({"contact_id": contact.id, "reason": "not yours to change"})
            continue
        if item.outcome == "created":
            before = ops.to_api(contact)
            session.delete(contact)
            session.flush()
            ops.emit("contact_deleted", {"contact_id": before["id"], "actor_id": ops.actor_id,
                                         "email": before["email"]})
            audit.append(session, ops.caller, "import_undo_remove", "contact", before["id"], before, None,
                         {"import_id": import_id})
            removed.append(before["id"])
        else:
            changes = item.result.get("changes") or {}
            restore = {k: c["before"] for k, c in changes.items()}
            old_tags = list(contact.tags or [])
            ops.apply_values(contact, {k: (val if val is not None else ([] if k in ("emails", "phones", "tags") else
                                                                  ({} if k in ("address", "social", "custom_fields")
                                                                   else None)))
                                 for k, val in restore.items()})
            ops.touch(contact)
            ops.tag_activity(contact, old_tags)
            add_activity(session, contact, "import_undone", "Import undone: values restored",
                         {"import_id": import_id, "restored": restore}, ops.caller)
            ops.snapshot_event("contact_updated", contact, sorted(restore))
            audit.append(session, ops.caller, "import_undo_restore", "contact", contact.id,
                         {k: c["after"] for k, c in changes.items()}, restore, {"import_id": import_id})
            restored.append(contact.id)
    invalidate_kpis()
    return {"removed": removed, "restored": restored, "kept": kept}


def apply_form_tags(ops: ContactOps, contact_id: str, fields: dict[str, Any]) -> bool:
    """Initial tags from form answers of an imported row (seed 000 "Tag Management")."""
    contact = ops.session.scalar(sa.select(Contact).where(Contact.id == str(contact_id)).with_for_update())
    if contact is None:
        return False
    tags = rules.initial_tags({**fields, "position": fields.get("position") or contact.position})
    merged = rules.merge_tags(list(contact.tags or []), tags)[:20]
    if merged == list(contact.tags or []):
        return False
    old = list(contact.tags or [])
    ops.apply_values(contact, {"tags": merged})
    ops.touch(contact)
    ops.tag_activity(contact, old)
    ops.snapshot_event("contact_updated", contact, ["tags"])
    audit.append(ops.session, ops.caller, "form_tags", "contact", contact.id, {"tags": old}, {"tags": merged})
    return True


def system_upsert(ops: ContactOps, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Demo and benchmark loading (system only): upsert by email, may set server-owned history fields.

    Items carry contact fields plus optional ``score``, ``created_at``,
    ``last_contact_at``, ``last_activity_at`` and ``notes_list`` (author
    note texts); everything else goes through the normal validation.
    """
    if ops.caller.role != SYSTEM:
        raise Forbidden("only the system loads seed data", {"role": ops.caller.role})
    out = []
    for item in items:
        item = dict(item)
        server = {k: item.pop(k) for k in ("score", "created_at", "last_contact_at", "last_activity_at")
                  if k in item}
        note_texts = item.pop("notes_list", [])
        email = rules.clean_contact({"email": item.get("email")}, partial=True)["email"]
        existing = ops.session.scalar(sa.select(Contact).where(Contact.email == email))
        if existing is None:
            created = ops.create(item, source="demo")
            contact = ops.load(created["id"], lock=True)
            for note in note_texts:
                add_note(ops.session, ops.caller, contact.id, note, ops.emit)
        else:
            contact = existing
            values = rules.clean_contact({k: val for k, val in item.items() if k != "email"}, partial=True)
            ops.apply_values(contact, values)
        for key, value in server.items():
            if key == "score":
                contact.score = max(0, min(100, int(value)))
            else:
                setattr(contact, key, datetime.fromisoformat(value) if isinstance(value, str) else value)
        if "created_at" in server:
            contact.updated_at = max(contact.created_at, contact.updated_at)
        ops.session.flush()
        out.append(ops.to_api(contact, datetime.now(UTC)))
    invalidate_kpis()
    return out
