"""The import job as a checkpointed state machine, run one short step at a time by Celery workers.

``advance`` takes the job row with ``FOR UPDATE SKIP LOCKED``, does one chunk
of the current phase, writes the chunk's results and the new cursor in the
same transaction, and commits. A worker killed at any point leaves either
the old cursor (the chunk runs again; every write is keyed by row) or the new
one; contacts.import_batch is idempotent on (import_id, row), so a commit
chunk repeated after a crash stores nothing twice (RELIABILITY I3, I6).

Phases: split -> validate -> match -> review (waits for the user)
-> commit -> finalize -> completed.
"""
from __future__ import annotations

import bisect
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm_shared.reliability import add_event
from imports import matching, reader, validation
from imports.models import Import, ImportFile, ImportRow
from imports.validation import FORM_FIELDS

log = logging.getLogger(__name__)

VALIDATE_CHUNK = int(os.environ.get("CRM_IMPORT_VALIDATE_CHUNK", "5000"))
MATCH_CHUNK = int(os.environ.get("CRM_IMPORT_MATCH_CHUNK", "2000"))
COMMIT_CHUNK = int(os.environ.get("CRM_IMPORT_COMMIT_CHUNK", "1000"))  # contacts.import_batch takes 1000 a call
ACTIVE_PHASES = ("split", "validate", "match", "commit", "finalize")

STAGES = {
    "uploaded": (2, "File selected: {file} is ready for import"),
    "split": (3, "Processing your import..."),
    "validate": (3, "Processing your import..."),
    "match": (3, "Scanning for duplicate contacts..."),
    "review": (4, "Review duplicate contacts"),
    "commit": (5, "Importing contacts..."),
    "finalize": (5, "Importing contacts..."),
    "completed": (5, "Import Complete!"),
}


class ContactsApi(Protocol):
    """What the pipeline needs from the contacts service (docs/DEVELOPING.md contracts)."""

    def match_candidates(self, keys: dict[str, list[str]]) -> list[dict[str, Any]]: ...

    def import_batch(self, import_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


def now() -> datetime:
    return datetime.now(UTC)


def set_phase(job: Import, phase: str, status: str | None = None) -> None:
    job.phase = phase
    job.cursor = 0
    if status:
        job.status = status
    step, stage = STAGES.get(phase, (job.step, job.stage))
    job.step, job.stage = step, stage.format(file=job.file_name)


def _progress(job: Import, phase: str, done: int) -> int:
    """True percentage of the rows handled: processing spans split+validate+match, commit its own bar."""
    total = max(job.total_rows, 1)
    if phase == "split":
        return 0
    if phase == "validate":
        return min(99, round(5 + 45 * done / total))
    if phase == "match":
        return min(99, round(50 + 50 * done / total))
    if phase == "commit":
        return min(99, round(100 * done / total))
    return 100


def _crash_point(name: str) -> None:
    """Test hook (RELIABILITY chaos tests): pause at a named point so a test can SIGKILL us there.

    CRM_IMPORT_PAUSE_AT names the point, CRM_IMPORT_PAUSE_FILE is created when
    reached (once: an existing file disables the pause on the restarted worker).
    """
    if os.environ.get("CRM_IMPORT_PAUSE_AT") != name:
        return
    marker = Path(os.environ.get("CRM_IMPORT_PAUSE_FILE", "/tmp/crm-import-pause"))
    if marker.exists():
        return
    marker.write_text(str(os.getpid()))
    if os.environ.get("CRM_IMPORT_PAUSE_KILL") == "1":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get("CRM_IMPORT_PAUSE_SECONDS", "60")))


