"""Import operations behind the service's RPCs: upload, mapping, review, commit, cancel, undo, history.

Plain functions over a Session and the verified caller; the nameko entrypoints
only translate. Enqueueing the worker happens after the caller commits
(``enqueue`` callbacks), and a timer re-enqueues anything a lost message left
behind, so no state change waits on the broker.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm_shared import validators as v
from crm_shared.auth import Caller
from crm_shared.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from crm_shared.reliability import add_event
from imports import mapping as mapping_mod
from imports import matching, pipeline, reader
from imports.models import DuplicateScan, Import, ImportFile, ImportRow, MatchingRules

WRITERS = ("admin", "marketing", "sales")
UNDO_DAYS = 7
IDLE_MINUTES = 30
RETENTION_DAYS = 30
DEDUPE_HOURS = 24
ACTIONS = ("merge", "skip", "review")
OUTCOMES = ("create", "merge", "skip", "error")


# -- views ---------------------------------------------------------------------
def to_dict(job: Import) -> dict[str, Any]:
    return {
        "id": job.id, "status": job.status, "step": job.step, "stage": job.stage, "progress": job.progress,
        "message": job.message, "file_name": job.file_name, "source": job.source, "size_bytes": job.size_bytes,
        "encoding": job.encoding, "delimiter": job.delimiter, "headers": job.headers, "mapping": job.mapping,
        "missing_required": mapping_mod.missing_required(job.mapping), "total_rows": job.total_rows,
        "summary": job.summary or None, "user": {"id": job.user_id, "name": job.user_name, "role": job.user_role},
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "updated_at": job.updated_at.isoformat() if job.updated_at else None,
        "completed_at": job.completed_at.isoformat() if job.completed_at else None,
        "undone_at": job.undone_at.isoformat() if job.undone_at else None,
        "undo": job.undo_result, "stage_seconds": job.stage_seconds,
        "can_undo": bool(job.status == "completed" and job.undone_at is None and job.completed_at
                         and pipeline.now() - job.completed_at < timedelta(days=UNDO_DAYS)),
    }


def _load(session: Session, import_id: str, lock: bool = False) -> Import:
    query = sa.select(Import).where(Import.id == str(import_id))
    if lock:
        query = query.with_for_update()
    job = session.execute(query).scalar_one_or_none()
    if job is None:
        raise NotFound("import not found", {"import_id": import_id})
    return job


def _for_change(session: Session, caller: Caller, import_id: str) -> Import:
    caller.require(*WRITERS)
    job = _load(session, import_id, lock=True)
    if caller.role == "sales" and job.user_id != caller.user_id:
        raise Forbidden("you may only change your own imports", {"import_id": import_id})
    job.last_activity_at = pipeline.now()
    return job


def _require_status(job: Import, *statuses: str) -> None:
    if job.status not in statuses:
        raise Conflict(f"the import is {job.status}; this needs it to be {' or '.join(statuses)}",
                       {"status": job.status})


# -- matching rules ----------------------------------------------------------------
def get_rules(session: Session) -> dict[str, Any]:
    stored = session.get(MatchingRules, "default")
    return matching.rules_with_defaults(stored.rules if stored else None)


def set_rules(session: Session, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
    caller.require("admin", "marketing")
    rules = matching.validate_rules(data)
    stored = session.get(MatchingRules, "default")
    if stored is None:
        session.add(MatchingRules(id="default", rules=rules, updated_by=caller.user_id))
    else:
        stored.rules, stored.updated_by, stored.updated_at = rules, caller.user_id, pipeline.now()
    return rules


# -- upload ----------------------------------------------------------------------------
def create_import(session: Session, caller: Caller, file_name: str, content_b64: str,
                  mapping: dict[str, Any] | None, source: str = "csv") -> tuple[dict[str, Any], bool]:
    """Check the file (limits, CSV-ness) before storing anything; (import, should_start)."""
    caller.require(*WRITERS)
    try:
        data = base64.b64decode(content_b64, validate=True)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("file is not valid base64", {"fields": {"file": ["not valid base64"]}}) from exc
    if len(data) > reader.MAX_BYTES:
        raise PayloadTooLarge("the file is larger than 10 MB", {"fields": {"file": ["larger than 10 MB"]},
                                                                "limit_bytes": reader.MAX_BYTES})
    try:
        parsed = reader.parse(data)
    except reader.TooManyRows as exc:
        raise ValidationFailed(f"the file has more than {reader.MAX_ROWS} data rows",
                               {"fields": {"file": [f"more than {reader.MAX_ROWS} data rows"]},
                                "limit_rows": reader.MAX_ROWS}) from exc
    except reader.NotCsv as exc:
        raise ValidationFailed(f"the file is not a readable CSV: {exc.reason}",
                               {"fields": {"file": [exc.reason]}, "line": exc.line}) from exc
    digest = hashlib.sha256(data).hexdigest()
    earlier = session.execute(sa.select(Import).where(
        Import.content_hash == digest, Import.user_id == caller.user_id,
        Import.status.not_in(("cancelled", "failed")), Import.undone_at.is_(None),
        Import.created_at > pipeline.now() - timedelta(hours=DEDUPE_HOURS))
        .order_by(Import.created_at.desc()).limit(1)).scalar_one_or_none()
    if earlier is not None:
        result = to_dict(earlier)
        result["duplicate_upload"] = True
        result["message"] = "This file was already uploaded in the last 24 hours; showing that import"
        return result, False
    column_map = (mapping_mod.check_mapping(parsed.headers, mapping) if mapping
                  else mapping_mod.auto_map(parsed.headers))
    job = Import(user_id=caller.user_id, user_name=caller.name or caller.email, user_role=caller.role,
                 file_name=(file_name or "contacts.csv")[:255], source=source, content_hash=digest,
                 size_bytes=len(data), encoding=parsed.encoding, delimiter=parsed.delimiter,
                 headers=parsed.headers, mapping=column_map, rules=get_rules(session),
                 total_rows=len(parsed.rows), summary={}, stage_seconds={})
    session.add(job)
    session.flush()
    session.add(ImportFile(import_id=job.id, data=data))
    missing = mapping_mod.missing_required(column_map)
    if missing:
        pipeline.set_phase(job, "uploaded", "uploaded")
        job.message = f"Map the required columns before processing: {', '.join(missing)}"
        start = False
    else:
        pipeline.restart(job, "split", "processing")
        job.message = f"File Selected: {job.file_name} is ready for import"
        start = True
    if parsed.warnings:
        job.message += " (" + "; ".join(parsed.warnings[:5]) + ")"
    session.flush()
    return to_dict(job), start


def set_mapping(session: Session, caller: Caller, import_id: str, data: dict[str, Any]) -> tuple[dict, bool]:
    """Change the column mapping; processing (re)starts from validation with it."""
    job = _for_change(session, caller, import_id)
    _require_status(job, "uploaded", "processing", "review")
    column_map = mapping_mod.check_mapping(job.headers, data)
    missing = mapping_mod.missing_required(column_map)
    job.mapping = column_map
    if missing:
        pipeline.set_phase(job, "uploaded", "uploaded")
        job.run_token = pipeline.new_token()
        job.message = f"Map the required columns before processing: {', '.join(missing)}"
        return to_dict(job), False
    pipeline.restart(job, "split", "processing")   # the rows are validated again, from the stored file
    job.message = "Processing your import..."
    return to_dict(job), True


# -- review ------------------------------------------------------------------------------
def _incoming_view(row: ImportRow) -> dict[str, Any]:
    return dict(row.fields or {}, row=row.row)


def list_duplicates(session: Session, caller: Caller, import_id: str, match_type: str | None,
                    decision: str | None, page: int, per_page: int) -> dict[str, Any]:
    caller.require("admin", "marketing", "sales", "executive")
    job = _load(session, import_id)
    if match_type and match_type not in matching.MATCH_TYPES:
        raise ValidationFailed("unknown match type", {"fields": {"match_type": [f"one of {matching.MATCH_TYPES}"]}})
    query = sa.select(ImportRow).where(ImportRow.import_id == job.id, ImportRow.match_type.is_not(None))
    if match_type:
        query = query.where(ImportRow.match_type == match_type)
    if decision == "pending":
        query = query.where(ImportRow.decision.is_(None))
    elif decision:
        query = query.where(ImportRow.decision == decision)
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(ImportRow.confidence.desc(), ImportRow.row)
                           .offset((page - 1) * per_page).limit(per_page)).scalars().all()
    items = [{"id": str(r.row), "row": r.row, "line": r.line, "incoming": _incoming_view(r),
              "existing": r.existing, "existing_contact_id": r.existing_contact_id,
              "duplicate_of_row": r.duplicate_of_row, "source": "file" if r.duplicate_of_row else "crm",
              "match_type": r.match_type, "confidence": r.confidence, "decision": r.decision,
              "outcome": r.outcome} for r in rows]
    counts = pipeline.duplicate_counts(session, job.id)
    return {"items": items, "total": total, "page": page, "per_page": per_page, "counts": counts}


def resolve(session: Session, caller: Caller, import_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Decisions per pair (``decisions``) or for every pair of one match type (``match_type``, ``action``)."""
    job = _for_change(session, caller, import_id)
    _require_status(job, "review")
    r = ImportRow
    updated = 0
    if "decisions" in data:
        errors: dict[str, list[str]] = {}
        decisions = data["decisions"]
        if not isinstance(decisions, list) or not decisions:
            raise ValidationFailed("decisions must be a non-empty list", {"fields": {"decisions": ["required"]}})
        by_action: dict[str, list[int]] = {}
        for i, item in enumerate(decisions):
            action = item.get("action") if isinstance(item, dict) else None
            ident = str(item.get("id", "")) if isinstance(item, dict) else ""
            if action not in ACTIONS:
                errors[f"decisions.{i}.action"] = [f"must be one of {list(ACTIONS)}"]
            if not ident.isdigit():
                errors[f"decisions.{i}.id"] = ["must be a duplicate id"]
            if action in ACTIONS and ident.isdigit():
                by_action.setdefault(action, []).append(int(ident))
        if errors:
            raise ValidationFailed("invalid decisions", {"fields": errors})
        wanted = {n for ids in by_action.values() for n in ids}
        known = {n for (n,) in session.execute(sa.select(r.row).where(
            r.import_id == job.id, r.row.in_(wanted), r.match_type.is_not(None)))}
        if wanted - known:
            raise NotFound("no such duplicate in this import", {"ids": [str(n) for n in sorted(wanted - known)]})
        for action, ids in by_action.items():
            updated += session.execute(sa.update(r).where(r.import_id == job.id, r.row.in_(ids))
                                       .values(decision=action)).rowcount
    elif "match_type" in data or "action" in data:
        match_type, action = data.get("match_type"), data.get("action")
        errors = {}
        if match_type not in (*matching.MATCH_TYPES, "all"):
            errors["match_type"] = [f"must be one of {[*matching.MATCH_TYPES, 'all']}"]
        if action not in ACTIONS:
            errors["action"] = [f"must be one of {list(ACTIONS)}"]
        if errors:
            raise ValidationFailed("invalid bulk decision", {"fields": errors})
        query = sa.update(r).where(r.import_id == job.id, r.match_type.is_not(None))
        if match_type != "all":
            query = query.where(r.match_type == match_type)
        updated = session.execute(query.values(decision=action)).rowcount
    else:
        raise ValidationFailed("send decisions, or match_type and action",
                               {"fields": {"decisions": ["required without match_type/action"]}})
    pending = session.execute(sa.select(sa.func.count()).where(
        r.import_id == job.id, r.match_type.is_not(None), r.decision.is_(None))).scalar_one()
    return {"updated": updated, "pending": pending}


