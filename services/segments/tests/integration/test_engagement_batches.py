"""The batch engagement facts on real PostgreSQL: ``scoring.engagements_recorded`` and ``messaging.emails_opened``
leave the projection and the memberships as their single events applied one by one do, in a fixed number
of statements, once per event id.

``apply_engagements`` replaced one conditional UPDATE per fact; that statement is kept here as the
reference (``_reference_apply_engagement``, as ``apply_engagement`` was before the batch events).
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from nameko.testing.services import worker_factory
from sqlalchemy.dialects.postgresql import insert

from crm_shared.criteria import to_datetime
from crm_shared.testing.helpers import statements
from segments import operations, projection
from segments.service import SegmentsService
from services.segments.tests.integration.test_service import (
    MARKETING,
    _claims,
    _contact,
    _envelope,
    _events,
    _members,
)
from services.segments.tests.integration.test_service import evaluations as evaluations  # the fixture

P = projection.P
NOW = datetime.now(UTC)


def _reference_apply_engagement(session, contact_id: str, kind: str, occurred_at: Any) -> bool:
    """The per-fact UPDATE ``apply_engagement`` ran before the batch events."""
    moment = (to_datetime(occurred_at) or datetime.now(UTC)).astimezone(UTC)
    kind = str(kind).strip().lower()
    session.execute(insert(P).values(contact_id=contact_id, known=False).on_conflict_do_nothing())
    previous = sa.cast(P.c.events.op("->>")(kind), sa.DateTime(timezone=True))
    values: dict[str, Any] = {"events": P.c.events.op("||")(sa.func.jsonb_build_object(kind, moment.isoformat())),
                              "projected_at": sa.func.now()}
    if kind == "demo_requested":
        values["demo_requested"] = True
    if kind == "email_opened":
        values["last_email_opened_at"] = moment
    return session.execute(P.update().where(P.c.contact_id == contact_id, sa.or_(
        previous.is_(None), previous < moment)).values(**values)).rowcount > 0


def _rows(session, ids) -> dict[str, dict]:
    return {r["contact_id"]: {k: v for k, v in r.items() if k not in ("contact_id", "email", "projected_at")}
            for r in session.execute(sa.select(P).where(P.c.contact_id.in_(ids))).mappings()}


def _at(minutes: int) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


def _engagement(contact_id: str, kind: str, at: str) -> dict:
    return {"contact_id": contact_id, "engagement_event_id": str(uuid.uuid4()), "type": kind, "occurred_at": at,
            "properties": {}}


def _twins(session, n: int) -> tuple[list[str], list[str]]:
    """Pairs of identical contacts: one side gets the facts one by one, the other as a batch."""
    one, many = [], []
    for i in range(n):
        for side in (one, many):
            person = _contact("Twin", stage="New" if i % 2 else "Qualified")
            projection.apply_snapshots(session, [person])
            side.append(person["id"])
    return one, many


def test_apply_engagements_stores_what_one_update_per_fact_stored(db_session):
    one, many = _twins(db_session, 4)
    ghost_one, ghost_many = str(uuid.uuid4()), str(uuid.uuid4())   # facts before the contact's snapshot
    before = [(0, "email_opened", _at(0)), (1, "demo_requested", _at(0))]
    facts = [(0, "email_opened", _at(-5)),     # older than stored: nothing changes
             (1, "demo_requested", _at(3)), (1, "email_opened", _at(3)), (1, "webinar_attended", _at(1)),
             (2, "email_sent", _at(1)), (2, "email_sent", _at(4)), (2, "email_sent", _at(2)),  # the latest wins
             (3, " Email_Opened ", _at(2)), (4, "email_opened", _at(1))]
    ids = {"one": [*one, ghost_one], "many": [*many, ghost_many]}
    for i, kind, at in before:
        for side in ids.values():
            _reference_apply_engagement(db_session, side[i], kind, at)
    expected = [ids["one"][i] for i, kind, at in facts if _reference_apply_engagement(db_session, ids["one"][i],
                                                                                        kind, at)]
    changed = projection.apply_engagements(db_session, [(ids["many"][i], kind, at) for i, kind, at in facts])
    twin = dict(zip(ids["one"], ids["many"], strict=True))
    assert changed == list(dict.fromkeys(twin[c] for c in expected))
    assert changed == [ids["many"][i] for i in (1, 2, 3, 4)]
    rows = _rows(db_session, ids["one"] + ids["many"])
    assert {twin[c]: r for c, r in rows.items() if c in twin} == {c: r for c, r in rows.items() if c not in twin}
    assert rows[ids["many"][1]]["demo_requested"] is True and rows[ids["many"][4]]["known"] is False
    assert projection.apply_engagements(db_session, []) == []
    assert projection.apply_engagements(db_session, [("", "email_opened", _at(0))]) == []   # mail with no contact
    assert _rows(db_session, [""]) == {}


def test_engagements_recorded_applies_the_batch_and_evaluates_it_together(db_session, evaluations):
    people = [_contact(n) for n in ("Jo", "Kit", "Lou")]
    projection.apply_snapshots(db_session, people)
    jo, kit, lou = (p["id"] for p in people)
    segment, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"Demo {uuid.uuid4().hex[:6]}",
        "criteria": {"all": [{"field": "demo_requested", "op": "eq", "value": True}]}})
    service = worker_factory(SegmentsService, db=db_session)
    batch = _envelope("scoring", "engagements_recorded", {"engagements": [
        _engagement(jo, "demo_requested", _at(0)), _engagement(kit, "email_sent", _at(0)),
        _engagement(lou, "demo_requested", _at(0))]})
    service.on_engagements_recorded(batch)
    assert evaluations == [[jo, kit, lou]]
    assert _members(db_session, segment.id) == {jo: (False, True), lou: (False, True)}
    assert _events(db_session, segment.id) == [(jo, "joined"), (lou, "joined")]
    assert _claims(db_session, batch["event_id"]) == ["segments.on_engagements_recorded"]
    service.on_engagements_recorded(batch)   # redelivered: claimed already, nothing twice
    assert len(evaluations) == 1 and _events(db_session, segment.id) == [(jo, "joined"), (lou, "joined")]


def test_emails_opened_does_what_email_opened_does_one_by_one(db_session, evaluations):
    one, many = _twins(db_session, 3)
    segment, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"Opened {uuid.uuid4().hex[:6]}",
        "criteria": {"all": [{"field": "last_email_opened_at", "op": "within_days", "value": 7}]}})
    service = worker_factory(SegmentsService, db=db_session)
    fact = lambda cid: {"contact_id": cid, "email_id": str(uuid.uuid4()), "subject": "Hi"}  # noqa: E731
    for cid in one:
        service.on_email_opened(_envelope("messaging", "email_opened", fact(cid), NOW))
    batch = _envelope("messaging", "emails_opened", {"emails": [fact(cid) for cid in many]}, NOW)
    service.on_emails_opened(batch)
    assert evaluations == [[cid] for cid in one] + [many]
    rows = _rows(db_session, one + many)
    assert [rows[cid] for cid in one] == [rows[cid] for cid in many]
    assert all(rows[cid]["last_email_opened_at"] == NOW for cid in many)
    assert _members(db_session, segment.id) == {cid: (False, True) for cid in one + many}
    service.on_emails_opened(batch)   # redelivered: claimed already, nothing twice
    assert len(evaluations) == 4
    assert _claims(db_session, batch["event_id"]) == ["segments.on_emails_opened"]


def test_the_projection_statements_do_not_grow_with_the_batch(db_session, monkeypatch):
    from segments import membership

    monkeypatch.setattr(membership, "evaluate_contacts", lambda session, ids, now=None: [])
    service = worker_factory(SegmentsService, db=db_session)
    counts = []
    for n in (3, 300):
        batch = _envelope("messaging", "emails_opened", {"emails": [
            {"contact_id": str(uuid.uuid4()), "email_id": str(uuid.uuid4()), "subject": ""} for _ in range(n)]})
        with statements(db_session) as seen:
            service.on_emails_opened(batch)
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 4   # claim, INSERT the unseen rows, one UPDATE (plus the commit's)