def advance(session: Session, import_id: str, token: str | None, contacts: ContactsApi) -> str:
    """Run one step of the job; "continue" when more steps follow, else "idle"/"busy"/"stale"."""
    job = session.execute(sa.select(Import).where(Import.id == import_id)
                          .with_for_update(skip_locked=True)).scalar_one_or_none()
    if job is None:
        session.rollback()
        exists = session.execute(sa.select(Import.id).where(Import.id == import_id)).first()
        return "busy" if exists else "gone"
    if token is not None and job.run_token != token:
        session.rollback()
        return "stale"
    if job.phase not in ACTIVE_PHASES:
        session.rollback()
        return "idle"
    started = time.monotonic()
    phase = job.phase
    if phase == "split":
        _split(session, job)
    elif phase == "validate":
        _validate_chunk(session, job)
    elif phase == "match":
        _match_chunk(session, job, contacts)
    elif phase == "commit":
        _commit_chunk(session, job, contacts)
    elif phase == "finalize":
        _finalize(session, job)
    timings = dict(job.stage_seconds or {})
    timings[phase] = round(timings.get(phase, 0) + time.monotonic() - started, 3)
    job.stage_seconds = timings
    job.updated_at = now()
    session.commit()
    _crash_point(f"after_{phase}_commit")
    return "continue" if job.phase in ACTIVE_PHASES else "idle"


# -- phases -----------------------------------------------------------------
def _split(session: Session, job: Import) -> None:
    """Forget the rows of an earlier run (a restart, a new mapping): validation writes each row once, whole."""
    session.execute(sa.delete(ImportRow).where(ImportRow.import_id == job.id))
    job.total_rows = len(_parsed_file(session, job).rows)
    set_phase(job, "validate", "processing")
    job.progress = _progress(job, "validate", 0)


_parsed_cache: dict[str, reader.CsvFile] = {}   # the file this worker process is validating


def _parsed_file(session: Session, job: Import) -> reader.CsvFile:
    """The job's stored file, parsed once per worker process for all its validation chunks.

    Another worker (after a crash, or a second worker taking a step) parses it again: the file
    does not change, so every worker sees the same rows.
    """
    key = f"{job.id}:{job.content_hash}"
    parsed = _parsed_cache.get(key)
    if parsed is None:
        data = session.execute(sa.select(ImportFile.data).where(ImportFile.import_id == job.id)).scalar_one()
        _parsed_cache.clear()
        parsed = _parsed_cache[key] = reader.parse(bytes(data))
    return parsed


def _validate_chunk(session: Session, job: Import) -> None:
    """Validate the next chunk of the file's rows and INSERT them complete (cells, outcome, match keys).

    Rows are written once here rather than inserted raw and updated: updating 50,000 wide rows
    with six indexes cost four times the validation itself.
    """
    parsed = _parsed_file(session, job)
    start = bisect.bisect_right(parsed.rows, job.cursor, key=lambda parsed_row: parsed_row.row)
    chunk = parsed.rows[start:start + VALIDATE_CHUNK]
    stored = []
    for parsed_row in chunk:
        result = validation.validate_row(job.headers, parsed_row.cells, job.mapping)
        values: dict[str, Any] = {"import_id": job.id, "row": parsed_row.row, "line": parsed_row.line,
                                  "raw": parsed_row.cells, "valid": result.valid, "errors": result.errors or None,
                                  "fields": result.fields or None, "email_key": None, "phone_key": None,
                                  "name_key": None, "company_key": None, "fuzzy_key": None}
        if result.valid:
            record = matching.record_from(str(parsed_row.row), result.fields)
            values.update(email_key=record.email or None, phone_key=record.phone or None,
                          name_key=record.name[:200] or None, company_key=record.company[:200] or None,
                          fuzzy_key=record.fuzzy_key or None)
        stored.append(values)
    if stored:
        # Core, not the ORM: its bulk insert groups rows by which values are None, a statement per group
        session.execute(ImportRow.__table__.insert(), stored)   # multi-row INSERTs of 1,000 (insertmanyvalues)
    if chunk:
        job.cursor = chunk[-1].row
    if start + len(chunk) >= len(parsed.rows):
        _parsed_cache.clear()
        set_phase(job, "match")
        job.progress = _progress(job, "match", 0)
    else:
        job.progress = _progress(job, "validate", job.cursor)


def _contact_view(contact: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "first_name", "last_name", "email", "emails", "phone", "phones", "company", "position",
            "address", "tags", "owner_id", "stage", "type", "department", "industry", "updated_at")
    return {k: contact.get(k) for k in keep if k in contact}


