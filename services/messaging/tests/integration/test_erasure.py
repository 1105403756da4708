"""Erasure in messaging on the real database (G1): only the keyed hash stays, and it still suppresses."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from crm_shared.gdpr import email_key
from messaging import erasure, sending
from messaging.models import Call, Consent, Email, FollowUp, Suppression


def test_erasure_keeps_only_the_keyed_hash_and_it_still_refuses(db_session):
    cid = str(uuid.uuid4())
    address = f"ann.{cid[:8]}@erase.example"
    db_session.add_all([
        Email(contact_id=cid, to_email=address, subject="Hi Ann", body="Hello Ann Lee", status="sent"),
        Email(contact_id=cid, to_email=None, from_email=address, direction="inbound", subject="Re: Hi",
              body="Thanks, Ann", status="received"),
        Suppression(email=address, contact_id=cid, reason="unsubscribed", source="link"),
        Consent(contact_id=cid, email=address, status="withdrawn", source="web_form", text_version="v2"),
        Call(contact_id=cid, purpose="Discovery Call", status="Completed", notes="Ann wants a demo",
             participants=["Ann Lee"], outcome="Ann interested"),
    ])
    db_session.flush()
    key = email_key(address)

    counts = erasure.erase_contact(db_session, cid, key)

    assert counts["emails"] == 2 and counts["calls"] == 1 and counts["consents"] == 1
    text = " ".join(str(v) for row in db_session.execute(sa.select(Email.to_email, Email.from_email, Email.subject,
                                                                   Email.body).where(Email.contact_id == cid))
                    for v in row)
    assert "ann" not in text.lower()
    call = db_session.scalar(sa.select(Call).where(Call.contact_id == cid))
    assert (call.notes, call.participants, call.outcome) == ("", [], "[erased]")
    assert db_session.scalar(sa.select(Consent.email).where(Consent.contact_id == cid)) == key
    assert db_session.scalars(sa.select(Suppression.email).where(
        sa.or_(Suppression.contact_id == cid, Suppression.email.in_([address, key])))).all() == [key]

    newcomer = str(uuid.uuid4())
    blocked = sending.suppressed(db_session, [address.upper()], [newcomer])
    assert blocked == {address}
    assert sending.refusal({"id": newcomer, "email": address.upper(), "unsubscribed": False}, blocked) == \
        "unsubscribed"
    assert sending.suppressed(db_session, [f"other.{cid[:8]}@erase.example"], []) == set()

    emitted: list[tuple[str, dict]] = []
    assert erasure.suppress_if_erased(db_session, newcomer, address, lambda t, d: emitted.append((t, d)))
    assert ("unsubscribed", {"contact_id": newcomer, "email": address, "source": "erasure"}) in emitted
    assert not erasure.suppress_if_erased(db_session, str(uuid.uuid4()), f"x{address}", emitted.append)


def test_follow_ups_lose_their_text_and_a_replay_changes_nothing(db_session):
    cid = str(uuid.uuid4())
    due = datetime.now(UTC) + timedelta(days=1)
    db_session.add(FollowUp(contact_id=cid, type="call", title="Call Ann back", description="Ann Lee, re pricing",
                            due_at=due, remind_at=due))
    db_session.flush()
    key = email_key(f"ann.{cid[:8]}@erase.example")
    erasure.erase_contact(db_session, cid, key)
    erasure.erase_contact(db_session, cid, key)
    follow_up = db_session.scalar(sa.select(FollowUp).where(FollowUp.contact_id == cid))
    assert (follow_up.title, follow_up.description, follow_up.status) == ("[erased]", "", "cancelled")
    assert db_session.scalar(sa.select(sa.func.count()).where(Suppression.email == key)) == 1


def test_a_batch_of_new_contacts_is_checked_in_one_go_and_only_erased_addresses_are_suppressed(db_session):
    erased_address = f"gone.{uuid.uuid4().hex[:8]}@erase.example"
    db_session.add(Suppression(email=email_key(erased_address), contact_id=None, reason="erased", source="erasure"))
    db_session.flush()
    returning, fresh, no_address = (str(uuid.uuid4()) for _ in range(3))
    emitted: list[tuple[str, dict]] = []
    suppressed = erasure.suppress_erased(db_session, [
        (fresh, f"new.{fresh[:8]}@erase.example"), (returning, erased_address.title()), (no_address, None)],
        lambda t, d: emitted.append((t, d)))
    assert suppressed == [returning]
    assert [(t, d["contact_id"]) for t, d in emitted] == [("unsubscribed", returning)]
    assert erased_address in sending.suppressed(db_session, [erased_address], [returning])
    assert sending.suppressed(db_session, [f"new.{fresh[:8]}@erase.example"], [fresh]) == set()