def _planned_outcome():
    r = ImportRow
    return sa.case(
        (r.valid.is_(False), "error"),
        (r.outcome == "created", "create"), (r.outcome == "merged", "merge"),
        (r.outcome == "skipped", "skip"), (r.outcome == "failed", "error"),
        (sa.and_(r.match_type.is_not(None), r.decision == "merge"), "merge"),
        (r.match_type.is_not(None), "skip"),
        else_="create")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def merge_preview(existing: dict[str, Any] | None, incoming: dict[str, Any]) -> tuple[dict, dict]:
    """What a merge will change and the conflicts it reports (the rule contacts.import_batch applies).

    Empty fields are filled; a different email or phone is added as a secondary
    one; tags, emails and phones are added to; address parts fill gaps. An
    existing non-empty value is never overwritten: it is reported as a conflict.
    """
    existing = existing or {}
    updates: dict[str, Any] = {}
    conflicts: dict[str, Any] = {}
    for name, value in incoming.items():
        if _empty(value) or name in ("row", "emails", "phones", "tags", "address", "social", "custom_fields"):
            continue
        current = existing.get(name)
        if _empty(current):
            updates[name] = value
        elif name in ("email", "phone"):
            others = list(existing.get(name + "s") or [])
            if value != current and value not in others:
                updates.setdefault(name + "s", others).append(value)
        elif current != value and name not in ("stage", "owner_id"):
            conflicts[name] = {"existing": current, "incoming": value}
    for name in ("emails", "phones"):
        extra = [x for x in incoming.get(name) or [] if x not in (existing.get(name) or [])
                 and x != existing.get(name[:-1])]
        if extra:
            updates[name] = list(updates.get(name, existing.get(name) or [])) + extra
    if incoming.get("tags"):
        have = list(existing.get("tags") or [])
        folded = {t.casefold() for t in have}
        added = [t for t in incoming["tags"] if t.casefold() not in folded]
        if added:
            updates["tags"] = (have + added)[: v.TAGS_MAX_COUNT]
    for name in ("address", "social"):
        current = dict(existing.get(name) or {})
        added = {k: x for k, x in (incoming.get(name) or {}).items() if _empty(current.get(k))}
        for k, x in (incoming.get(name) or {}).items():
            if not _empty(current.get(k)) and current.get(k) != x:
                conflicts[f"{name}.{k}"] = {"existing": current.get(k), "incoming": x}
        if added:
            updates[name] = {**current, **added}
    changes = {k: {"before": existing.get(k), "after": x} for k, x in updates.items()}
    return changes, conflicts