def _match_chunk(session: Session, job: Import, contacts: ContactsApi) -> None:
    """Match a chunk of valid rows against existing contacts (one blocking RPC) and earlier rows."""
    rules = matching.rules_with_defaults(job.rules)
    rows = session.execute(sa.select(ImportRow.row, ImportRow.fields).where(
        ImportRow.import_id == job.id, ImportRow.row > job.cursor, ImportRow.valid.is_(True))
        .order_by(ImportRow.row).limit(MATCH_CHUNK)).all()
    if rows:
        records = [matching.record_from(str(n), fields) for n, fields in rows]
        existing_index = matching.BlockIndex()
        for contact in fetch_candidates(contacts, records):
            existing_index.add(matching.record_from(f"c:{contact['id']}", _contact_view(contact)))
        file_index = _earlier_rows_index(session, job, records, rows[-1][0])
        updates = []
        for record in records:
            number = int(record.ref)
            found = matching.best_match(record, existing_index.candidates(record), rules)
            earlier = [c for c in file_index.candidates(record) if int(c.ref) < number]
            in_file = matching.best_match(record, earlier, rules)
            update = {"b_row": number, "match_type": None, "confidence": None, "existing_contact_id": None,
                      "existing": None, "duplicate_of_row": None}
            if found and (in_file is None or found[2] >= in_file[2]):
                update.update(match_type=found[1], confidence=found[2], existing_contact_id=found[0].ref[2:],
                              existing=found[0].data)
            elif in_file:
                update.update(match_type=in_file[1], confidence=in_file[2], duplicate_of_row=int(in_file[0].ref),
                              existing=dict(in_file[0].data, row=int(in_file[0].ref)))
            else:
                continue   # validation wrote the row with no match: nothing to change
            updates.append(update)
        if updates:
            table = ImportRow.__table__
            stmt = table.update().where(table.c.import_id == job.id, table.c.row == sa.bindparam("b_row")).values(
                match_type=sa.bindparam("match_type"), confidence=sa.bindparam("confidence"),
                existing_contact_id=sa.bindparam("existing_contact_id"), existing=sa.bindparam("existing"),
                duplicate_of_row=sa.bindparam("duplicate_of_row"), decision=None)
            session.connection().execute(stmt, updates)
        job.cursor = rows[-1][0]
    if len(rows) < MATCH_CHUNK:
        set_phase(job, "review", "review")
        job.progress = 100
        job.last_activity_at = now()
        counts = duplicate_counts(session, job.id)
        job.message = (f"{sum(counts.values())} possible duplicates found" if counts
                       else "No duplicates found; ready to import")
        add_event(session, "imports", "import_progress", {"import_id": job.id, "status": job.status,
                                                          "step": job.step, "progress": job.progress})
    else:
        job.progress = _progress(job, "match", job.cursor)


CANDIDATE_LIMIT = 2000          # contacts.match_candidates answers at most this many contacts
LOOKUP_BATCH = 1000


def fetch_candidates(contacts: ContactsApi, records: list[matching.MatchRecord]) -> list[dict[str, Any]]:
    """Existing contacts sharing a lookup key with ``records``, in batches small enough not to be truncated.

    A batch whose answer reaches the service's limit is split in half and asked
    again, so a truncated answer never hides a match (down to a single row).
    """
    found: dict[str, dict[str, Any]] = {}
    pending = [records[i:i + LOOKUP_BATCH] for i in range(0, len(records), LOOKUP_BATCH)]
    while pending:
        batch = pending.pop()
        keys: dict[str, set[str]] = {"emails": set(), "phones": set(), "name_keys": set(), "company_keys": set()}
        for record in batch:
            for kind, values in matching.lookup_keys(record).items():
                keys[kind].update(values)
        if not any(keys.values()):
            continue
        answer = contacts.match_candidates({k: sorted(v) for k, v in keys.items()}) or []
        if len(answer) >= CANDIDATE_LIMIT and len(batch) > 1:
            middle = len(batch) // 2
            pending += [batch[:middle], batch[middle:]]
            continue
        if len(answer) >= CANDIDATE_LIMIT:
            log.warning("duplicate lookup truncated", extra={"row": batch[0].ref, "answer": len(answer)})
        for contact in answer:
            found[str(contact["id"])] = contact
    return list(found.values())


