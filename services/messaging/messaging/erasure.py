"""GDPR erasure in messaging (RELIABILITY G1, docs/gdpr.md).

On ``contact_erased`` the contact's sent and received emails lose their
address and rendered content (rows stay so campaign and job counts stay
true), calls lose notes, participants and outcome, follow-ups their text,
pending work is stopped (``tracking.forget_contact``), consents keep only
the keyed hash as their address (the proof of a withdrawal survives), and
the suppression list keeps one row whose address is the keyed hash
(``crm_shared.gdpr.email_key``). ``sending.suppressed`` looks addresses up by
that key too, so a contact re-imported with the same address is refused;
``contact_created`` for such an address suppresses the new contact at once
(I7: an import cannot re-subscribe an erased address).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from crm_shared.db import Database
from crm_shared.gdpr import ERASED_TEXT, email_key, is_email_key, purge_reliability_rows
from crm_shared.reliability import EventOutbox, claim_event, reliable_handler
from messaging import tracking
from messaging.models import Call, Consent, Email, FollowUp, Suppression

Emit = Callable[[str, dict[str, Any]], None]


def linked_addresses(session: Session, contact_id: str, key: str) -> set[str]:
    """The plain addresses this database holds for the contact that hash to the erased key."""
    found: set[str] = set()
    for column, owner in ((Email.to_email, Email.contact_id), (Email.from_email, Email.contact_id),
                          (Suppression.email, Suppression.contact_id), (Consent.email, Consent.contact_id)):
        found |= {a for a in session.scalars(sa.select(column).where(owner == contact_id).distinct()) if a}
    return {a.lower() for a in found if not is_email_key(a) and email_key(a) == key}


def erase_contact(session: Session, contact_id: str, key: str) -> dict[str, int]:
    """Remove the contact's personal data from messaging; leave the keyed hash on the suppression list."""
    addresses = linked_addresses(session, contact_id, key)
    stopped = tracking.forget_contact(session, contact_id)
    mine_email = [Email.contact_id == contact_id]
    if addresses:
        mine_email += [sa.func.lower(Email.to_email).in_(addresses), sa.func.lower(Email.from_email).in_(addresses)]
    emails = session.execute(sa.update(Email).where(sa.or_(*mine_email)).values(
        to_email=None,
        from_email=sa.case((Email.direction == "inbound", None), else_=Email.from_email),
        subject=ERASED_TEXT, body="", links=[], error=None,
    ).execution_options(synchronize_session=False)).rowcount
    calls = session.execute(sa.update(Call).where(Call.contact_id == contact_id).values(
        notes="", participants=[], outcome=sa.case((Call.outcome == "", ""), else_=ERASED_TEXT),
    ).execution_options(synchronize_session=False)).rowcount
    follow_ups = session.execute(sa.update(FollowUp).where(FollowUp.contact_id == contact_id).values(
        title=ERASED_TEXT, description="").execution_options(synchronize_session=False)).rowcount
    consent_match = [Consent.contact_id == contact_id]
    if addresses:
        consent_match.append(sa.func.lower(Consent.email).in_(addresses))
    consents = session.execute(sa.update(Consent).where(sa.or_(*consent_match)).values(email=key)
                               .execution_options(synchronize_session=False)).rowcount
    suppression_match = [Suppression.contact_id == contact_id]
    if addresses:
        suppression_match.append(sa.func.lower(Suppression.email).in_(addresses))
    session.execute(sa.delete(Suppression).where(sa.or_(*suppression_match))
                    .execution_options(synchronize_session=False))
    session.execute(insert(Suppression).values(email=key, contact_id=None, reason="erased", source="erasure")
                    .on_conflict_do_nothing())
    purged = purge_reliability_rows(session, addresses, contact_id)
    return {"emails": emails or 0, "calls": calls or 0, "follow_ups": follow_ups or 0, "consents": consents or 0,
            **stopped, **{f"reliability_{k}": v for k, v in purged.items()}}


def suppress_if_erased(session: Session, contact_id: str, address: str | None, emit: Emit) -> bool:
    """A new contact whose address was erased before stays suppressed (I7); True when it was suppressed now."""
    return bool(suppress_erased(session, [(contact_id, address)], emit))


def suppress_erased(session: Session, contacts: list[tuple[str, str | None]], emit: Emit) -> list[str]:
    """The new contacts (id, address) whose address was erased before, suppressed; one lookup for all of them.

    An import's chunk of a thousand contacts costs one query, and only the
    (rare) erased addresses go through the ordinary unsubscribe path.
    """
    keyed = {email_key(address): (contact_id, address) for contact_id, address in contacts if address}
    if not keyed:
        return []
    erased = set(session.scalars(sa.select(Suppression.email).where(Suppression.email.in_(list(keyed)))))
    return [contact_id for key, (contact_id, address) in keyed.items()
            if key in erased and tracking.unsubscribe_address(session, address, contact_id, "erasure", emit)]


class ErasureMixin:
    """Event handlers mixed into ``MessagingService``."""

    db: Database
    outbox: EventOutbox

    @reliable_handler("contacts", "contact_erased")
    def on_contact_erased(self, envelope: dict[str, Any]) -> None:
        self.outbox.flush()  # publish waiting events first so the purge of published ones covers them
        if not claim_event(self.db, envelope["event_id"], "messaging.on_contact_erased"):
            return
        data = envelope["data"]
        erase_contact(self.db, str(data["contact_id"]), str(data["email_hash"]))
        self.db.commit()

    @reliable_handler("contacts", "contact_created")
    def on_contact_created_check_erased(self, envelope: dict[str, Any]) -> None:
        data = envelope["data"]
        self._check_erased(envelope, "messaging.on_contact_created_check_erased", [data])

    @reliable_handler("contacts", "contacts_created")
    def on_contacts_created_check_erased(self, envelope: dict[str, Any]) -> None:
        """The batch form (an import's chunk)."""
        self._check_erased(envelope, "messaging.on_contacts_created_check_erased", envelope["data"]["contacts"])

    def _check_erased(self, envelope: dict[str, Any], handler: str, items: list[dict[str, Any]]) -> None:
        if not claim_event(self.db, envelope["event_id"], handler):
            return
        suppressed = suppress_erased(
            self.db, [(str(item["contact_id"]), (item.get("contact") or {}).get("email")) for item in items],
            lambda event_type, payload: self.outbox.add(self.db, event_type, payload))
        self.db.commit()
        if suppressed:
            self.outbox.flush()
