"""Evaluating many contacts at once gives exactly what evaluating them one by one gives.

The batch events (``contacts_created``, ``scores_changed``) evaluate up to 1,000
contacts with ``membership.evaluate_contacts``; these tests build one scenario
with every kind of change (joins, leaves, a manual member qualifying again, a
manual member that stops qualifying, a static segment that must not move) and
compare the batch with the one-by-one path and with the expected outcome.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm_shared.auth import Caller
from crm_shared.events import validate_event_data
from crm_shared.reliability import outbox
from segments import membership, operations, projection
from segments.models import Segment, SegmentMember

NOW = datetime.now(UTC)
MARKETING = Caller(user_id="m1", role="marketing")
MEMBERS = SegmentMember.__table__


def _contact(name: str, **fields) -> dict:
    return {"id": str(uuid.uuid4()), "first_name": name, "last_name": "Batch", "tags": [],
            "email": f"{name.lower()}.{uuid.uuid4().hex}@example.com", "updated_at": NOW.isoformat(), **fields}


def _score(session, contact_id: str, score: int) -> None:
    """A score moves behind the segments' backs (no evaluation yet)."""
    projection.apply_score(session, {"contact_id": contact_id, "score": score, "fit": 0, "engagement": 0,
                                     "engagement_level": 0.0}, NOW + timedelta(minutes=1))


@pytest.fixture()
def scenario(db_session):
    tag = f"batch-{uuid.uuid4().hex[:8]}"
    people = {
        "ada": _contact("Ada", score=85, tags=[tag], stage="Qualified"),
        "bob": _contact("Bob", score=40),
        "cy": _contact("Cy", score=90),
        "di": _contact("Di", score=30, tags=[tag]),
        "eve": _contact("Eve", score=60, company_size=500, stage="New"),
        "fay": _contact("Fay", score=88),
    }
    projection.apply_snapshots(db_session, people.values())
    ids = {k: v["id"] for k, v in people.items()}
    suffix = uuid.uuid4().hex[:6]
    high, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"High {suffix}", "criteria": {"all": [{"field": "score", "op": "gt", "value": 80}]}})
    tagged, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"Tagged {suffix}", "criteria": {"all": [{"field": "tags", "op": "contains", "value": tag},
                                                         {"field": "stage", "op": "ne", "value": "Lost"}]}})
    big, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"Big {suffix}", "criteria": {"all": [{"field": "company_size", "op": "gt", "value": 100}]}})
    static, _ = operations.create_segment(db_session, MARKETING, {"name": f"Static {suffix}"})
    operations.add_members(db_session, MARKETING, high.id, [ids["bob"], ids["cy"]], known=set(ids.values()))
    operations.add_members(db_session, MARKETING, static.id, [ids["ada"], ids["di"]], known=set(ids.values()))
    segments = {"high": high.id, "tagged": tagged.id, "big": big.id, "static": static.id}
    for n, segment_id in enumerate(segments.values()):  # one transaction's now(): make the order explicit
        db_session.execute(sa.update(Segment).where(Segment.id == segment_id)
                           .values(created_at=NOW + timedelta(seconds=n)))
    assert _memberships(db_session, segments.values()) == {
        (high.id, ids["ada"]): (False, True), (high.id, ids["bob"]): (True, False),
        (high.id, ids["cy"]): (True, True), (high.id, ids["fay"]): (False, True),
        (tagged.id, ids["ada"]): (False, True), (tagged.id, ids["di"]): (False, True),
        (big.id, ids["eve"]): (False, True),
        (static.id, ids["ada"]): (True, True), (static.id, ids["di"]): (True, True)}

    # The projection moves without evaluation, as a batch event's appliers leave it.
    _score(db_session, ids["ada"], 50)                      # leaves High
    projection.apply_stage(db_session, ids["ada"], "Lost")  # leaves Tagged
    _score(db_session, ids["bob"], 90)                      # manual, qualifies again
    _score(db_session, ids["cy"], 10)                       # manual, no longer qualifies (stays)
    _score(db_session, ids["di"], 95)                       # joins High; static membership untouched
    newcomer = _contact("Gus", score=20, tags=[tag], company_size=1000)
    projection.apply_snapshots(db_session, [newcomer])      # joins Tagged and Big
    ids["gus"] = newcomer["id"]
    ids["ghost"] = str(uuid.uuid4())                        # not in the projection: nothing happens
    db_session.flush()
    return ids, segments


def _memberships(session, segment_ids) -> dict[tuple[str, str], tuple[bool, bool]]:
    return {(r.segment_id, r.contact_id): (r.manual, r.qualifies)
            for r in session.execute(sa.select(MEMBERS).where(MEMBERS.c.segment_id.in_(list(segment_ids))))}


def _run(session, segments: dict[str, str], evaluate) -> tuple[list, dict, list]:
    """Evaluate inside a savepoint and roll it back: (changes, memberships after, outbox event bodies)."""
    savepoint = session.begin_nested()
    last = session.scalar(sa.select(sa.func.coalesce(sa.func.max(outbox.c.id), 0)))
    changes = evaluate()
    session.flush()
    members = _memberships(session, segments.values())
    events = [r.envelope["data"] for r in session.execute(
        sa.select(outbox.c.envelope).where(outbox.c.id > last, outbox.c.event_type == membership.EVENT)
        .order_by(outbox.c.id))]
    savepoint.rollback()
    return changes, members, events


