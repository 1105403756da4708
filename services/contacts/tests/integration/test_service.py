"""The service layer on real PostgreSQL (savepoint-isolated), entrypoints called through nameko's worker_factory."""
from __future__ import annotations

import uuid

import pytest
from nameko.testing.services import worker_factory

from contacts.models import User
from contacts.service import ContactsService
from crm_shared.auth import create_token
from crm_shared.errors import Conflict, Forbidden, Unauthorized
from crm_shared.testing.fakes import RecordingOutbox


class _Ctx:
    def __init__(self, token):
        from crm_shared.service import RequestContext

        self._inner = RequestContext({"auth_token": token}, "contacts")

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _user(session, role: str) -> User:
    user = User(email=f"{role}.{uuid.uuid4().hex[:6]}@t.crm", name=f"{role} user", role=role, password_hash="x")
    session.add(user)
    session.flush()
    return user


def _service(session, user: User):
    token = create_token(user.id, user.role, name=user.name)
    service = worker_factory(ContactsService, db=session, outbox=RecordingOutbox("contacts"), ctx=_Ctx(token))
    return service


def test_create_publishes_snapshot_and_refuses_duplicates(db_session):
    sales = _user(db_session, "sales")
    service = _service(db_session, sales)
    contact = service.create_contact({"first_name": "Ann", "last_name": "Lee", "email": f"ann.{uuid.uuid4().hex}@x.io"})
    assert contact["owner_id"] == sales.id
    event_type, data = service.outbox.events[0]
    assert event_type == "contact_created" and data["contact"]["email"] == contact["email"]
    with pytest.raises(Conflict):
        service.create_contact({"first_name": "Ann", "last_name": "Other", "email": contact["email"]})


def test_sales_cannot_change_another_owners_contact(db_session):
    owner, other = _user(db_session, "sales"), _user(db_session, "sales")
    contact = _service(db_session, owner).create_contact(
        {"first_name": "Bob", "last_name": "Ray", "email": f"bob.{uuid.uuid4().hex}@x.io"})
    db_session.flush()
    with pytest.raises(Forbidden):
        _service(db_session, other).set_stage(contact["id"], "Qualified")


def test_calls_without_a_valid_token_are_refused(db_session):
    service = worker_factory(ContactsService, db=db_session, outbox=RecordingOutbox("contacts"), ctx=_Ctx("forged"))
    with pytest.raises(Unauthorized):
        service.list_contacts({})


def test_a_denied_import_row_does_not_undo_the_rows_before_it(db_session):
    owner, importer = _user(db_session, "sales"), _user(db_session, "sales")
    theirs = _service(db_session, owner).create_contact(
        {"first_name": "Cara", "last_name": "Mill", "email": f"cara.{uuid.uuid4().hex}@x.io"})
    service = _service(db_session, importer)
    mine = f"dan.{uuid.uuid4().hex}@x.io"
    results = service.import_batch(str(uuid.uuid4()), [
        {"row": 1, "action": "create", "fields": {"first_name": "Dan", "last_name": "Roe", "email": mine}},
        {"row": 2, "action": "merge", "contact_id": theirs["id"], "fields": {"department": "Ops"}},
    ])
    assert [r["outcome"] for r in results] == ["created", "failed"]
    assert service.get_contact(results[0]["contact_id"])["email"] == mine
    assert service.get_contact(theirs["id"])["department"] is None


def test_every_sign_in_attempt_leaves_one_audit_record(db_session):
    import sqlalchemy as sa

    from contacts.models import AuditEntry
    from crm_shared.auth import hash_password

    email = f"signin.{uuid.uuid4().hex[:6]}@t.crm"
    user = User(email=email, name="Sign In", role="sales", password_hash=hash_password("right-password"))
    db_session.add(user)
    db_session.flush()
    service = worker_factory(ContactsService, db=db_session, outbox=RecordingOutbox("contacts"), ctx=_Ctx(""))
    assert service.authenticate(email.upper(), "right-password", "10.1.2.3")["id"] == user.id
    with pytest.raises(Unauthorized):
        service.authenticate(email, "wrong-password", "10.1.2.4")
    with pytest.raises(Unauthorized):
        service.authenticate(f"nobody.{uuid.uuid4().hex[:6]}@t.crm", "whatever")
    rows = db_session.scalars(sa.select(AuditEntry).where(AuditEntry.action.in_(("login", "login_failed")))
                              .order_by(AuditEntry.id.desc()).limit(3)).all()[::-1]
    assert [(r.action, r.entity_id, r.actor_id) for r in rows] == [
        ("login", user.id, user.id), ("login_failed", user.id, None), ("login_failed", None, None)]
    assert [r.details.get("reason") for r in rows] == [None, "wrong_password", "unknown_or_inactive_user"]
    assert rows[0].details["source_ip"] == "10.1.2.3" and rows[0].details["email"] == email


