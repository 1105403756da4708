"""GDPR erasure in segments (RELIABILITY G1, docs/gdpr.md).

The projection row is a copy of the contact's personal data and the
memberships say which lists a person is on: both are deleted. Segments
themselves (names, criteria) are not personal data and stay.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm_shared.db import Database
from crm_shared.gdpr import purge_reliability_rows
from crm_shared.reliability import EventOutbox, claim_event, reliable_handler
from segments import sync
from segments.models import ContactProjection, SegmentMember


def erase_contact(session: Session, contact_id: str) -> dict[str, int]:
    """Delete the contact's projection and memberships; returns rows deleted."""
    addresses = [a for a in session.scalars(sa.select(ContactProjection.email).where(
        ContactProjection.contact_id == contact_id)) if a]
    members = session.scalar(sa.select(sa.func.count()).where(SegmentMember.contact_id == contact_id)) or 0
    projected = len(addresses)
    sync.forget(session, [contact_id])  # the same removal a deleted contact gets (counts stay consistent)
    purged = purge_reliability_rows(session, addresses, contact_id)
    return {"memberships": members, "projection": projected, **{f"reliability_{k}": v for k, v in purged.items()}}


class ErasureMixin:
    """The ``contact_erased`` handler mixed into ``SegmentsService``."""

    db: Database
    outbox: EventOutbox

    @reliable_handler("contacts", "contact_erased")
    def on_contact_erased(self, envelope: dict[str, Any]) -> None:
        self.outbox.flush()  # publish waiting events first so the purge of published ones covers them
        if not claim_event(self.db, envelope["event_id"], "segments.on_contact_erased"):
            return
        erase_contact(self.db, str(envelope["data"]["contact_id"]))
        self.db.commit()