def _earlier_rows_index(session: Session, job: Import, records: list[matching.MatchRecord],
                        upto: int) -> matching.BlockIndex:
    """Rows of the same file sharing a blocking key with the chunk (SQL blocking on indexed keys)."""
    c = ImportRow
    conditions = []
    for column, values in ((c.email_key, {r.email for r in records if r.email}),
                           (c.phone_key, {r.phone for r in records if r.phone}),
                           (c.name_key, {r.name for r in records if r.name}),
                           (c.company_key, {r.company for r in records if r.company}),
                           (c.fuzzy_key, {r.fuzzy_key for r in records if r.fuzzy_key})):
        if values:
            conditions.append(column.in_(sorted(values)))
    index = matching.BlockIndex()
    if not conditions:
        return index
    found = session.execute(sa.select(c.row, c.fields).where(
        c.import_id == job.id, c.valid.is_(True), c.row < upto, sa.or_(*conditions))).all()
    for number, fields in found:
        index.add(matching.record_from(str(number), fields))
    for record in records:
        index.add(record)
    return index


def duplicate_counts(session: Session, import_id: str) -> dict[str, int]:
    rows = session.execute(sa.select(ImportRow.match_type, sa.func.count()).where(
        ImportRow.import_id == import_id, ImportRow.match_type.is_not(None)).group_by(ImportRow.match_type)).all()
    return {kind: count for kind, count in rows}


def _commit_chunk(session: Session, job: Import, contacts: ContactsApi) -> None:
    """Send the next rows to contacts.import_batch and record what happened to each.

    A row that duplicates an earlier row of the same chunk waits for a second
    call in the same step, once the contact that row created is known.
    """
    rows = session.execute(sa.select(ImportRow).where(
        ImportRow.import_id == job.id, ImportRow.row > job.cursor).order_by(ImportRow.row)
        .limit(COMMIT_CHUNK)).scalars().all()
    if not rows:
        set_phase(job, "finalize")
        return
    targets = _target_contacts(session, job.id, [r.duplicate_of_row for r in rows if r.duplicate_of_row])
    waiting: list[ImportRow] = []
    for row in rows:
        if not row.valid:
            row.outcome = "failed"
        elif row.match_type and row.decision != "merge":
            row.outcome = "skipped"
        else:
            waiting.append(row)
    for attempt in range(COMMIT_CHUNK + 1):
        if not waiting:
            break
        pending_targets = {r.row for r in waiting}
        ready = [r for r in waiting if r.duplicate_of_row not in pending_targets]
        if not ready:        # cannot happen (targets are earlier rows), but never spin
            ready = waiting
        sent = {r.row for r in ready}
        waiting = [r for r in waiting if r.row not in sent]
        _send(job, contacts, ready, targets)
        for row in ready:
            if row.contact_id:
                targets[row.row] = row.contact_id
            _announce_form_data(session, job, row)
        if attempt == 0:
            _crash_point("after_import_batch")
    job.cursor = rows[-1].row
    job.progress = _progress(job, "commit", job.cursor)


def _send(job: Import, contacts: ContactsApi, rows: list[ImportRow], targets: dict[int, str]) -> None:
    batch = []
    for row in rows:
        action, target = "create", None
        if row.match_type and row.existing_contact_id:
            action, target = "merge", row.existing_contact_id
        elif row.match_type and row.duplicate_of_row:
            target = targets.get(row.duplicate_of_row)
            action = "merge" if target else "create"
        item: dict[str, Any] = {"row": row.row, "action": action, "contact_id": target, "fields": row.fields}
        if job.user_role == "sales":
            item["owner_id"] = job.user_id
        batch.append(item)
    started = time.monotonic()
    results = {int(r["row"]): r for r in contacts.import_batch(job.id, batch) or []}
    log.info("import batch stored by contacts", extra={"import_id": job.id, "rows": len(batch),
                                                       "ms": round((time.monotonic() - started) * 1000, 1)})
    for row in rows:
        result = results.get(row.row)
        if result is None:
            row.outcome, row.error = "failed", "the contacts service did not report this row"
            continue
        outcome = result.get("outcome")
        row.outcome = outcome if outcome in ("created", "merged", "failed") else "failed"
        row.contact_id = result.get("contact_id")
        row.changes = result.get("changes") or None
        row.conflicts = result.get("conflicts") or None
        row.error = result.get("error")