def _score_body(contact_id: str, score: int, previous: int | None = None) -> dict:
    return {"contact_id": contact_id, "score": score, "previous_score": previous, "fit": score, "engagement": 0,
            "engagement_level": 0.0, "reason": "contact created"}


def test_a_scores_changed_batch_sets_every_score_and_timeline_entry_once(db_session):
    import sqlalchemy as sa

    from contacts.models import Activity, Contact
    from crm_shared.reliability import make_envelope

    service = _service(db_session, _user(db_session, "marketing"))
    ann, bob = (service.create_contact({"first_name": n, "last_name": "Batch", "email": f"{n}.{uuid.uuid4().hex}@x.io"})
                for n in ("ann", "bob"))
    envelope = make_envelope("scoring", "scores_changed", {"changes": [
        _score_body(ann["id"], 35), _score_body(bob["id"], 91, 20), _score_body(str(uuid.uuid4()), 50)]})
    service.on_scores_changed(envelope)
    service.on_scores_changed(envelope)   # redelivered: claimed already, nothing twice
    scores = dict(db_session.execute(sa.select(Contact.id, Contact.score)
                                     .where(Contact.id.in_([ann["id"], bob["id"]]))).all())
    assert scores == {ann["id"]: 35, bob["id"]: 91}
    entries = db_session.execute(sa.select(Activity.contact_id, Activity.title, Activity.details)
                                 .where(Activity.type == "score_changed",
                                        Activity.contact_id.in_([ann["id"], bob["id"]]))).all()
    assert sorted((e.contact_id, e.title) for e in entries) == sorted(
        [(ann["id"], "Score changed: - → 35"), (bob["id"], "Score changed: 20 → 91")])
    assert {e.details["reason"] for e in entries} == {"contact created"}


def test_a_single_score_changed_uses_the_same_path(db_session):
    from crm_shared.reliability import make_envelope

    service = _service(db_session, _user(db_session, "marketing"))
    cid = service.create_contact({"first_name": "Cy", "last_name": "One", "email": f"cy.{uuid.uuid4().hex}@x.io"})["id"]
    service.on_score_changed(make_envelope("scoring", "score_changed", _score_body(cid, 140)))
    assert service.get_contact(cid)["score"] == 100   # clamped to the 0-100 scale


def test_import_completed_puts_one_entry_on_each_touched_contact(db_session):
    import sqlalchemy as sa

    from contacts.models import Activity, Contact
    from crm_shared.reliability import make_envelope

    service = _service(db_session, _user(db_session, "marketing"))
    ann, bob = (service.create_contact({"first_name": n, "last_name": "Imp", "email": f"{n}.{uuid.uuid4().hex}@x.io"})
                for n in ("ann", "bob"))
    import_id = str(uuid.uuid4())
    data = {"import_id": import_id, "file_name": "leads.csv", "created_contact_ids": [ann["id"], str(uuid.uuid4())],
            "merged_contact_ids": [bob["id"]], "summary": {}}
    envelope = make_envelope("imports", "import_completed", data)
    service.on_import_completed(envelope)
    service.on_import_completed(make_envelope("imports", "import_completed", data))  # same import again: no twins
    entries = db_session.execute(sa.select(Activity.contact_id, Activity.title, Activity.occurred_at).where(
        Activity.type == "import_completed", Activity.contact_id.in_([ann["id"], bob["id"]]))).all()
    assert sorted((e.contact_id, e.title) for e in entries) == sorted(
        [(ann["id"], "Created by import of leads.csv"), (bob["id"], "Updated by import of leads.csv")])
    last = dict(db_session.execute(sa.select(Contact.id, Contact.last_activity_at)
                                   .where(Contact.id.in_([ann["id"], bob["id"]]))).all())
    assert all(last[e.contact_id] >= e.occurred_at for e in entries)
