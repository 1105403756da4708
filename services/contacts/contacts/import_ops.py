"""The contacts side of CSV imports: batch create/merge, undo, form tags, and the system loader.

``import_batch`` is idempotent on (import_id, row): a redelivered batch
returns the stored outcomes and writes nothing. A batch is stored
set-based (validation per row in Python, then a few multi-row statements);
a row that fails validation fails alone, and a database error falls back to
one savepoint per row.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from contacts import audit, rules
from contacts.activity import add_activity
from contacts.models import Activity, Contact, ImportRow, Note, StageChange
from contacts.notes import add_note
from contacts.operations import ContactOps, email_conflict, invalidate_kpis
from crm_shared.auth import ADMIN, MARKETING, SALES, SYSTEM
from crm_shared.errors import CrmError, Forbidden, ValidationFailed
from crm_shared.events import BATCH_EVENT_LIMIT

log = logging.getLogger(__name__)

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
    """Store one batch of import rows set-based: a few statements a batch, not a dozen a row.

    New contacts go in with one multi-row INSERT (plus one for their timeline,
    stage history, notes, events and audit records); merges lock their targets
    in one query. A database error in either set (which validation should
    prevent) rolls back that set's savepoint and redoes it a row at a time,
    each row in its own savepoint, so one bad row still fails alone.
    """
    if ops.caller.role not in (ADMIN, MARKETING, SALES, SYSTEM):
        raise Forbidden(f"role '{ops.caller.role}' may not import contacts", {"role": ops.caller.role})
    if not import_id or not isinstance(rows, list):
        raise ValidationFailed("Validation failed", {"fields": {"rows": ["give an import id and a list of rows"]}})
    if len(rows) > MAX_BATCH:
        raise ValidationFailed("Validation failed", {"fields": {"rows": [f"at most {MAX_BATCH} rows a batch"]}})
    session = ops.session
    started = time.monotonic()
    numbers = [int(r.get("row", 0)) for r in rows]
    done = {r.row: r.result for r in session.scalars(sa.select(ImportRow).where(
        ImportRow.import_id == import_id, ImportRow.row.in_(numbers)))}
    pending: dict[int, dict[str, Any]] = {}
    for number, row in zip(numbers, rows, strict=True):
        if number not in done:
            pending.setdefault(number, row)
    outcomes: dict[int, tuple[dict[str, Any], int | None]] = {}
    creates = [(n, r) for n, r in pending.items() if r.get("action") == "create"]
    others = [(n, r) for n, r in pending.items() if r.get("action") != "create"]
    outcomes.update(_in_savepoint(ops, import_id, creates, _create_rows))
    outcomes.update(_in_savepoint(ops, import_id, others, _merge_rows))
    if outcomes:
        session.execute(sa.insert(ImportRow.__table__), [
            {"import_id": import_id, "row": number, "contact_id": result["contact_id"],
             "outcome": result["outcome"], "result": result, "version_after": version}
            for number, (result, version) in sorted(outcomes.items())])
    results = [done[n] if n in done else outcomes[n][0] for n in numbers]
    created_ids = [outcomes[n][0]["contact_id"] for n in sorted(outcomes) if outcomes[n][0]["outcome"] == "created"]
    if created_ids:
        ops.emit("contacts_imported", {"import_id": import_id, "contact_ids": created_ids, "created": True})
    invalidate_kpis()
    log.info("import batch stored", extra={
        "import_id": import_id, "rows": len(rows), "already_stored": len(done), "contacts_created": len(created_ids),
        "ms": round((time.monotonic() - started) * 1000)})
    return results


Outcomes = dict[int, tuple[dict[str, Any], int | None]]
RowSet = list[tuple[int, dict[str, Any]]]


def _in_savepoint(ops: ContactOps, import_id: str, items: RowSet,
                  store: Callable[[ContactOps, str, RowSet], Outcomes]) -> Outcomes:
    if not items:
        return {}
    chain_head = audit.head(ops.session)   # the lock is taken outside the savepoint, so it outlives a rollback
    try:
        with ops.session.begin_nested():
            return store(ops, import_id, items)
    except DBAPIError as exc:
        log.warning("set-based import rows failed, storing them one at a time",
                    extra={"import_id": import_id, "rows": len(items), "error": str(exc.orig)[:300]})
        audit.rewind(ops.session, chain_head)
        ops.forget_batch_state()
        return {number: _one_row(ops, import_id, number, row) for number, row in items}


def _base(number: int, row: dict[str, Any]) -> dict[str, Any]:
    return {"row": number, "contact_id": row.get("contact_id"), "outcome": "failed", "changes": {},
            "conflicts": {}, "error": None}


@dataclass
class _NewRow:
    number: int
    row: dict[str, Any]
    fields: dict[str, Any]
    values: dict[str, Any]
    owner: str | None
    form_tags: list[str]
    contact: Contact | None = None
    snapshot: dict[str, Any] | None = None
    extras: dict[str, Any] | None = None


def _create_rows(ops: ContactOps, import_id: str, items: RowSet) -> Outcomes:
    """Validate every new row in Python, then insert the good ones and what goes with them in a few statements."""
    session = ops.session
    out: Outcomes = {}
    prepared: list[_NewRow] = []
    for number, row in items:
        contact_fields, form = _split_form(dict(row.get("fields") or {}))
        try:
            values, owner, form_tags = ops.prepare_new(contact_fields, form, row.get("owner_id"))
        except CrmError as exc:
            out[number] = ({**_base(number, row), "error": _error_text(exc)}, None)
            continue
        prepared.append(_NewRow(number, row, contact_fields, values, owner, form_tags))
    emails = {p.values["email"] for p in prepared}
    taken = dict(session.execute(sa.select(Contact.email, Contact.id).where(Contact.email.in_(emails))).all()) \
        if emails else {}
    fresh: list[_NewRow] = []
    for item in prepared:
        email = item.values["email"]
        if email in taken:
            out[item.number] = ({**_base(item.number, item.row),
                                 "error": _error_text(email_conflict(taken[email] or ""))}, None)
            continue
        taken[email] = None     # a later row of this batch with the same email is a conflict
        fresh.append(item)
    if not fresh:
        return out
    now = datetime.now(UTC)
    ops.prefetch_companies([item.values.get("company") for item in fresh])
    ops.collect_search_terms()
    for item in fresh:
        item.contact = ops.build_new(item.values, item.owner, "import", import_id, now)
    ops.flush_search_terms()
    table = Contact.__table__
    columns = [c.key for c in table.columns]
    inserted = set(session.execute(
        insert(table).on_conflict_do_nothing(index_elements=[table.c.email]).returning(table.c.id),
        [{k: getattr(item.contact, k) for k in columns} for item in fresh]).scalars())
    stored: list[_NewRow] = []
    for item in fresh:
        if item.contact.id in inserted:
            stored.append(item)
            continue
        # taken between our check and the insert (a concurrent add): the same 409 as a single add
        other = session.scalar(sa.select(Contact.id).where(Contact.email == item.contact.email))
        out[item.number] = ({**_base(item.number, item.row), "error": _error_text(email_conflict(other or ""))},
                            None)
    if not stored:
        return out
    for item in stored:
        item.extras = ops.creation_rows(item.contact, item.form_tags, "import", import_id, now)
        item.snapshot = ops.to_api(item.contact, now)
    notes = [item.extras["note"] for item in stored if item.extras["note"]]
    if notes:
        session.execute(sa.insert(Note.__table__), notes)
    session.execute(sa.insert(Activity.__table__), [item.extras["activity"] for item in stored])
    session.execute(sa.insert(StageChange.__table__), [item.extras["stage"] for item in stored])
    created = [ops.snapshot_data(item.contact.id, item.snapshot, []) for item in stored]
    _announce(ops, "contacts_created", created, import_id)
    audit.append_many(session, ops.caller, [
        {"action": "import_create", "entity": "contact", "entity_id": item.contact.id, "after": item.snapshot,
         "details": item.extras["audit_details"]} for item in stored])
    for item in stored:
        changes = {k: {"before": None, "after": item.snapshot.get(k)} for k in item.fields
                   if item.snapshot.get(k) not in (None, "", [], {})}
        out[item.number] = ({**_base(item.number, item.row), "contact_id": item.contact.id, "outcome": "created",
                             "changes": changes}, item.contact.version)
    return out


def _announce(ops: ContactOps, event_type: str, snapshots: list[dict[str, Any]], import_id: str) -> None:
    """A batch event (``contacts_created``/``contacts_updated``) per chunk of snapshots, not one event a contact."""
    for start in range(0, len(snapshots), BATCH_EVENT_LIMIT):
        ops.emit(event_type, {"contacts": snapshots[start:start + BATCH_EVENT_LIMIT], "import_id": import_id})


def _merge_rows(ops: ContactOps, import_id: str, items: RowSet) -> Outcomes:
    """Merge rows into their (locked) contacts; each row's checks run before it writes anything."""
    session = ops.session
    targets = {str(r.get("contact_id") or "") for _, r in items if r.get("action") == "merge"}
    locked = {c.id: c for c in session.scalars(sa.select(Contact).where(Contact.id.in_(targets))
                                                  .order_by(Contact.id).with_for_update())} if targets else {}
    ops.prefetch_companies([(r.get("fields") or {}).get("company") for _, r in items])
    ops.collect_search_terms()
    events: list[tuple[str, dict[str, Any]]] = []
    merging = ops.buffered(events)
    out: Outcomes = {}
    for number, row in items:
        base = _base(number, row)
        contact = locked.get(str(row.get("contact_id") or ""))
        if row.get("action") != "merge":
            out[number] = ({**base, "error": "action must be create or merge"}, None)
        elif contact is None:
            out[number] = ({**base, "error": "contact not found"}, None)
        elif not rules.can_write_contact(ops.caller, contact.owner_id):
            audit.append(session, ops.caller, "denied", "contact", contact.id,
                         details={"attempted": "import merge", "import_id": import_id, "row": number})
            out[number] = ({**base, "error": "you may only merge into contacts you own"}, None)
        else:
            contact_fields, form = _split_form(dict(row.get("fields") or {}))
            try:
                result = _merge_row(merging, import_id, contact, contact_fields, form)
            except CrmError as exc:
                out[number] = ({**base, "error": _error_text(exc)}, None)
                continue
            out[number] = ({**base, **result}, contact.version)
    ops.flush_search_terms()
    updated = [data for event_type, data in events if event_type == "contact_updated"]
    _announce(ops, "contacts_updated", updated, import_id)
    others = [event for event in events if event[0] != "contact_updated"]
    for event_type, group in groupby(others, key=lambda event: event[0]):
        ops.emit_many(event_type, [data for _, data in group])
    session.flush()
    return out


