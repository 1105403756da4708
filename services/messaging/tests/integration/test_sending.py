"""Sending on the real database with a real SMTP sink: claims, suppression at send time, at-most-once."""
from __future__ import annotations

import socket
import uuid

import sqlalchemy as sa

from crm_shared.auth import Caller
from crm_shared.config import SmtpSettings
from crm_shared.smtp_sink import read_messages
from messaging import campaigns, sending, tracking
from messaging.models import Email, Enrollment, Suppression

MARKETER = Caller(user_id="u-marketing", role="marketing", name="Maya Marketing", email="marketing@demo.crm")


class FakeContacts:
    """The contacts service as messaging sees it (get_contacts / resolve_filter_ids)."""

    def __init__(self, contacts: list[dict]):
        self.contacts = {c["id"]: c for c in contacts}
        self.calls = 0

    def get_contacts(self, contact_ids):
        self.calls += 1
        return [self.contacts[i] for i in contact_ids if i in self.contacts]

    def resolve_filter_ids(self, filters, limit=10000):
        return [i for i, c in self.contacts.items() if c.get("company") == filters.get("company")][:limit]


def contact(**kw) -> dict:
    cid = str(uuid.uuid4())
    return {"id": cid, "first_name": "Ann", "last_name": "Lee", "email": f"{cid[:8]}@example.com",
            "company": "Acme", "position": "CTO", "owner_id": "u-sales", **kw}


def run(session, contacts, settings, events=None):
    events = [] if events is None else events
    return sending.process_batch(session, contacts, settings, "http://gw", events.extend, limit=400, chunk=2)


def test_send_renders_claims_and_records(db_session, sink):
    settings, folder = sink
    people = [contact(first_name=f"P{n}") for n in range(5)]
    fake = FakeContacts(people)
    queued = sending.enqueue(db_session, MARKETER, fake, {"filter": {"company": "Acme"}, "subject": "Hi {first_name}",
                                                          "body": "Visit https://example.com/x"})
    assert queued["queued"] == 5
    events: list = []
    assert run(db_session, fake, settings, events) == 5
    assert run(db_session, fake, settings, events) == 0  # nothing left: a second tick sends nothing
    messages = read_messages(folder)
    assert sorted(str(m["Subject"]) for m in messages) == [f"Hi P{n}" for n in range(5)]
    # one emails_sent per send batch (each SMTP batch of the run helper holds all 5), never an email_sent each
    assert [e[0] for e in events] == ["emails_sent"]
    assert sorted(item["contact_id"] for item in events[0][1]["emails"]) == sorted(p["id"] for p in people)
    assert sorted(item["subject"] for item in events[0][1]["emails"]) == [f"Hi P{n}" for n in range(5)]
    rows = db_session.execute(sa.select(Email).where(Email.job_id == queued["job_id"])).scalars().all()
    assert {r.status for r in rows} == {"sent"} and all(r.links == ["https://example.com/x"] for r in rows)


def test_suppression_is_checked_at_send_time(db_session, sink):
    settings, folder = sink
    ann, bob = contact(), contact()
    fake = FakeContacts([ann, bob])
    queued = sending.enqueue(db_session, MARKETER, fake, {"contact_ids": [ann["id"], bob["id"]], "subject": "s",
                                                          "body": "b"})
    assert queued["queued"] == 2
    # suppressed after enqueue (e.g. by another replica or an import of a suppression list)
    db_session.add(Suppression(email=ann["email"], contact_id=None, reason="unsubscribed", source="import"))
    db_session.flush()
    bob["unsubscribed"] = True  # the contacts service's flag counts too
    run(db_session, fake, settings)
    statuses = dict(db_session.execute(sa.select(Email.contact_id, Email.status).where(
        Email.job_id == queued["job_id"])).all())
    assert statuses == {ann["id"]: "refused", bob["id"]: "refused"}
    assert read_messages(folder) == []


def test_a_claimed_row_is_never_sent_again(db_session, sink):
    settings, folder = sink
    ann = contact()
    fake = FakeContacts([ann])
    sending.enqueue(db_session, MARKETER, fake, {"contact_ids": [ann["id"]], "subject": "s", "body": "b"})
    claimed = sending.claim(db_session, 10)
    assert len(claimed) == 1
    # the sender "crashed" here: the row stays 'sending' and no later tick picks it up
    assert run(db_session, fake, settings) == 0
    db_session.execute(sa.update(Email).where(Email.id == claimed[0].id).values(
        claimed_at=sa.func.now() - sa.text("interval '1 hour'")))
    assert sending.expire_stuck(db_session) == 1
    assert db_session.get(Email, claimed[0].id).status == "failed"
    assert read_messages(folder) == []