def _expected(ids: dict[str, str], segments: dict[str, str]) -> list[tuple[str, str, str, bool]]:
    """(segment, contact, change, manual) in contact order, then segment (creation) order."""
    high, tagged, big = segments["high"], segments["tagged"], segments["big"]
    return [(high, ids["ada"], "left", False), (tagged, ids["ada"], "left", False),
            (high, ids["bob"], "qualifies", True),
            (high, ids["cy"], "no_longer_qualifies", True),
            (high, ids["di"], "joined", False),
            (tagged, ids["gus"], "joined", False), (big, ids["gus"], "joined", False)]


@pytest.mark.parametrize("chunk", [membership.EVALUATE_CHUNK, 2], ids=["one-chunk", "chunks-of-2"])
def test_batch_gives_exactly_what_one_by_one_gives(db_session, scenario, monkeypatch, chunk):
    ids, segments = scenario
    monkeypatch.setattr(membership, "EVALUATE_CHUNK", chunk)
    order = [ids[k] for k in ("ada", "bob", "cy", "di", "eve", "fay", "gus", "ghost")]
    before = _memberships(db_session, segments.values())

    single = _run(db_session, segments,
                  lambda: [c for cid in order for c in membership.evaluate_contact(db_session, cid)])
    batch = _run(db_session, segments, lambda: membership.evaluate_contacts(db_session, order))
    assert _memberships(db_session, segments.values()) == before  # both runs were rolled back

    changes, members, events = batch
    assert [(c.segment_id, c.contact_id, c.change, c.manual) for c in changes] == _expected(ids, segments)
    assert batch == single   # same changes in the same order, same memberships, same outbox events
    assert events == [c.data() for c in changes]
    for data in events:
        validate_event_data("segments", "segment_membership_changed", data)

    high, tagged, big, static = (segments[k] for k in ("high", "tagged", "big", "static"))
    assert members == {
        (high, ids["bob"]): (True, True), (high, ids["cy"]): (True, False),
        (high, ids["di"]): (False, True), (high, ids["fay"]): (False, True),
        (tagged, ids["di"]): (False, True), (tagged, ids["gus"]): (False, True),
        (big, ids["eve"]): (False, True), (big, ids["gus"]): (False, True),
        (static, ids["ada"]): (True, True), (static, ids["di"]): (True, True)}
    assert not any(e["segment_id"] == static for e in events)


def test_a_second_evaluation_changes_nothing_and_duplicates_count_once(db_session, scenario):
    ids, segments = scenario
    order = [ids[k] for k in ("gus", "ada", "gus", "di")]
    changes = membership.evaluate_contacts(db_session, order)
    assert [(c.contact_id, c.change) for c in changes] == [
        (ids["gus"], "joined"), (ids["gus"], "joined"), (ids["ada"], "left"), (ids["ada"], "left"),
        (ids["di"], "joined")]
    assert membership.evaluate_contacts(db_session, order) == []
    assert membership.evaluate_contacts(db_session, []) == []


def test_the_batch_agrees_with_the_full_refresh(db_session, scenario):
    ids, segments = scenario
    membership.evaluate_contacts(db_session, list(ids.values()))
    dynamic = [db_session.get(Segment, segments[k]) for k in ("high", "tagged", "big")]
    results = membership.refresh_segments(db_session, dynamic)
    assert all(r.as_dict() == {"segment_id": r.segment_id, "joined": 0, "left": 0, "qualifies": 0,
                               "no_longer_qualifies": 0} for r in results)


def test_adding_many_manual_members_tests_their_qualification_together(db_session, scenario):
    ids, segments = scenario
    added = [ids["eve"], ids["gus"]]  # Eve does not meet Tagged's criteria, Gus does (not evaluated yet)
    result, changes = operations.add_members(db_session, MARKETING, segments["tagged"], added, known=set(added))
    assert result["added"] == added and result["manual_override"] == [ids["eve"]]
    assert _memberships(db_session, [segments["tagged"]])[(segments["tagged"], ids["gus"])] == (True, True)
    assert [c.change for c in changes] == ["joined", "joined"]


def test_a_join_another_transaction_made_first_is_not_reported_again(db_session, scenario, monkeypatch):
    ids, segments = scenario
    real = membership._insert_members

    def racing(session, keys, stamp):  # the row appears between our lock query and our insert
        session.execute(MEMBERS.insert().values(segment_id=segments["tagged"], contact_id=ids["gus"],
                                                manual=False, qualifies=True))
        return real(session, keys, stamp)

    monkeypatch.setattr(membership, "_insert_members", racing)
    changes = membership.evaluate_contacts(db_session, [ids["gus"], ids["di"]])
    assert [(c.segment_id, c.contact_id, c.change) for c in changes] == [
        (segments["big"], ids["gus"], "joined"), (segments["high"], ids["di"], "joined")]
    assert _memberships(db_session, [segments["tagged"]])[(segments["tagged"], ids["gus"])] == (False, True)