def list_rows(session: Session, caller: Caller, import_id: str, outcome: str | None, page: int,
              per_page: int) -> dict[str, Any]:
    """What commit will do (or did) to each row, with merge field changes, and the counts per outcome."""
    caller.require("admin", "marketing", "sales", "executive")
    job = _load(session, import_id)
    if outcome and outcome not in OUTCOMES:
        raise ValidationFailed("unknown outcome", {"fields": {"outcome": [f"one of {list(OUTCOMES)}"]}})
    planned = _planned_outcome().label("planned")
    counts = dict(session.execute(sa.select(planned, sa.func.count()).where(
        ImportRow.import_id == job.id).group_by(planned)).all())
    query = sa.select(ImportRow, planned).where(ImportRow.import_id == job.id)
    if outcome:
        query = query.where(_planned_outcome() == outcome)
    total = sum(counts.get(o, 0) for o in ([outcome] if outcome else OUTCOMES))
    found = session.execute(query.order_by(ImportRow.row).offset((page - 1) * per_page).limit(per_page)).all()
    items = []
    for row, plan in found:
        item: dict[str, Any] = {"row": row.row, "line": row.line, "outcome": plan, "fields": row.fields,
                                "errors": row.errors or [], "match_type": row.match_type,
                                "confidence": row.confidence, "decision": row.decision,
                                "contact_id": row.contact_id or row.existing_contact_id}
        if row.outcome:
            item["changes"], item["conflicts"], item["error"] = row.changes or {}, row.conflicts or {}, row.error
        elif plan == "merge":
            item["changes"], item["conflicts"] = merge_preview(row.existing, row.fields or {})
        if plan == "skip" and row.match_type:
            item["reason"] = ("flagged for manual review" if row.decision == "review"
                              else "duplicate skipped" if row.decision == "skip" else "duplicate not yet resolved")
        items.append(item)
    return {"items": items, "total": total, "page": page, "per_page": per_page,
            "counts": {o: counts.get(o, 0) for o in OUTCOMES}}