def test_enqueue_twice_for_the_same_job_key_inserts_once(db_session):
    ann = contact()
    fake = FakeContacts([ann])
    result = sending.enqueue(db_session, MARKETER, fake, {"contact_ids": [ann["id"], ann["id"]], "subject": "s",
                                                          "body": "b"})
    assert result["total"] == 1 and result["queued"] == 1


def test_smtp_down_puts_the_batch_back(db_session):
    ann = contact()
    fake = FakeContacts([ann])
    sending.enqueue(db_session, MARKETER, fake, {"contact_ids": [ann["id"]], "subject": "s", "body": "b"})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    run(db_session, fake, SmtpSettings("127.0.0.1", dead_port, "", "", False, "crm@demo.crm"))
    row = db_session.execute(sa.select(Email).where(Email.contact_id == ann["id"])).scalar_one()
    assert row.status == "queued" and row.claimed_at is None


def test_enroll_refuses_inactive_and_unsubscribe_leaves_every_campaign(db_session):
    active, idle = contact(), contact(inactive=True)
    fake = FakeContacts([active, idle])
    events: list = []

    def emit(event_type, data):
        events.append((event_type, data))

    ids = []
    for n in range(2):
        created = campaigns.create(db_session, MARKETER, {"title": f"C{n}", "code": f"C{uuid.uuid4().hex[:8]}",
                                                          "type": "Promotion", "status": "New"})
        campaigns.update(db_session, MARKETER, created["id"], {"status": "Active"})
        result = campaigns.enroll(db_session, MARKETER, fake, created["id"], [active["id"], idle["id"]], emit)
        assert [r.get("reason") for r in result["results"]] == [None, "inactive"]
        ids.append(created["id"])
    tracking.unsubscribe_address(db_session, active["email"], active["id"], "link", emit)
    statuses = db_session.execute(sa.select(Enrollment.status).where(Enrollment.contact_id == active["id"])
                                  ).scalars().all()
    assert statuses == ["unsubscribed", "unsubscribed"]
    assert [e[0] for e in events].count("campaign_unenrolled") == 2
    assert tracking.unsubscribe_address(db_session, active["email"], active["id"], "link", emit) is False


def test_merge_moves_history_and_keeps_one_enrollment_per_campaign(db_session):
    primary, duplicate = contact(), contact()
    fake = FakeContacts([primary, duplicate])
    created = campaigns.create(db_session, MARKETER, {"title": "M", "code": f"M{uuid.uuid4().hex[:8]}",
                                                      "type": "Promotion", "status": "New"})
    campaigns.update(db_session, MARKETER, created["id"], {"status": "Active"})
    campaigns.enroll(db_session, MARKETER, fake, created["id"], [primary["id"], duplicate["id"]], lambda *a: None)
    sending.enqueue(db_session, MARKETER, fake, {"contact_ids": [duplicate["id"]], "subject": "s", "body": "b"})
    tracking.merge_contacts(db_session, primary["id"], [duplicate["id"]])
    db_session.flush()
    owners = db_session.execute(sa.select(Enrollment.contact_id).where(Enrollment.campaign_id == created["id"])
                                ).scalars().all()
    assert owners == [primary["id"]]
    assert db_session.execute(sa.select(sa.func.count()).where(Email.contact_id == duplicate["id"])).scalar() == 0
    assert tracking.forget_contact(db_session, primary["id"]) == {"refused": 1, "left": 1, "cancelled": 0}


def test_batched_opens_count_all_and_emit_one_event_per_batch_of_first_opens(db_session, sink):
    settings, folder = sink
    ann, bob = contact(), contact()
    fake = FakeContacts([ann, bob])
    sending.enqueue(db_session, MARKETER, fake, {"contact_ids": [ann["id"], bob["id"]], "subject": "s", "body": "b"})
    run(db_session, fake, settings)
    tokens = dict(db_session.execute(sa.select(Email.contact_id, Email.token).where(
        Email.contact_id.in_([ann["id"], bob["id"]]))).all())
    events: list = []
    assert tracking.record_opens(db_session, [tokens[ann["id"]]] * 3 + ["bogus!", "x" * 20], events.extend) == 1
    assert tracking.record_opens(db_session, [tokens[ann["id"]], tokens[bob["id"]]], events.extend) == 2
    # one emails_opened per batch of pixel loads, naming only the messages opened for the first time
    assert [(e[0], [item["contact_id"] for item in e[1]["emails"]]) for e in events] == [
        ("emails_opened", [ann["id"]]), ("emails_opened", [bob["id"]])]
    assert tracking.record_opens(db_session, [tokens[bob["id"]]], events.extend) == 1 and len(events) == 2
    row = db_session.execute(sa.select(Email).where(Email.contact_id == ann["id"])).scalar_one()
    assert row.open_count == 4 and row.status == "opened" and row.delivered_at is not None