def _one_row(ops: ContactOps, import_id: str, number: int, row: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The slow path: one row in its own savepoint (after a set-based attempt hit a database error)."""
    action = row.get("action")
    contact_fields, form = _split_form(dict(row.get("fields") or {}))
    base = _base(number, row)
    if action == "merge":
        target = ops.session.scalar(sa.select(Contact).where(Contact.id == str(row.get("contact_id") or "")))
        if target is not None and not rules.can_write_contact(ops.caller, target.owner_id):
            # audited in the batch's transaction: a denial must not roll back the rows before it
            audit.append(ops.session, ops.caller, "denied", "contact", target.id,
                         details={"attempted": "import merge", "import_id": import_id, "row": number})
            return {**base, "error": "you may only merge into contacts you own"}, None
    chain_head = audit.head(ops.session)
    try:
        with ops.session.begin_nested():
            if action == "create":
                created = ops.create(contact_fields, source="import", import_id=import_id, form=form,
                                     owner_id=row.get("owner_id"), audit_action="import_create")
                changes = {k: {"before": None, "after": created.get(k)} for k in contact_fields
                           if created.get(k) not in (None, "", [], {})}
                return {**base, "contact_id": created["id"], "outcome": "created", "changes": changes}, 1
            if action == "merge":
                contact = ops.load(str(row.get("contact_id") or ""), lock=True)
                result = _merge_row(ops, import_id, contact, contact_fields, form)
                return {**base, **result}, contact.version
            return {**base, "error": "action must be create or merge"}, None
    except DBAPIError as exc:
        log.warning("import row failed in the database", extra={"import_id": import_id, "row": number,
                                                                "error": str(exc.orig)[:300]})
        audit.rewind(ops.session, chain_head)
        ops.forget_batch_state()
        return {**base, "error": "the database refused this row"}, None
    except CrmError as exc:
        audit.rewind(ops.session, chain_head)
        return {**base, "error": _error_text(exc)}, None


def _merge_row(ops: ContactOps, import_id: str, contact: Contact, fields: dict[str, Any],
               form: dict[str, Any]) -> dict[str, Any]:
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