# -- commit, cancel, undo -------------------------------------------------------------------
def commit(session: Session, caller: Caller, import_id: str, unresolved: str | None) -> dict[str, Any]:
    job = _for_change(session, caller, import_id)
    _require_status(job, "review")
    if unresolved is not None and unresolved not in ACTIONS:
        raise ValidationFailed("invalid unresolved action", {"fields": {"unresolved": [f"one of {list(ACTIONS)}"]}})
    r = ImportRow
    pending = session.execute(sa.select(sa.func.count()).where(
        r.import_id == job.id, r.match_type.is_not(None), r.decision.is_(None))).scalar_one()
    if pending and unresolved is None:
        raise Conflict(f"{pending} duplicates are not resolved yet: resolve them or pass unresolved "
                       "(merge, skip or review)", {"pending": pending})
    if pending:
        session.execute(sa.update(r).where(r.import_id == job.id, r.match_type.is_not(None),
                                           r.decision.is_(None)).values(decision=unresolved))
    job.unresolved_action = unresolved
    pipeline.restart(job, "commit", "committing")
    job.progress = 0
    job.message = "Importing contacts..."
    return to_dict(job)


def cancel(session: Session, caller: Caller, import_id: str) -> dict[str, Any]:
    job = _for_change(session, caller, import_id)
    _require_status(job, "uploaded", "processing", "review")
    pipeline.restart(job, "cancelled", "cancelled")
    job.step, job.stage, job.message = job.step, "Import cancelled", "Cancelled before any contact was imported"
    return to_dict(job)