def _announce_form_data(session: Session, job: Import, row: ImportRow) -> None:
    """Form answers of a stored row, for scoring's engagement (in the chunk's transaction, so once)."""
    if row.outcome not in ("created", "merged") or not row.contact_id:
        return
    form = {k: val for k, val in (row.fields or {}).items() if k in FORM_FIELDS and val not in (None, "")}
    if form:
        add_event(session, "imports", "form_data_imported",
                  {"contact_id": row.contact_id, "import_id": job.id, "fields": form})


def _target_contacts(session: Session, import_id: str, numbers: list[int | None]) -> dict[int, str]:
    wanted = sorted({n for n in numbers if n})
    if not wanted:
        return {}
    found = session.execute(sa.select(ImportRow.row, ImportRow.contact_id).where(
        ImportRow.import_id == import_id, ImportRow.row.in_(wanted), ImportRow.contact_id.is_not(None))).all()
    return {n: cid for n, cid in found}


def summarize(session: Session, import_id: str, total: int) -> dict[str, int]:
    """Seed 001 summary; imported + merged + skipped + failed == total (RELIABILITY I2)."""
    r = ImportRow
    outcome = sa.case((r.valid.is_(False), "failed"), else_=sa.func.coalesce(r.outcome, "pending"))
    counts = dict(session.execute(sa.select(outcome, sa.func.count()).where(r.import_id == import_id)
                                  .group_by(outcome)).all())
    duplicates = session.execute(sa.select(sa.func.count()).where(
        r.import_id == import_id, r.match_type.is_not(None))).scalar_one()
    return {"total": total, "imported": counts.get("created", 0), "duplicates": duplicates,
            "merged": counts.get("merged", 0), "skipped": counts.get("skipped", 0),
            "failed": counts.get("failed", 0)}


def _finalize(session: Session, job: Import) -> None:
    job.summary = summarize(session, job.id, job.total_rows)
    set_phase(job, "completed", "completed")
    job.progress = 100
    job.completed_at = now()
    job.message = (f"{job.summary['failed']} contacts couldn't be imported" if job.summary["failed"]
                   else "All contacts were imported")
    created = [cid for (cid,) in session.execute(sa.select(ImportRow.contact_id).where(
        ImportRow.import_id == job.id, ImportRow.outcome == "created"))]
    merged = [cid for (cid,) in session.execute(sa.select(ImportRow.contact_id).where(
        ImportRow.import_id == job.id, ImportRow.outcome == "merged")) if cid]
    add_event(session, "imports", "import_completed", {
        "import_id": job.id, "user_id": job.user_id, "file_name": job.file_name, "summary": job.summary,
        "created_contact_ids": [c for c in created if c], "merged_contact_ids": sorted(set(merged))})


def new_token() -> str:
    return str(uuid.uuid4())


def restart(job: Import, phase: str, status: str) -> str:
    """Begin ``phase`` with a fresh run token (older task messages for this job become no-ops)."""
    set_phase(job, phase, status)
    job.run_token = new_token()
    job.updated_at = now()
    return job.run_token


def run_until_idle(session_factory: Callable[[], Session], import_id: str, token: str | None,
                   contacts: ContactsApi, max_steps: int = 10_000) -> str:
    """Drive a job in-process (unit tests, the benchmark's single-process mode)."""
    state = "continue"
    for _ in range(max_steps):
        with session_factory() as session:
            state = advance(session, import_id, token, contacts)
        if state != "continue":
            break
    return state
