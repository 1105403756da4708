"""The daily send cap and the campaign period on the real database (savepoint-isolated)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm_shared.auth import Caller
from crm_shared.errors import RateLimited
from crm_shared.smtp_sink import read_messages
from messaging import campaigns, limits, sending
from messaging.models import Campaign, Email, Enrollment
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


# -- the campaign period and status at send time ---------------------------------------------------
def today(offset: int = 0):
    return utcnow().date() + timedelta(days=offset)


def queued_step(session, person: dict, steps: int = 1, **fields) -> dict:
    """An Active campaign whose first step for ``person`` the timer has queued (not sent yet)."""
    code = f"P{uuid.uuid4().hex[:10]}"
    campaign = campaigns.create(session, MARKETER, {
        "title": "Period", "code": code, "type": "Email Sequence", "status": "New",
        "start_date": today(-5), "end_date": today(30),
        "steps": [{"subject": f"Step {n + 1}", "body": "Hi {first_name}", "delay_days": n} for n in range(steps)],
        **fields})
    campaigns.update(session, MARKETER, campaign["id"], {"status": "Active"})
    campaigns.enroll(session, MARKETER, FakeContacts([person]), campaign["id"], [person["id"]], lambda *a: None)
    campaigns.run_due_steps(session)
    assert session.execute(sa.select(Email.status).where(
        Email.campaign_id == campaign["id"])).scalars().all() == ["queued"]
    return campaign


def enrollment_of(session, campaign: dict, person: dict) -> Enrollment:
    return session.execute(sa.select(Enrollment).where(
        Enrollment.campaign_id == campaign["id"], Enrollment.contact_id == person["id"])
        .execution_options(populate_existing=True)).scalar_one()


def send(session, people: list[dict], settings) -> int:
    return sending.process_batch(session, FakeContacts(people), settings, "http://gw", lambda events: None)


def test_a_step_queued_before_end_date_is_not_sent_after_it_and_its_claim_is_released(db_session, sink):
    settings, folder = sink
    ann, bob = contact(), contact()
    campaign = queued_step(db_session, ann, steps=2)
    sending.enqueue(db_session, MARKETER, FakeContacts([bob]), {"contact_ids": [bob["id"]], "subject": "Bulk",
                                                                "body": "b"})
    # midnight passes with the step still in the queue: the end date is now yesterday
    db_session.execute(sa.update(Campaign).where(Campaign.id == campaign["id"]).values(
        start_date=today(-10), end_date=today(-1)))
    before = limits.status(db_session)["claimed_today"]

    assert send(db_session, [ann, bob], settings) == 2
    assert [m["To"] for m in read_messages(folder)] == [bob["email"]]  # the bulk send in the same batch goes
    assert limits.status(db_session)["claimed_today"] == before + 1  # the stopped step's claim is released
    assert db_session.execute(sa.select(Email).where(Email.campaign_id == campaign["id"])).first() is None
    row = enrollment_of(db_session, campaign, ann)
    assert (row.status, row.hold_reason, row.steps_done, row.next_due_at) == ("ended", "campaign_ended", 0, None)

    # a new period re-examines the ended enrollment: the step is queued again and sent once
    campaigns.update(db_session, MARKETER, campaign["id"], {"end_date": today(30)})
    campaigns.run_due_steps(db_session)
    assert send(db_session, [ann], settings) == 1
    assert send(db_session, [ann], settings) == 0
    assert sorted(str(m["Subject"]) for m in read_messages(folder)) == ["Bulk", "Step 1"]
    row = enrollment_of(db_session, campaign, ann)
    assert (row.status, row.hold_reason, row.steps_done) == ("active", None, 1)


def test_a_step_queued_before_a_later_start_date_is_held_until_then(db_session, sink):
    settings, folder = sink
    ann = contact()
    campaign = queued_step(db_session, ann)
    db_session.execute(sa.update(Campaign).where(Campaign.id == campaign["id"]).values(start_date=today(2)))
    before = limits.status(db_session)

    assert send(db_session, [ann], settings) == 1
    assert read_messages(folder) == []
    after = limits.status(db_session)
    assert after["claimed_today"] == before["claimed_today"]
    assert after["queued_today"] == before["queued_today"] - 1  # nothing left waiting against today's cap
    row = enrollment_of(db_session, campaign, ann)
    assert (row.status, row.hold_reason, row.steps_done) == ("active", "before_start_date", 0)
    assert row.next_due_at.date() == today(2) and (row.next_due_at.hour, row.next_due_at.minute) == (0, 0)
    campaigns.run_due_steps(db_session)  # not due before the start: nothing is queued again
    assert db_session.execute(sa.select(Email).where(Email.campaign_id == campaign["id"])).first() is None


def test_a_paused_campaign_holds_the_step_and_sends_it_once_when_active_again(db_session, sink):
    settings, folder = sink
    ann = contact()
    campaign = queued_step(db_session, ann)
    campaigns.update(db_session, MARKETER, campaign["id"], {"status": "Inactive"})

    assert send(db_session, [ann], settings) == 1
    row = enrollment_of(db_session, campaign, ann)
    assert (row.status, row.hold_reason, row.steps_done) == ("active", "campaign_inactive", 0)
    campaigns.run_due_steps(db_session)  # only Active campaigns advance
    assert send(db_session, [ann], settings) == 0 and read_messages(folder) == []

    campaigns.update(db_session, MARKETER, campaign["id"], {"status": "Active"})
    campaigns.run_due_steps(db_session)
    assert send(db_session, [ann], settings) == 1
    assert [str(m["Subject"]) for m in read_messages(folder)] == ["Step 1"]
    row = enrollment_of(db_session, campaign, ann)
    assert (row.status, row.hold_reason, row.steps_done) == ("completed", None, 1)


def test_a_discarded_campaign_ends_the_enrollment_without_sending(db_session, sink):
    settings, folder = sink
    ann = contact()
    campaign = queued_step(db_session, ann)
    campaigns.update(db_session, MARKETER, campaign["id"], {"status": "Inactive"})
    campaigns.update(db_session, MARKETER, campaign["id"], {"status": "Discarded"})

    assert send(db_session, [ann], settings) == 1
    assert read_messages(folder) == []
    row = enrollment_of(db_session, campaign, ann)
    assert (row.status, row.hold_reason, row.steps_done) == ("ended", "campaign_discarded", 0)
