"""RELIABILITY promises at the contacts service layer that had no direct test (docs/reliability-tests.md).

- M1: a redelivered creating RPC (same idempotency key) returns the first result and writes nothing
  twice: one contact, one event, one audit record (L1 "exactly one record per action").
- I8: undoing an import is audited, one record per removed contact, naming the import and the actor.
"""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from nameko.testing.services import worker_factory

from contacts.models import AuditEntry, Contact, Note, User
from contacts.service import ContactsService
from crm_shared.auth import create_token
from crm_shared.errors import Conflict
from crm_shared.service import RequestContext
from crm_shared.testing.fakes import RecordingOutbox


def _user(session, role: str) -> User:
    user = User(email=f"{role}.{uuid.uuid4().hex[:6]}@t.crm", name=f"{role} user", role=role, password_hash="x")
    session.add(user)
    session.flush()
    return user


def _service(session, user: User, key: str | None, outbox: RecordingOutbox):
    token = create_token(user.id, user.role, name=user.name)
    return worker_factory(ContactsService, db=session, outbox=outbox,
                          ctx=RequestContext({"auth_token": token, "idempotency_key": key}, "contacts"))


def _count(session, model, *where) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_a_redelivered_create_with_the_same_key_returns_the_first_result_and_writes_once(db_session):
    user, outbox, key = _user(db_session, "marketing"), RecordingOutbox("contacts"), uuid.uuid4().hex
    body = {"first_name": "Ida", "last_name": "Empotent", "email": f"ida.{uuid.uuid4().hex[:10]}@x.io"}
    first = _service(db_session, user, key, outbox).create_contact(dict(body))
    again = _service(db_session, user, key, outbox).create_contact(dict(body))     # the same message again
    assert again == first
    assert _count(db_session, Contact, Contact.email == body["email"]) == 1
    assert [t for t, _ in outbox.events] == ["contact_created"]
    assert _count(db_session, AuditEntry, AuditEntry.entity_id == first["id"], AuditEntry.action == "create") == 1
    with pytest.raises(Conflict):                     # a new request (new key) is a new attempt: refused
        _service(db_session, user, uuid.uuid4().hex, outbox).create_contact(dict(body))

    note_key = uuid.uuid4().hex
    notes = [_service(db_session, user, note_key, outbox).add_note(first["id"], {"text": "called once"})
             for _ in range(3)]
    assert notes[0] == notes[1] == notes[2]
    assert _count(db_session, Note, Note.contact_id == first["id"]) == 1


def test_undoing_an_import_is_audited_per_removed_contact(db_session):
    user, outbox = _user(db_session, "marketing"), RecordingOutbox("contacts")
    import_id = str(uuid.uuid4())
    rows = [{"row": n, "action": "create", "fields": {"first_name": f"Undo{chr(97 + n)}", "last_name": "Audit",
                                                      "email": f"undo{n}.{uuid.uuid4().hex[:8]}@x.io"}}
            for n in range(1, 4)]
    results = _service(db_session, user, None, outbox).import_batch(import_id, rows)
    created = sorted(r["contact_id"] for r in results if r["outcome"] == "created")
    assert len(created) == 3
    undone = _service(db_session, user, None, outbox).undo_import(import_id)
    assert sorted(undone["removed"]) == created
    entries = db_session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "import_undo_remove",
                                                             AuditEntry.entity_id.in_(created))).all()
    assert sorted(e.entity_id for e in entries) == created                   # one record each
    assert all(e.actor_id == user.id and e.details["import_id"] == import_id and e.before for e in entries)
