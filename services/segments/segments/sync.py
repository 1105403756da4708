"""Keeping the projection and the memberships in step with the other services.

These functions take the contacts RPC proxy as an argument, so they run the
same under nameko, in tests with a fake, and in the benchmark.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import eventlet
import sqlalchemy as sa
from sqlalchemy.orm import Session

from segments import membership, projection
from segments.models import Segment

log = logging.getLogger(__name__)
RPC_TIMEOUT = 10.0


def _call(proxy: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """An RPC to another service with a deadline (nameko's in-service proxy has none)."""
    with eventlet.Timeout(RPC_TIMEOUT):
        return getattr(proxy, method).call_async(*args, **kwargs).result()


def ensure_known(session: Session, contacts: Any, contact_ids: list[str]) -> set[str]:
    """The ids that are real contacts: known to the projection, or fetched now from the contacts service.

    A contact created a moment ago may not have reached us by event yet; its
    snapshot from ``contacts.get_contacts`` goes into the projection at once.
    """
    known = projection.known_ids(session, contact_ids)
    missing = [i for i in contact_ids if i not in known]
    if missing:
        try:
            found = _call(contacts, "get_contacts", missing) or []
        except Exception as exc:  # contacts down or not answering: the ids stay unconfirmed
            log.warning("could not confirm contacts", extra={"error": str(exc), "count": len(missing)})
            found = []
        found = [c for c in found if isinstance(c, dict) and str(c.get("id")) in set(missing)]
        projection.apply_snapshots(session, found)
        known |= {str(c["id"]) for c in found}
    return known


def forget(session: Session, contact_ids: Iterable[str]) -> list[str]:
    """A deleted contact leaves the projection and every segment."""
    ids = [str(i) for i in contact_ids]
    membership.remove_contact(session, ids)
    projection.delete_contacts(session, ids)
    return []


def merge(session: Session, data: dict[str, Any]) -> list[str]:
    """Merged duplicates: manual memberships move to the primary, the duplicates go, the primary is re-read."""
    primary = str(data["primary_id"])
    merged = [str(i) for i in data.get("merged_ids") or [] if str(i) != primary]
    membership.transfer_manual(session, merged, primary)
    forget(session, merged)
    snapshot = dict(data.get("contact") or {})
    snapshot.setdefault("id", primary)
    projection.apply_snapshots(session, [snapshot])
    return [primary]


def refresh_all(session: Session, min_age_seconds: float = 0.0) -> dict[str, Any]:
    """Refresh every dynamic segment in one pass over the projection.

    Segments another replica holds (row lock) or refreshed less than
    ``min_age_seconds`` ago are skipped, so replicas' timers do not repeat work.
    """
    started = time.monotonic()
    cutoff = datetime.now(UTC) - timedelta(seconds=min_age_seconds)
    segments = [s for s in session.scalars(
        sa.select(Segment).where(Segment.kind == "dynamic").order_by(Segment.created_at)
        .with_for_update(skip_locked=True))
        if not (min_age_seconds and s.refreshed_at and s.refreshed_at > cutoff)]
    results = membership.refresh_segments(session, segments) if segments else []
    session.commit()
    return {"segments": [r.as_dict() for r in results], "seconds": round(time.monotonic() - started, 3)}


def rebuild_projection(session: Session, contacts: Any, page_size: int = 1000) -> dict[str, Any]:
    """Re-read all contacts page by page (``contacts.iter_contacts``), then drop vanished ones and refresh."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    after_id, seen, pages = None, 0, 0
    while True:
        page = _call(contacts, "iter_contacts", after_id=after_id, limit=page_size)
        items = page.get("items") or []
        projection.apply_snapshots(session, items)
        session.commit()
        seen += len(items)
        pages += 1
        after_id = page.get("next_after_id")
        if not after_id or not items:
            break
    stale = projection.remove_stale(session, started_at)
    membership.remove_contact(session, stale)
    session.commit()
    refreshed = refresh_all(session)
    return {"contacts": seen, "pages": pages, "removed": len(stale), "segments": refreshed["segments"],
            "seconds": round(time.monotonic() - started, 3)}
