"""The daily send cap and the campaign period on the real database (savepoint-isolated)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm_shared.auth import Caller
from crm_shared.errors import RateLimited
from messaging import campaigns, limits, sending
from messaging.models import Email, Enrollment
from messaging.rules import utcnow

MARKETER = Caller(user_id="u-marketing", role="marketing", name="Maya Marketing", email="marketing@demo.crm")


class FakeContacts:
    def __init__(self, contacts: list[dict]):
        self.contacts = {c["id"]: c for c in contacts}

    def get_contacts(self, contact_ids):
        return [self.contacts[i] for i in contact_ids if i in self.contacts]

    def resolve_filter_ids(self, filters, limit=10000):
        return list(self.contacts)[:limit]


def contact() -> dict:
    cid = str(uuid.uuid4())
    return {"id": cid, "first_name": "Ann", "last_name": "Lee", "email": f"{cid[:8]}@example.com",
            "owner_id": "u-sales"}


def used(session) -> int:
    state = limits.status(session)
    return state["claimed_today"] + state["queued_today"]


def test_enqueue_beyond_the_cap_is_refused_and_claim_never_passes_it(db_session):
    people = [contact() for _ in range(3)]
    fake = FakeContacts(people)
    limits.set_cap(db_session, used(db_session) + 2, "u-admin")
    with pytest.raises(RateLimited) as err:
        sending.enqueue(db_session, MARKETER, fake, {"contact_ids": [p["id"] for p in people],
                                                     "subject": "s", "body": "b"})
    assert err.value.details["remaining"] == 2 and err.value.details["requested"] == 3
    sending.enqueue(db_session, MARKETER, fake, {"contact_ids": [p["id"] for p in people[:2]],
                                                 "subject": "s", "body": "b"})
    # the cap is lowered after the rows were queued: the claim takes only what is left
    before = limits.status(db_session)
    limits.set_cap(db_session, before["claimed_today"] + 1, "u-admin")
    claimed = sending.claim(db_session, 10)
    assert len(claimed) == 1
    assert limits.status(db_session)["claimed_today"] == before["claimed_today"] + 1
    assert sending.claim(db_session, 10) == []
    sending.release(db_session, claimed)  # put back: nothing was sent, so it no longer counts
    assert limits.status(db_session)["claimed_today"] == before["claimed_today"]


def test_a_due_step_over_the_cap_is_deferred_not_queued(db_session):
    ann = contact()
    campaign = campaigns.create(db_session, MARKETER, {
        "title": "Cap", "code": f"CAP{ann['id'][:8]}", "type": "Promotion", "status": "New",
        "steps": [{"subject": "One", "body": "Hi"}]})
    campaigns.update(db_session, MARKETER, campaign["id"], {"status": "Active"})
    campaigns.enroll(db_session, MARKETER, FakeContacts([ann]), campaign["id"], [ann["id"]], lambda *a: None)
    limits.set_cap(db_session, used(db_session), "u-admin")
    db_session.execute(sa.update(Enrollment).where(Enrollment.contact_id == ann["id"])
                       .values(next_due_at=utcnow() - timedelta(seconds=1)))
    campaigns.run_due_steps(db_session)
    row = db_session.execute(sa.select(Enrollment).where(Enrollment.contact_id == ann["id"])).scalar_one()
    assert row.hold_reason == "daily_send_cap" and row.steps_done == 0 and row.status == "active"
    assert db_session.execute(sa.select(Email).where(Email.contact_id == ann["id"])).first() is None
    limits.set_cap(db_session, None, "u-admin")  # releases the hold
    campaigns.run_due_steps(db_session)
    db_session.refresh(row)
    assert row.hold_reason is None and row.steps_done == 1