def check_undo(session: Session, caller: Caller, import_id: str) -> Import:
    job = _for_change(session, caller, import_id)
    _require_status(job, "completed")
    if job.undone_at is not None:
        raise Conflict("this import was already undone", {"undone_at": job.undone_at.isoformat()})
    if job.completed_at is None or pipeline.now() - job.completed_at > timedelta(days=UNDO_DAYS):
        raise Conflict(f"an import can be undone for {UNDO_DAYS} days only", {"completed_at": str(job.completed_at)})
    return job


def record_undo(session: Session, caller: Caller, job: Import, result: dict[str, Any]) -> dict[str, Any]:
    job.undone_at = pipeline.now()
    job.undo_result = {"removed": result.get("removed", []), "restored": result.get("restored", []),
                       "kept": result.get("kept", []), "by": caller.user_id}
    job.message = (f"Undone: {len(job.undo_result['removed'])} removed, {len(job.undo_result['restored'])} "
                   f"restored, {len(job.undo_result['kept'])} kept")
    add_event(session, "imports", "import_undone", {
        "import_id": job.id, "user_id": caller.user_id,
        "removed_contact_ids": [str(x) for x in job.undo_result["removed"]],
        "restored_contact_ids": [str(x) for x in job.undo_result["restored"]]})
    return to_dict(job)


# -- reads --------------------------------------------------------------------------------
def get_import(session: Session, caller: Caller, import_id: str) -> dict[str, Any]:
    caller.require("admin", "marketing", "sales", "executive")
    return to_dict(_load(session, import_id))


def history(session: Session, caller: Caller, page: int, per_page: int, mine: bool = False) -> dict[str, Any]:
    caller.require("admin", "marketing", "sales", "executive")
    query = sa.select(Import)
    if mine:
        query = query.where(Import.user_id == caller.user_id)
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    jobs = session.execute(query.order_by(Import.created_at.desc()).offset((page - 1) * per_page)
                           .limit(per_page)).scalars().all()
    items = [{k: d[k] for k in ("id", "status", "file_name", "source", "user", "created_at", "completed_at",
                                "summary", "undone_at", "total_rows", "can_undo")} for d in map(to_dict, jobs)]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


