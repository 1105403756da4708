"""Database-wide duplicate detection (seed 000 §4.1) with the import matcher.

Contacts are read page by page through contacts.iter_contacts and blocked by
the same keys imports use; groups of matching contacts come back with their
strongest match type and confidence. Merging goes through contacts' merge.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm_shared.auth import Caller
from crm_shared.errors import ValidationFailed
from imports import matching, pipeline
from imports.models import DuplicateScan, MatchingRules

SCAN_LIMIT = int(os.environ.get("CRM_DUPLICATE_SCAN_LIMIT", "200000"))
FRESH_SECONDS = 300


class ContactsPager(Protocol):
    def iter_contacts(self, after_id: str | None, limit: int) -> dict[str, Any]: ...


def _contacts(pager: ContactsPager, limit: int) -> Iterator[dict[str, Any]]:
    after, seen = None, 0
    while seen < limit:
        page = pager.iter_contacts(after, 1000)
        for contact in page.get("items", []):
            seen += 1
            yield contact
        after = page.get("next_after_id")
        if not after:
            return


def run_scan(session: Session, scan_id: str, pager: ContactsPager) -> int:
    scan = session.get(DuplicateScan, scan_id)
    if scan is None or scan.status != "scanning":
        return 0
    stored = session.get(MatchingRules, "default")
    rules = matching.rules_with_defaults(stored.rules if stored else None)
    session.commit()
    records = (matching.record_from(str(c["id"]), c) for c in _contacts(pager, SCAN_LIMIT))
    counted: list[int] = [0]

    def counting() -> Iterator[matching.MatchRecord]:
        for record in records:
            counted[0] += 1
            yield record

    groups = matching.find_groups(counting(), rules)
    scan = session.get(DuplicateScan, scan_id, with_for_update=True)
    scan.status, scan.groups, scan.scanned, scan.finished_at = "completed", groups, counted[0], pipeline.now()
    session.commit()
    return len(groups)


def latest(session: Session, caller: Caller, refresh: bool) -> tuple[dict[str, Any], str | None]:
    """The newest scan; starts a new one when asked or when the last is stale. (view, scan_to_start)."""
    caller.require("admin", "marketing", "sales", "executive")
    newest = session.execute(sa.select(DuplicateScan).order_by(DuplicateScan.started_at.desc()).limit(1)
                             ).scalar_one_or_none()
    start = None
    moment = pipeline.now()
    running = newest is not None and newest.status == "scanning" and \
        (moment - newest.started_at).total_seconds() < 600
    stale = newest is None or (newest.finished_at is not None
                               and (moment - newest.finished_at).total_seconds() > FRESH_SECONDS)
    if not running and (refresh or stale):
        newest = DuplicateScan(status="scanning", requested_by=caller.user_id, groups=[])
        session.add(newest)
        session.flush()
        start = newest.id
    return newest, start


def view(session: Session, scan: DuplicateScan | None, match_type: str | None, page: int,
         per_page: int) -> dict[str, Any]:
    if match_type and match_type not in matching.MATCH_TYPES:
        raise ValidationFailed("unknown match type", {"fields": {"match_type": [f"one of {matching.MATCH_TYPES}"]}})
    completed = scan
    if scan is not None and scan.status != "completed":
        completed = session.execute(sa.select(DuplicateScan).where(DuplicateScan.status == "completed")
                                    .order_by(DuplicateScan.started_at.desc()).limit(1)).scalar_one_or_none()
    groups = list(completed.groups) if completed else []
    if match_type:
        groups = [g for g in groups if g["match_type"] == match_type]
    items = groups[(page - 1) * per_page: page * per_page]
    for i, group in enumerate(items, start=(page - 1) * per_page + 1):
        group["id"] = f"{completed.id}:{i}"
    return {"items": items, "total": len(groups), "page": page, "per_page": per_page,
            "scan": {"id": scan.id if scan else None, "status": scan.status if scan else "none",
                     "started_at": scan.started_at.isoformat() if scan and scan.started_at else None,
                     "finished_at": completed.finished_at.isoformat() if completed and completed.finished_at
                     else None, "scanned": completed.scanned if completed else 0}}
