"""The checkpointed import pipeline against real PostgreSQL with an in-memory contacts service."""
from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from crm_shared import validators as v
from crm_shared.auth import Caller
from crm_shared.errors import Conflict, ValidationFailed
from imports import jobs, matching, pipeline, scan
from imports.models import DuplicateScan, Import, ImportRow


class FakeContacts:
    """An in-memory contacts service honouring the docs/DEVELOPING.md contracts the pipeline uses."""
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.applied: dict[tuple[str, int], dict[str, Any]] = {}
        self.batch_calls = 0
        self.fail_next_batch = False

    def add(self, **fields: Any) -> str:
        contact_id = str(uuid.uuid4())
        self.contacts[contact_id] = {"id": contact_id, **fields}
        return contact_id

    def match_candidates(self, keys: dict[str, list[str]]) -> list[dict[str, Any]]:
        found = []
        for contact in self.contacts.values():
            record = matching.record_from(contact["id"], contact)
            if (set(record.emails) & set(keys["emails"]) or set(record.phones) & set(keys["phones"])
                    or record.name in keys["name_keys"] or (record.company and record.company in keys["company_keys"])):
                found.append(dict(contact))
        return found

    def import_batch(self, import_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batch_calls += 1
        if self.fail_next_batch:
            self.fail_next_batch = False
            raise ConnectionError("contacts unavailable")
        results = []
        for row in rows:
            key = (import_id, row["row"])
            if key in self.applied:
                results.append(self.applied[key])
                continue
            if row["action"] == "merge":
                contact = self.contacts[row["contact_id"]]
                changes, conflicts = {}, {}
                for name, value in row["fields"].items():
                    if contact.get(name) in (None, "", []):
                        changes[name] = {"before": contact.get(name), "after": value}
                        contact[name] = value
                    elif contact[name] != value:
                        conflicts[name] = {"existing": contact[name], "incoming": value}
                result = {"row": row["row"], "contact_id": contact["id"], "outcome": "merged",
                          "changes": changes, "conflicts": conflicts, "error": None}
            elif v.normalize_email(row["fields"]["email"]) in {c.get("email") for c in self.contacts.values()}:
                result = {"row": row["row"], "contact_id": None, "outcome": "failed", "changes": {},
                          "conflicts": {}, "error": "email already exists"}
            else:
                contact_id = self.add(**row["fields"], import_id=import_id)
                result = {"row": row["row"], "contact_id": contact_id, "outcome": "created", "changes": {},
                          "conflicts": {}, "error": None}
            self.applied[key] = result
            results.append(result)
        return results

    def iter_contacts(self, after_id: str | None, limit: int) -> dict[str, Any]:
        ids = sorted(self.contacts)
        if after_id:
            ids = [i for i in ids if i > after_id]
        page = ids[:limit]
        return {"items": [self.contacts[i] for i in page],
                "next_after_id": page[-1] if len(page) == limit else None}


MARKETING = Caller(user_id="u-marketing", role="marketing", name="Mia Marketing")


@pytest.fixture()
def contacts():
    return FakeContacts()


def upload(session, text: str, caller: Caller = MARKETING, mapping=None) -> str:
    data = base64.b64encode(text.encode()).decode()
    result, start = jobs.create_import(session, caller, "contacts.csv", data, mapping)
    session.commit()
    return result["id"]


def run(session, import_id: str, contacts) -> str:
    state = "continue"
    for _ in range(200):
        state = pipeline.advance(session, import_id, None, contacts)
        if state != "continue":
            return state
    raise AssertionError("pipeline did not settle")


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def test_full_run_with_every_match_type_and_decisions(db_session, contacts):
    u = uuid.uuid4().hex[:6]
    existing = {kind: contacts.add(first_name=first, last_name="Stone", email=f"{kind}{u}@acme.com",
                                   phone=phone, company="Acme")
                for kind, first, phone in (("exact", "Anna", "+15550000001"), ("email", "Bert", "+15550000002"),
                                           ("phone", "Cara", "+15550000003"), ("namecomp", "Dirk", "+15550000004"),
                                           ("fuzzy", "Elizabeth", "+15550000005"))}
    assert existing
    text = "\n".join([
        "Name,Email,Phone,Company,Tags",
        f"Anna Stone,exact{u}@acme.com,,Acme,vip",                 # 1 exact 100
        f"Bertram Other,email{u}@acme.com,,Globex,",               # 2 email 95
        f"Cy Other,cy{u}@other.com,+1 555 000 0003,,",             # 3 phone 90
        f"Dirk Stone,dirk{u}@new.com,,Acme,",                      # 4 name+company 85
        f"Liz Stone,liz{u}@new.com,,Acme Inc,",                    # 5 fuzzy
        f"New Person,new{u}@new.com,,Initech,",                    # 6 create
        f"New Person,new{u}@new.com,,Initech,",                    # 7 in-file exact duplicate of row 6
        "Bad Email,not-an-email,,,",                              # 8 invalid
        ",,,,",                                                    # blank line: not a row
        "Xy,,555-ABC-1234,,",                                     # 9 invalid (2 fields)
    ])
    import_id = upload(db_session, text)
    assert run(db_session, import_id, contacts) == "idle"
    job = db_session.get(Import, import_id)
    assert (job.status, job.step, job.progress, job.total_rows) == ("review", 4, 100, 9)
    dups = jobs.list_duplicates(db_session, MARKETING, import_id, None, None, 1, 50)
    by_row = {d["row"]: (d["match_type"], d["confidence"]) for d in dups["items"]}
    assert by_row[1] == ("exact", 100) and by_row[2] == ("email", 95) and by_row[3] == ("phone", 90)
    assert by_row[4] == ("name_company", 85) and by_row[5][0] == "fuzzy" and by_row[5][1] < 85
    assert by_row[7] == ("exact", 100)
    assert next(d for d in dups["items"] if d["row"] == 7)["duplicate_of_row"] == 6
    with pytest.raises(Conflict):
        jobs.commit(db_session, MARKETING, import_id, None)
    db_session.rollback()
    jobs.resolve(db_session, MARKETING, import_id, {"match_type": "all", "action": "merge"})
    jobs.resolve(db_session, MARKETING, import_id, {"decisions": [{"id": "3", "action": "skip"},
                                                                  {"id": "5", "action": "review"}]})
    db_session.commit()
    preview = jobs.list_rows(db_session, MARKETING, import_id, None, 1, 50)
    assert preview["counts"] == {"create": 1, "merge": 4, "skip": 2, "error": 2}
    merge_row = jobs.list_rows(db_session, MARKETING, import_id, "merge", 1, 50)["items"][0]
    assert merge_row["row"] == 1 and merge_row["changes"]["tags"]["after"] == ["vip"]
    jobs.commit(db_session, MARKETING, import_id, None)
    db_session.commit()
    assert run(db_session, import_id, contacts) == "idle"
    job = db_session.get(Import, import_id)
    assert job.status == "completed"
    assert job.summary == {"total": 9, "imported": 1, "duplicates": 6, "merged": 4, "skipped": 2, "failed": 2}
    created = [c for c in contacts.contacts.values() if c.get("import_id") == import_id]
    assert len(created) == 1
    row7 = db_session.get(ImportRow, (import_id, 7))
    assert row7.outcome == "merged" and row7.contact_id == created[0]["id"]
    events = db_session.execute(sa.text(
        "SELECT envelope FROM outbox WHERE event_type = 'import_completed' AND envelope->'data'->>'import_id' = :i"),
        {"i": import_id}).scalars().all()
    assert len(events) == 1 and events[0]["data"]["summary"] == job.summary
    assert events[0]["data"]["created_contact_ids"] == [created[0]["id"]]
    report = jobs.errors_csv(db_session, MARKETING, import_id)
    assert "missing_required" in report and "Invalid email format: not-an-email" in report
    assert "Invalid phone number: 555-ABC-1234" in report and "skipped" in report


def test_each_step_is_idempotent_when_repeated_after_a_crash(db_session, contacts):
    """Re-running a committed chunk (redelivered message) changes nothing and stores nothing twice."""
    rows = "\n".join(f"Person {chr(65 + i % 26)}{chr(97 + i // 26)},p{i}-{uuid.uuid4().hex[:6]}@x.com"
                     for i in range(30))
    import_id = upload(db_session, "Name,Email\n" + rows)
    os.environ["CRM_IMPORT_COMMIT_CHUNK"] = "7"
    pipeline.COMMIT_CHUNK = 7
    try:
        run(db_session, import_id, contacts)
        jobs.commit(db_session, MARKETING, import_id, "skip")
        db_session.commit()
        pipeline.advance(db_session, import_id, None, contacts)          # first chunk of 7
        job = db_session.get(Import, import_id)
        job.cursor = 0                                                  # as if the checkpoint was lost
        db_session.commit()
        contacts.fail_next_batch = True
        with pytest.raises(ConnectionError):
            pipeline.advance(db_session, import_id, None, contacts)
        db_session.rollback()
        assert run(db_session, import_id, contacts) == "idle"
    finally:
        pipeline.COMMIT_CHUNK = 1000
        os.environ.pop("CRM_IMPORT_COMMIT_CHUNK", None)
    job = db_session.get(Import, import_id)
    assert job.summary["imported"] == 30 and job.summary["failed"] == 0
    assert len([c for c in contacts.contacts.values() if c.get("import_id") == import_id]) == 30


def test_candidate_lookup_splits_answers_that_reach_the_limit(monkeypatch):
    contacts = FakeContacts()
    for i in range(30):
        contacts.add(first_name="Common", last_name="Name", email=f"c{i}@x.com")
    target = contacts.add(first_name="Rare", last_name="Person", email="rare@x.com")
    monkeypatch.setattr(pipeline, "CANDIDATE_LIMIT", 10)
    records = [matching.record_from(str(i), {"first_name": "Common", "last_name": "Name", "email": f"n{i}@y.com"})
               for i in range(3)] + [matching.record_from("9", {"first_name": "Rare", "last_name": "Person",
                                                                 "email": "rare@x.com"})]
    found = pipeline.fetch_candidates(contacts, records)
    assert target in {c["id"] for c in found}


def test_stale_run_token_and_cancel_stop_the_chain(db_session, contacts):
    import_id = upload(db_session, f"Name,Email\nAnn Lee,{unique('a')}@x.com\n")
    job = db_session.get(Import, import_id)
    old = job.run_token
    jobs.set_mapping(db_session, MARKETING, import_id, {"Name": "name", "Email": "email"})
    db_session.commit()
    assert pipeline.advance(db_session, import_id, old, contacts) == "stale"
    jobs.cancel(db_session, MARKETING, import_id)
    db_session.commit()
    assert pipeline.advance(db_session, import_id, None, contacts) == "idle"
    assert db_session.get(Import, import_id).status == "cancelled"
    with pytest.raises(Conflict):
        jobs.commit(db_session, MARKETING, import_id, "skip")


def test_mapping_without_required_columns_waits_then_runs(db_session, contacts):
    import_id = upload(db_session, f"Who,Addr\nAnn Lee,{unique('a')}@x.com\n")
    job = db_session.get(Import, import_id)
    assert job.status == "uploaded" and "name" in job.message and "email" in job.message
    with pytest.raises(ValidationFailed):
        jobs.set_mapping(db_session, MARKETING, import_id, {"Who": "name", "Nope": "email"})
    db_session.rollback()
    jobs.set_mapping(db_session, MARKETING, import_id, {"Who": "name", "Addr": "email"})
    db_session.commit()
    run(db_session, import_id, contacts)
    assert db_session.get(Import, import_id).status == "review"


def test_same_bytes_again_within_a_day_return_the_first_import(db_session):
    text = f"Name,Email\nAnn Lee,{unique('a')}@x.com\n"
    first = upload(db_session, text)
    again, start = jobs.create_import(db_session, MARKETING, "again.csv", base64.b64encode(text.encode()).decode(),
                                      None)
    assert again["id"] == first and again["duplicate_upload"] and not start


def test_housekeeping_times_out_idle_imports_and_resumes_stalled_ones(db_session, contacts):
    idle = upload(db_session, f"Who,Addr\nAnn Lee,{unique('a')}@x.com\n")
    stalled = upload(db_session, f"Name,Email\nBo Ek,{unique('b')}@x.com\n")
    db_session.execute(sa.update(Import).where(Import.id == idle).values(
        last_activity_at=sa.func.now() - sa.text("interval '31 minutes'")))
    db_session.execute(sa.update(Import).where(Import.id == stalled).values(
        updated_at=sa.func.now() - sa.text("interval '5 minutes'")))
    expired = upload(db_session, f"Name,Email\nOld Timer,{unique('o')}@x.com\n")
    db_session.execute(sa.update(Import).where(Import.id == expired).values(
        created_at=sa.func.now() - sa.text("interval '31 days'")))
    resumed = dict(jobs.housekeeping(db_session, stall_seconds=60))
    assert db_session.get(Import, expired) is None
    db_session.commit()
    assert db_session.get(Import, idle).status == "cancelled"
    assert "inactivity" in db_session.get(Import, idle).message
    assert resumed[stalled] == db_session.get(Import, stalled).run_token


def test_database_wide_scan_groups_duplicates(db_session, contacts):
    u = uuid.uuid4().hex[:6]
    a = contacts.add(first_name="Gina", last_name="Lopez", email=f"gina{u}@acme.com", company="Acme")
    b = contacts.add(first_name="Gina", last_name="Lopez", email=f"g.lopez{u}@acme.com", company="ACME Inc")
    contacts.add(first_name="Solo", last_name="Person", email=f"solo{u}@x.com")
    record = DuplicateScan(status="scanning", groups=[])
    db_session.add(record)
    db_session.commit()
    assert scan.run_scan(db_session, record.id, contacts) == 1
    view = scan.view(db_session, db_session.get(DuplicateScan, record.id), None, 1, 50)
    assert view["items"][0]["match_type"] == "name_company"
    assert sorted(view["items"][0]["contact_ids"]) == sorted([a, b])