ERRORS_HEADER = ["row", "line", "field", "value", "error type", "category", "message", "suggested fix"]


def errors_csv(session: Session, caller: Caller, import_id: str) -> str:
    """errors.csv: invalid rows, failed rows, skipped duplicates and merge conflicts (seed 001 categories)."""
    caller.require("admin", "marketing", "sales", "executive")
    job = _load(session, import_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ERRORS_HEADER)
    cell = v.neutralize_spreadsheet_cell
    rows = session.execute(sa.select(ImportRow).where(
        ImportRow.import_id == job.id,
        sa.or_(ImportRow.valid.is_(False), ImportRow.outcome.in_(("failed", "skipped")),
               ImportRow.conflicts.is_not(None))).order_by(ImportRow.row)).scalars()
    for row in rows:
        lines: list[tuple[str, str, str, str, str]] = []
        for err in row.errors or []:
            lines.append((err["field"], err["value"], err["type"], err["message"], err.get("fix", "")))
        if row.valid and row.outcome == "failed":
            lines.append(("(row)", (row.fields or {}).get("email", ""), v.FAILED,
                          f"Failed to import: {row.error or 'unknown error'}", "Correct the row and re-import it"))
        if row.outcome == "skipped" and row.match_type:
            target = (f"row {row.duplicate_of_row} of this file" if row.duplicate_of_row
                      else f"existing contact {row.existing_contact_id}")
            kind = v.SKIPPED if row.decision in ("skip", "review") else v.DUPLICATE_RECORD
            reason = "flagged for manual review" if row.decision == "review" else "skipped"
            lines.append((row.match_type, (row.fields or {}).get("email", ""), kind,
                          f"Duplicate detected ({row.match_type} match, {row.confidence}%) of {target}: {reason}",
                          "Merge it from the duplicates view, or edit and re-import it"))
        for name, conflict in (row.conflicts or {}).items():
            lines.append((name, str(conflict.get("incoming", "")), v.MERGE_CONFLICT,
                          f"Conflict during merge: kept '{conflict.get('existing')}', file had "
                          f"'{conflict.get('incoming')}'", "Update the contact by hand if the file is right"))
        for field_name, value, kind, message, fix in lines:
            writer.writerow([row.row, row.line, cell(field_name), cell(value), kind,
                             v.ERROR_CATEGORY_LABELS.get(kind, kind), cell(message), cell(fix)])
    return out.getvalue()


# -- housekeeping (service timer) -----------------------------------------------------------
def housekeeping(session: Session, stall_seconds: float) -> list[tuple[str, str]]:
    """Time out idle imports, drop expired ones, and hand back stalled jobs to resume: [(id, token)]."""
    moment = pipeline.now()
    idle = session.execute(sa.select(Import).where(
        Import.status.in_(("uploaded", "review")),
        Import.last_activity_at < moment - timedelta(minutes=IDLE_MINUTES)).with_for_update(skip_locked=True)
    ).scalars().all()
    for job in idle:
        pipeline.restart(job, "cancelled", "cancelled")
        job.stage, job.message = "Import timed out", f"Timed out after {IDLE_MINUTES} minutes of inactivity"
    session.execute(sa.delete(Import).where(Import.created_at < moment - timedelta(days=RETENTION_DAYS)))
    session.execute(sa.delete(DuplicateScan).where(DuplicateScan.started_at < moment - timedelta(days=1)))
    stalled = session.execute(sa.select(Import).where(
        Import.phase.in_(pipeline.ACTIVE_PHASES),
        Import.updated_at < moment - timedelta(seconds=stall_seconds)).with_for_update(skip_locked=True)
    ).scalars().all()
    resumed = []
    for job in stalled:
        job.run_token = pipeline.new_token()
        job.updated_at = moment
        resumed.append((job.id, job.run_token))
    return resumed
