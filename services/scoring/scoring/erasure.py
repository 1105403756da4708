"""GDPR erasure in scoring (RELIABILITY G1, docs/gdpr.md).

Scores, history, engagement events, facts and rule runs are all about one
person; once the contact is erased none of them has a purpose, so every row
keyed by the contact id is deleted (nothing here is needed for suppression).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from crm_shared.db import Database
from crm_shared.gdpr import purge_reliability_rows
from crm_shared.reliability import EventOutbox, claim_event, reliable_handler
from scoring.models import (
    ContactFact,
    ContactProfile,
    DeletedContact,
    EngagementEvent,
    RuleContactState,
    RuleRun,
    Score,
    ScoreHistory,
)

MODELS = (EngagementEvent, ContactFact, ScoreHistory, RuleRun, RuleContactState, Score, ContactProfile)


def erase_contact(session: Session, contact_id: str) -> dict[str, int]:
    """Delete every scoring row of the contact; returns rows deleted per table.

    The contact id stays as a tombstone (``deleted_contacts``, an opaque id and a time, no personal
    data): an update event already in flight on another queue must not project the person again.
    """
    addresses = [a for a in session.scalars(sa.select(ContactProfile.email).where(
        ContactProfile.contact_id == contact_id)) if a]
    counts = {model.__tablename__: session.execute(
        sa.delete(model).where(model.contact_id == contact_id).execution_options(synchronize_session=False)
    ).rowcount or 0 for model in MODELS}
    session.execute(insert(DeletedContact).values(contact_id=contact_id).on_conflict_do_nothing())
    counts.update({f"reliability_{k}": v for k, v in
                   purge_reliability_rows(session, addresses, contact_id).items()})
    return counts


class ErasureMixin:
    """The ``contact_erased`` handler mixed into ``ScoringService``."""

    db: Database
    outbox: EventOutbox

    @reliable_handler("contacts", "contact_erased")
    def on_contact_erased(self, envelope: dict[str, Any]) -> None:
        self.outbox.flush()  # publish waiting events first so the purge of published ones covers them
        if not claim_event(self.db, envelope["event_id"], "scoring.on_contact_erased"):
            return
        erase_contact(self.db, str(envelope["data"]["contact_id"]))
        self.db.commit()
