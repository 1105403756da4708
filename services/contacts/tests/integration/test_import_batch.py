"""The set-based ``import_batch`` on real PostgreSQL: per-row outcomes, what goes with each contact, the fallback."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from contacts import audit, import_ops
from contacts.models import Activity, AuditEntry, Contact, ImportRow, Note, StageChange, User
from contacts.operations import MATCH_VIEW, ContactOps
from crm_shared.auth import Caller


def _admin(session) -> Caller:
    user = User(email=f"admin.{uuid.uuid4().hex[:6]}@t.crm", name="Import Admin", role="admin", password_hash="x")
    session.add(user)
    session.flush()
    return Caller(user_id=user.id, role="admin", name=user.name)


def _ops(session, caller: Caller, events: list) -> ContactOps:
    return ContactOps(session, caller, emit=lambda t, d: events.append((t, d)),
                      emit_many=lambda t, items: events.extend((t, d) for d in items))


def _email(tag: str) -> str:
    return f"{tag}.{uuid.uuid4().hex[:10]}@example.com"


def _create(row: int, first: str, email: str, **extra) -> dict:
    return {"row": row, "action": "create", "fields": {"first_name": first, "last_name": "Batch", "email": email,
                                                       **extra}}


def test_a_batch_stores_good_rows_and_fails_each_bad_one_alone(db_session):
    caller, events = _admin(db_session), []
    ops = _ops(db_session, caller, events)
    existing = ops.create({"first_name": "Old", "last_name": "Timer", "email": _email("old")})
    same = _email("twice")
    import_id = str(uuid.uuid4())
    rows = [
        _create(1, "Ann", _email("ann"), company="Acme Solar", notes="Met at the fair", utility_type="Solar"),
        _create(2, "Bad", "not-an-email"),
        _create(3, "Cy", existing["email"].upper()),
        _create(4, "Dee", same, phone="+1 415 555 2671"),
        _create(5, "Eve", same),
        {"row": 6, "action": "merge", "contact_id": existing["id"], "fields": {"department": "Ops"}},
        {"row": 7, "action": "merge", "contact_id": str(uuid.uuid4()), "fields": {"department": "Ops"}},
        {"row": 8, "action": "explode", "fields": {}},
    ]
    events.clear()
    results = import_ops.import_batch(ops, import_id, rows)

    assert [r["row"] for r in results] == [1, 2, 3, 4, 5, 6, 7, 8]
    outcomes = {r["row"]: r for r in results}
    assert [outcomes[n]["outcome"] for n in range(1, 9)] == [
        "created", "failed", "failed", "created", "failed", "merged", "failed", "failed"]
    assert "email" in outcomes[2]["error"]
    assert outcomes[3]["error"] == outcomes[5]["error"] == "a contact with this email already exists"
    assert outcomes[7]["error"] == "contact not found"
    assert outcomes[8]["error"] == "action must be create or merge"
    assert outcomes[6]["changes"] == {"department": {"before": None, "after": "Ops"}}

    ann = db_session.get(Contact, outcomes[1]["contact_id"])
    assert ann.source == "import" and ann.import_id == import_id and ann.company == "Acme Solar"
    assert ann.company_id and "Solar" in ann.tags and "acme" in ann.search_text
    dee = db_session.get(Contact, outcomes[4]["contact_id"])
    assert dee.phone == "+14155552671" and dee.version == 1
    assert db_session.scalar(sa.select(Note.text).where(Note.contact_id == ann.id)) == "Met at the fair"
    timeline = db_session.execute(sa.select(Activity.type, Activity.title).where(Activity.contact_id == ann.id)).all()
    assert ("contact_created", "Contact imported") in timeline
    assert db_session.scalar(sa.select(StageChange.to_stage).where(StageChange.contact_id == dee.id)) == "New"
    assert not [t for t, _ in events if t == "contact_created"]   # one batch event, not one per contact
    batches = [d for t, d in events if t == "contacts_created"]
    assert len(batches) == 1 and batches[0]["import_id"] == import_id
    assert sorted(item["contact_id"] for item in batches[0]["contacts"]) == sorted([ann.id, dee.id])
    assert {item["contact"]["email"] for item in batches[0]["contacts"]} == {ann.email, dee.email}
    assert not [t for t, _ in events if t == "contact_updated"]   # merges too: one batch event
    merged = [d for t, d in events if t == "contacts_updated"]
    assert [(d["import_id"], [item["contact_id"] for item in d["contacts"]]) for d in merged] == [
        (import_id, [existing["id"]])]
    assert merged[0]["contacts"][0]["changed"] == ["department"]
    assert merged[0]["contacts"][0]["contact"]["department"] == "Ops"
    imported = [d for t, d in events if t == "contacts_imported"]
    assert imported == [{"import_id": import_id, "contact_ids": [ann.id, dee.id], "created": True}]
    actions = dict(db_session.execute(sa.select(AuditEntry.entity_id, AuditEntry.action)
                                      .where(AuditEntry.entity_id.in_([ann.id, dee.id, existing["id"]]))
                                      .where(AuditEntry.action.like("import_%"))).all())
    assert actions == {ann.id: "import_create", dee.id: "import_create", existing["id"]: "import_merge"}
    stored = {r.row: r for r in db_session.scalars(sa.select(ImportRow).where(ImportRow.import_id == import_id))}
    assert sorted(stored) == list(range(1, 9))
    assert stored[1].version_after == 1 and stored[6].version_after == 2 and stored[2].version_after is None
    assert audit.verify(db_session)["valid"]


def _created_ids(events: list) -> list[str]:
    """Contacts announced as created, in the batch event or (the one-row fallback) singly."""
    return [item["contact_id"] for t, d in events if t in ("contacts_created", "contact_created")
            for item in (d["contacts"] if t == "contacts_created" else [d])]


def test_merges_and_creates_are_announced_in_chunks_of_the_batch_event_limit(db_session, monkeypatch):
    monkeypatch.setattr(import_ops, "BATCH_EVENT_LIMIT", 2)
    caller, events = _admin(db_session), []
    ops = _ops(db_session, caller, events)
    targets = [ops.create({"first_name": "Tara" + "abcde"[n], "last_name": "Merge", "email": _email(f"t{n}")})
               for n in range(5)]
    rows = [{"row": n + 1, "action": "merge", "contact_id": t["id"], "fields": {"department": f"Dept {n}"}}
            for n, t in enumerate(targets)]
    rows.append({"row": 6, "action": "merge", "contact_id": targets[0]["id"], "fields": {"department": "Dept 0"}})
    rows += [_create(7 + n, "Newt" + "abc"[n], _email(f"new{n}")) for n in range(3)]
    events.clear()
    results = import_ops.import_batch(ops, str(uuid.uuid4()), rows)
    assert [r["outcome"] for r in results] == ["merged"] * 6 + ["created"] * 3
    merged = [d for t, d in events if t == "contacts_updated"]
    assert [len(d["contacts"]) for d in merged] == [2, 2, 1]   # row 6 changed nothing: not announced
    assert [item["contact_id"] for d in merged for item in d["contacts"]] == [t["id"] for t in targets]
    assert [len(d["contacts"]) for t, d in events if t == "contacts_created"] == [2, 1]


def test_a_redelivered_batch_writes_nothing_and_returns_the_stored_outcomes(db_session):
    caller, events = _admin(db_session), []
    ops = _ops(db_session, caller, events)
    import_id, email = str(uuid.uuid4()), _email("again")
    first = import_ops.import_batch(ops, import_id, [_create(1, "Fay", email), _create(2, "Gus", "broken@")])
    events.clear()
    second = import_ops.import_batch(ops, import_id, [_create(1, "Fay", email), _create(2, "Gus", "broken@")])
    assert second == first
    assert events == []
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Contact).where(Contact.email == email)) == 1


def test_a_database_error_in_the_set_falls_back_to_one_savepoint_per_row(db_session, monkeypatch):
    """A row the database refuses (here: forced out-of-range) fails alone; the chain stays valid."""
    caller, events = _admin(db_session), []
    ops = _ops(db_session, caller, events)
    build = ContactOps.build_new

    def poisoned(self, values, owner, source, import_id, now):
        contact = build(self, values, owner, source, import_id, now)
        if contact.first_name == "Poison":
            contact.company_size = 10 ** 12      # beyond PostgreSQL's integer: the INSERT fails
        return contact

    monkeypatch.setattr(ContactOps, "build_new", poisoned)
    import_id = str(uuid.uuid4())
    rows = [_create(1, "Hal", _email("hal"), company="Fallback Ltd"), _create(2, "Poison", _email("poison")),
            _create(3, "Ivy", _email("ivy"))]
    results = import_ops.import_batch(ops, import_id, rows)
    assert [r["outcome"] for r in results] == ["created", "failed", "created"]
    assert results[1]["error"] == "the database refused this row"
    hal = db_session.get(Contact, results[0]["contact_id"])
    assert hal.company == "Fallback Ltd" and hal.company_id
    assert _created_ids(events) == [results[0]["contact_id"], results[2]["contact_id"]]
    assert audit.verify(db_session)["valid"]


def test_a_merge_the_database_refuses_fails_alone_and_leaves_the_audit_chain_valid(db_session, monkeypatch):
    """The refused merge had already written its audit record in the rolled-back savepoint: the chain rewinds."""
    caller, events = _admin(db_session), []
    ops = _ops(db_session, caller, events)
    good = ops.create({"first_name": "Jo", "last_name": "Good", "email": _email("jo")})
    bad = ops.create({"first_name": "Kit", "last_name": "Bad", "email": _email("kit")})
    apply = ContactOps.apply_values

    def poisoned(self, contact, values):
        apply(self, contact, values)
        if values.get("department") == "Poison":
            contact.company_size = 10 ** 12

    monkeypatch.setattr(ContactOps, "apply_values", poisoned)
    results = import_ops.import_batch(ops, str(uuid.uuid4()), [
        {"row": 1, "action": "merge", "contact_id": good["id"], "fields": {"department": "Ops"}},
        {"row": 2, "action": "merge", "contact_id": bad["id"], "fields": {"department": "Poison"}},
        _create(3, "Lou", _email("lou")),
    ])
    assert [r["outcome"] for r in results] == ["merged", "failed", "created"]
    assert db_session.get(Contact, good["id"]).department == "Ops"
    assert db_session.get(Contact, bad["id"]).department is None
    db_session.flush()
    assert audit.verify(db_session)["valid"]


def test_match_candidates_finds_each_key_kind_once_and_keeps_to_the_limit(db_session):
    caller = _admin(db_session)
    ops = _ops(db_session, caller, [])
    company = f"Blockco {uuid.uuid4().hex[:6]}"
    primary = ops.create({"first_name": "Pam", "last_name": "Prime", "email": _email("pam"), "phone": "+14155550101",
                          "emails": [_email("pam.alt")], "phones": ["+14155550102"], "company": company})
    twin = ops.create({"first_name": "Pam", "last_name": "Prime", "email": _email("twin"), "company": company})
    keys = {"emails": [primary["emails"][0].upper()], "phones": ["+1 415 555 0102"], "name_keys": ["pam prime"],
            "company_keys": [company.lower()]}
    found = ops.match_candidates(keys, view="match")
    assert sorted(c["id"] for c in found) == sorted([primary["id"], twin["id"]])    # each once
    assert set(found[0]) == set(MATCH_VIEW)
    by_secondary_phone = ops.match_candidates({"phones": ["+14155550102"]})
    assert [c["id"] for c in by_secondary_phone] == [primary["id"]] and "score" in by_secondary_phone[0]
    assert len(ops.match_candidates(keys, limit=1, view="match")) == 1

