"""GDPR erasure in scoring on real PostgreSQL: nothing of the person stays, and a late event cannot bring it back."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from nameko.testing.services import worker_factory

from crm_shared.reliability import make_envelope
from scoring import erasure
from scoring.models import ContactProfile, DeletedContact, Score
from scoring.service import ScoringService
from services.scoring.tests.integration.fakes import RecordingOutbox


def _snapshot(contact_id: str) -> dict:
    return {"id": contact_id, "first_name": "Erin", "last_name": "Erased", "email": f"{contact_id}@example.com",
            "stage": "New", "owner_id": None, "position": "CEO", "industry": "SaaS", "tags": [],
            "created_at": datetime.now(UTC).isoformat()}


def test_an_update_in_flight_when_the_contact_was_erased_projects_nothing(db_session):
    service = worker_factory(ScoringService, db=db_session, outbox=RecordingOutbox())
    contact_id = str(uuid.uuid4())
    service.on_contact_created(make_envelope("contacts", "contact_created", {
        "contact_id": contact_id, "contact": _snapshot(contact_id), "changed": [], "actor_id": None}))
    assert db_session.get(Score, contact_id) is not None

    service.on_contact_erased(make_envelope("contacts", "contact_erased",
                                            {"contact_id": contact_id, "email_hash": "h" * 64}))
    assert db_session.get(ContactProfile, contact_id) is None
    tombstone = db_session.get(DeletedContact, contact_id)
    assert tombstone is not None and tombstone.contact_id == contact_id   # an opaque id, no personal data

    late = {"contact_id": contact_id, "contact": {**_snapshot(contact_id), "position": "CTO"},
            "changed": ["position"], "actor_id": None}
    service.on_contact_updated(make_envelope("contacts", "contact_updated", late))
    service.on_contacts_updated(make_envelope("contacts", "contacts_updated", {"contacts": [late], "import_id": None}))
    assert db_session.get(ContactProfile, contact_id) is None
    assert db_session.get(Score, contact_id) is None
    assert erasure.erase_contact(db_session, contact_id)["contact_profiles"] == 0   # erasing twice is harmless
    assert db_session.scalar(sa.select(sa.func.count()).select_from(DeletedContact)
                             .where(DeletedContact.contact_id == contact_id)) == 1
