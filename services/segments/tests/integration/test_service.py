"""Event handlers through nameko's worker_factory on real PostgreSQL (savepoint-isolated).

The batch events replace one event per contact during imports and bulk
scoring: ``contacts.contacts_created`` and ``scoring.scores_changed``. Each
handler claims the event, applies every item to the projection and evaluates
the changed contacts together; a redelivery does nothing, and a late score
never overwrites a newer one.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from nameko.testing.services import worker_factory

from crm_shared.auth import Caller
from crm_shared.events import validate_event_data
from crm_shared.reliability import make_envelope, outbox, processed_events
from segments import membership, operations, projection
from segments.models import SegmentMember
from segments.service import SegmentsService

MARKETING = Caller(user_id="m1", role="marketing")
MEMBERS = SegmentMember.__table__
NOW = datetime.now(UTC)


def _contact(name: str, **fields) -> dict:
    return {"id": str(uuid.uuid4()), "first_name": name, "last_name": "Handler", "tags": [],
            "email": f"{name.lower()}.{uuid.uuid4().hex}@example.com", "updated_at": NOW.isoformat(), **fields}


def _score_body(contact_id: str, score: int) -> dict:
    return {"contact_id": contact_id, "score": score, "previous_score": None, "fit": score // 2,
            "engagement": score // 4, "engagement_level": score / 2, "reason": "bulk rescore"}


def _envelope(source: str, event_type: str, data: dict, occurred_at: datetime | None = None) -> dict:
    validate_event_data(source, event_type, data)  # the committed contract
    envelope = make_envelope(source, event_type, data)
    if occurred_at is not None:
        envelope["occurred_at"] = occurred_at.isoformat()
    return envelope


@pytest.fixture()
def evaluations(monkeypatch) -> list[list[str]]:
    """The contact lists handed to ``evaluate_contacts`` (the real one still runs)."""
    calls: list[list[str]] = []
    real = membership.evaluate_contacts

    def spy(session, contact_ids, now=None):
        calls.append(list(contact_ids))
        return real(session, contact_ids, now)

    monkeypatch.setattr(membership, "evaluate_contacts", spy)
    return calls


def _members(session, segment_id: str) -> dict[str, tuple[bool, bool]]:
    return {r.contact_id: (r.manual, r.qualifies)
            for r in session.execute(sa.select(MEMBERS).where(MEMBERS.c.segment_id == segment_id))}


def _events(session, segment_id: str) -> list[tuple[str, str]]:
    return [(r.envelope["data"]["contact_id"], r.envelope["data"]["change"]) for r in session.execute(
        sa.select(outbox.c.envelope).where(outbox.c.event_type == membership.EVENT,
                                           outbox.c.envelope["data"]["segment_id"].astext == segment_id)
        .order_by(outbox.c.id))]


def _claims(session, event_id: str) -> list[str]:
    return list(session.scalars(sa.select(processed_events.c.handler)
                                .where(processed_events.c.event_id == event_id)))


def test_contacts_created_projects_every_contact_and_evaluates_them_together(db_session, evaluations):
    tag = f"imp-{uuid.uuid4().hex[:8]}"
    segment, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"Imported {tag}", "criteria": {"all": [{"field": "tags", "op": "contains", "value": tag}]}})
    people = [_contact("Ann", tags=[tag], score=20), _contact("Ben", tags=[]), _contact("Cat", tags=[tag.upper()])]
    envelope = _envelope("contacts", "contacts_created", {
        "contacts": [{"contact_id": p["id"], "contact": p, "changed": [], "actor_id": "u1"} for p in people],
        "import_id": "imp-1"})
    service = worker_factory(SegmentsService, db=db_session)

    service.on_contacts_created(envelope)
    ann, ben, cat = (p["id"] for p in people)
    assert evaluations == [[ann, ben, cat]]  # one evaluation of the whole chunk
    assert {cid: projection.record(db_session, cid)["known"] for cid in (ann, ben, cat)} == \
        {ann: True, ben: True, cat: True}
    assert projection.record(db_session, ann)["score"] == 20
    assert _members(db_session, segment.id) == {ann: (False, True), cat: (False, True)}
    assert _events(db_session, segment.id) == [(ann, "joined"), (cat, "joined")]
    assert _claims(db_session, envelope["event_id"]) == ["segments.on_contacts_created"]

    service.on_contacts_created(envelope)   # redelivered: claimed already, nothing twice
    assert evaluations == [[ann, ben, cat]]
    assert _events(db_session, segment.id) == [(ann, "joined"), (cat, "joined")]


def test_contacts_created_ignores_snapshots_older_than_the_projection(db_session, evaluations):
    fresh = _contact("Dot", stage="Qualified")
    projection.apply_snapshots(db_session, [fresh])
    stale = {**fresh, "stage": "New", "updated_at": (NOW - timedelta(hours=1)).isoformat()}
    newcomer = _contact("Eli")
    service = worker_factory(SegmentsService, db=db_session)
    service.on_contacts_created(_envelope("contacts", "contacts_created", {
        "contacts": [{"contact_id": c["id"], "contact": c, "changed": [], "actor_id": None}
                     for c in (stale, newcomer)], "import_id": None}))
    assert projection.record(db_session, fresh["id"])["stage"] == "Qualified"
    assert evaluations == [[newcomer["id"]]]  # only the contact whose row changed is evaluated


def test_scores_changed_applies_every_score_and_keeps_newer_ones(db_session, evaluations):
    people = [_contact(n, score=10) for n in ("Fin", "Gil", "Hal")]
    projection.apply_snapshots(db_session, people)
    fin, gil, hal = (p["id"] for p in people)
    ghost = str(uuid.uuid4())  # scored before its snapshot arrives
    segment, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"Hot {uuid.uuid4().hex[:6]}", "criteria": {"all": [{"field": "score", "op": "gt", "value": 80}]}})
    service = worker_factory(SegmentsService, db=db_session)
    # Hal already has a newer score than the batch below carries.
    service.on_score_changed(_envelope("scoring", "score_changed", _score_body(hal, 20), NOW))
    assert evaluations == [[hal]]

    batch = _envelope("scoring", "scores_changed", {"changes": [
        _score_body(fin, 90), _score_body(gil, 85), _score_body(hal, 95), _score_body(ghost, 99)]},
        NOW - timedelta(minutes=5))
    service.on_scores_changed(batch)
    assert evaluations == [[hal], [fin, gil, ghost]]  # Hal's row kept its newer score: not re-evaluated
    scores = {cid: (r["score"], r["fit"], r["engagement"], r["engagement_level"], r["known"])
              for cid in (fin, gil, hal, ghost) for r in [projection.record(db_session, cid)]}
    assert scores == {fin: (90, 45, 22, 45.0, True), gil: (85, 42, 21, 42.5, True),
                      hal: (20, 10, 5, 10.0, True), ghost: (99, 49, 24, 49.5, False)}
    assert _members(db_session, segment.id) == {fin: (False, True), gil: (False, True)}
    assert _events(db_session, segment.id) == [(fin, "joined"), (gil, "joined")]

    service.on_scores_changed(batch)   # redelivered: claimed already, nothing twice
    assert len(evaluations) == 2
    assert _events(db_session, segment.id) == [(fin, "joined"), (gil, "joined")]
    assert _claims(db_session, batch["event_id"]) == ["segments.on_scores_changed"]

    # A newer batch moves them again, through the same path as a single score_changed.
    service.on_scores_changed(_envelope("scoring", "scores_changed", {"changes": [
        _score_body(fin, 30), _score_body(hal, 97)]}, NOW + timedelta(minutes=5)))
    assert _members(db_session, segment.id) == {gil: (False, True), hal: (False, True)}
    assert _events(db_session, segment.id)[2:] == [(fin, "left"), (hal, "joined")]


def test_the_last_score_of_a_contact_in_one_batch_wins(db_session):
    person = _contact("Ivy")
    projection.apply_snapshots(db_session, [person])
    assert projection.apply_scores(db_session, [_score_body(person["id"], 40), _score_body(person["id"], 70)],
                                   NOW) == [person["id"]]
    assert projection.record(db_session, person["id"])["score"] == 70
    assert projection.apply_scores(db_session, [], NOW) == []


def test_contacts_updated_re_evaluates_every_merged_contact_together(db_session, evaluations):
    tag = f"mrg-{uuid.uuid4().hex[:8]}"
    segment, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"Merged {tag}", "criteria": {"all": [{"field": "tags", "op": "contains", "value": tag}]}})
    ann, ben = _contact("Ann", tags=[tag]), _contact("Ben", tags=[])
    projection.apply_snapshots(db_session, [ann, ben])
    membership.evaluate_contacts(db_session, [ann["id"], ben["id"]])
    evaluations.clear()
    later = (NOW + timedelta(seconds=5)).isoformat()
    merged = [{**ann, "tags": [], "updated_at": later}, {**ben, "tags": [tag], "updated_at": later}]
    envelope = _envelope("contacts", "contacts_updated", {
        "contacts": [{"contact_id": c["id"], "contact": c, "changed": ["tags"], "actor_id": "u1"} for c in merged],
        "import_id": "imp-2"})
    service = worker_factory(SegmentsService, db=db_session)
    service.on_contacts_updated(envelope)
    service.on_contacts_updated(envelope)   # redelivered
    assert evaluations == [[ann["id"], ben["id"]]]
    assert _members(db_session, segment.id) == {ben["id"]: (False, True)}
    assert _events(db_session, segment.id)[-2:] == [(ann["id"], "left"), (ben["id"], "joined")]
