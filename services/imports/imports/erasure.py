"""GDPR erasure in imports (RELIABILITY G1, docs/gdpr.md).

Import rows keep the cells as read and the validated fields, and the
uploaded file keeps the raw bytes: the rows of the erased address (found
through the contact id, then by every address that hashes to the erased key)
are deleted, the lines quoting the address are cut out of the stored file,
and duplicate-scan groups naming the contact are dropped. Job-level counts
and summaries stay: they hold no personal data.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm_shared.db import Database
from crm_shared.gdpr import email_key, mentions, normalize_email, purge_reliability_rows
from crm_shared.reliability import EventOutbox, claim_event, reliable_handler
from imports.models import DuplicateScan, Import, ImportFile, ImportRow


def strip_lines(data: bytes, encoding: str, needles: list[str]) -> bytes:
    """The file without the lines that quote a needle (case-insensitive)."""
    text = data.decode(encoding or "utf-8", errors="replace")
    lowered = [n.lower() for n in needles if n]
    kept = [line for line in text.splitlines(keepends=True) if not any(n in line.lower() for n in lowered)]
    return "".join(kept).encode(encoding or "utf-8", errors="replace")


def erase_contact(session: Session, contact_id: str, key: str) -> dict[str, int]:
    """Delete the import rows of the erased address, cut it from stored files and scans."""
    linked = sa.or_(ImportRow.contact_id == contact_id, ImportRow.existing_contact_id == contact_id)
    candidates = {normalize_email(e) for e in session.scalars(
        sa.select(ImportRow.email_key).where(linked, ImportRow.email_key.is_not(None)).distinct())}
    addresses = sorted(a for a in candidates if email_key(a) == key)
    match = [linked] + ([sa.func.lower(ImportRow.email_key).in_(addresses)] if addresses else [])
    import_ids = set(session.scalars(sa.select(ImportRow.import_id).where(sa.or_(*match)).distinct()))
    rows = session.execute(sa.delete(ImportRow).where(sa.or_(*match))
                           .execution_options(synchronize_session=False)).rowcount or 0
    files = 0
    if addresses:
        for file, encoding in session.execute(sa.select(ImportFile, Import.encoding).join(
                Import, Import.id == ImportFile.import_id).where(ImportFile.import_id.in_(import_ids))):
            stripped = strip_lines(file.data, encoding, addresses)
            if stripped != file.data:
                file.data, files = stripped, files + 1
    scans = 0
    for scan in session.scalars(sa.select(DuplicateScan).where(
            sa.cast(DuplicateScan.groups, sa.Text).ilike(f"%{contact_id}%"))):
        scan.groups = [g for g in scan.groups if not mentions(g, [contact_id, *addresses])]
        scans += 1
    purged = purge_reliability_rows(session, addresses, contact_id)
    session.flush()
    return {"rows": rows, "files": files, "scans": scans, **{f"reliability_{k}": v for k, v in purged.items()}}


class ErasureMixin:
    """The ``contact_erased`` handler mixed into ``ImportsService``."""

    db: Database
    outbox: EventOutbox

    @reliable_handler("contacts", "contact_erased")
    def on_contact_erased(self, envelope: dict[str, Any]) -> None:
        self.outbox.flush()  # publish waiting events first so the purge of published ones covers them
        if not claim_event(self.db, envelope["event_id"], "imports.on_contact_erased"):
            return
        data = envelope["data"]
        erase_contact(self.db, str(data["contact_id"]), str(data["email_hash"]))
        self.db.commit()
