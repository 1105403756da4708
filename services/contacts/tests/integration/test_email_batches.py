"""The batch email facts on real PostgreSQL: ``emails_sent`` / ``emails_opened`` / ``emails_bounced`` write
what their single events write one by one (timeline entries, last activity and last contact dates), in
a fixed number of statements, once per event id."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from nameko.testing.services import worker_factory

from contacts.models import Activity, Contact
from contacts.service import ContactsService
from crm_shared.events import validate_event_data
from crm_shared.reliability import make_envelope
from crm_shared.testing.fakes import RecordingOutbox
from crm_shared.testing.helpers import statements
from services.contacts.tests.integration.test_service import _Ctx, _user

BATCHES = [("emails_sent", "email_sent", "on_emails_sent", "on_email_sent"),
           ("emails_opened", "email_opened", "on_emails_opened", "on_email_opened"),
           ("emails_bounced", "email_bounced", "on_emails_bounced", "on_email_bounced")]


def _service(db):
    from crm_shared.auth import create_token

    user = _user(db, "marketing")
    return worker_factory(ContactsService, db=db, outbox=RecordingOutbox("contacts"),
                          ctx=_Ctx(create_token(user.id, user.role)))


def _contacts(service, n: int, tag: str) -> list[str]:
    return [service.create_contact({"first_name": "Mail", "last_name": f"{tag}{chr(97 + i % 26)}",
                                    "email": f"{tag}.{i}.{uuid.uuid4().hex[:8]}@x.io"})["id"] for i in range(n)]


def _fact(contact_id: str, n: int, **extra) -> dict:
    return {"contact_id": contact_id, "email_id": f"e-{n}", "subject": f"Offer {n}" if n % 3 else "",
            "campaign_id": "camp-1" if n % 2 else None, "template_id": None, **extra}


def _batch(batch_type: str, items: list[dict]) -> dict:
    data = {"emails": items}
    validate_event_data("messaging", batch_type, data)
    return make_envelope("messaging", batch_type, data)


def _state(db, ids: list[str]) -> tuple[list, dict]:
    entries = db.execute(sa.select(Activity.contact_id, Activity.type, Activity.title, Activity.details,
                                   Activity.actor_id, Activity.source)
                         .where(Activity.contact_id.in_(ids), Activity.type.like("email%"))).all()
    dates = {r.id: (r.last_activity_at, r.last_contact_at) for r in db.execute(
        sa.select(Contact.id, Contact.last_activity_at, Contact.last_contact_at).where(Contact.id.in_(ids)))}
    return entries, dates


@pytest.mark.parametrize("batch_type, single_type, batch_handler, single_handler", BATCHES)
def test_a_batch_writes_what_its_single_events_write(db_session, batch_type, single_type, batch_handler,
                                                     single_handler):
    service = _service(db_session)
    singles, twins = _contacts(service, 4, "one"), _contacts(service, 4, "bat")
    # a contact with two emails in the batch gets both entries; an actor on an item is kept
    plan = [(0, 0, {}), (1, 1, {}), (2, 2, {"actor_id": "user-9"}), (3, 3, {}), (0, 4, {})]
    items = [_fact(twins[i], n, **extra) for i, n, extra in plan]
    items.append(_fact(str(uuid.uuid4()), 9))   # a contact deleted meanwhile: skipped
    batch = _batch(batch_type, items)
    for i, n, extra in plan:
        single = make_envelope("messaging", single_type, _fact(singles[i], n, **extra))
        single["occurred_at"] = batch["occurred_at"]
        getattr(service, single_handler)(single)
    getattr(service, batch_handler)(batch)

    one_entries, one_dates = _state(db_session, singles)
    many_entries, many_dates = _state(db_session, twins)
    twin_of = dict(zip(singles, twins, strict=True))

    def comparable(entries, rename=lambda cid: cid):
        return sorted((rename(e.contact_id), e.type, e.title, sorted(e.details.items(), key=str), e.actor_id,
                       e.source) for e in entries)

    assert len(many_entries) == 5
    assert comparable(one_entries, twin_of.get) == comparable(many_entries)
    assert {twin_of[c]: d for c, d in one_dates.items()} == many_dates
    moved_contact = single_type == "email_sent"
    assert all((last_contact is not None) == moved_contact for _, last_contact in many_dates.values())
    label = {"email_sent": "Email sent", "email_opened": "Email opened", "email_bounced": "Email bounced"}
    assert {e.title for e in many_entries if e.contact_id == twins[1]} == {f"{label[single_type]}: Offer 1"}
    assert {e.title for e in many_entries if e.contact_id == twins[0]} == {label[single_type],
                                                                              f"{label[single_type]}: Offer 4"}

    getattr(service, batch_handler)(batch)   # redelivered: claimed already, nothing twice
    assert _state(db_session, twins) == (many_entries, many_dates)


def test_the_batch_costs_the_same_statements_for_3_or_300_emails(db_session):
    service = _service(db_session)
    counts = []
    for n, tag in ((3, "few"), (300, "many")):
        ids = _contacts(service, min(n, 40), tag)
        envelope = _batch("emails_sent", [_fact(ids[k % len(ids)], k) for k in range(n)])
        with statements(db_session) as seen:
            service.on_emails_sent(envelope)
        counts.append(len(seen))
        assert db_session.scalar(sa.select(sa.func.count()).select_from(Activity).where(
            Activity.contact_id.in_(ids), Activity.type == "email_sent")) == n
    assert counts[0] == counts[1] <= 5   # claim, one UPDATE, one INSERT (plus the savepoint of the commit)
