"""The SQL over the projection agrees with the Python evaluator, and memberships follow the seed's rules."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm_shared.auth import Caller
from crm_shared.criteria import matches, validate_criteria
from crm_shared.errors import Conflict, NotFound
from crm_shared.events import parse_event, validate_event_data
from crm_shared.reliability import outbox
from segments import membership, operations, projection
from segments.models import SegmentMember
from segments.query import compile_criteria

NOW = datetime.now(UTC)
MARKETING = Caller(user_id="m1", role="marketing")
SALES = Caller(user_id="s1", role="sales")
PR = projection.P
MEMBERS = SegmentMember.__table__


def contact(**fields) -> dict:
    base = {"id": str(uuid.uuid4()), "first_name": "Test", "last_name": "Person",
            "email": f"{uuid.uuid4().hex}@example.com", "updated_at": NOW.isoformat()}
    return {**base, **fields}


PEOPLE = [
    contact(first_name="Ada", position="CTO", company="Analytical Engines", company_size=250, score=85,
            stage="Qualified", tags=["Enterprise", "VIP"], created_at=(NOW - timedelta(days=3)).isoformat(),
            custom_fields={"plan": "Gold", "seats": "1,200", "renewal": "2027-01-15", "vip": True},
            address={"city": "London", "country": "UK"}, owner_id="u1", channel="Webinar", type="Prospect"),
    contact(first_name="Bob", position="Marketing Manager", company="Widgets", company_size="51-200", score=40,
            stage="New", tags=[], created_at=(NOW - timedelta(days=40)).isoformat(), custom_fields={"plan": "free"},
            owner_id="u2", channel="Import"),
    contact(first_name="Cy", position=None, company=None, company_size=None, score=None, stage=None,
            created_at=None, custom_fields={}),
    contact(first_name="Di", position="Chief Executive Officer", company="Mega Corp", company_size=5000, score=95,
            stage="Hot Lead", tags=["vip"], created_at=(NOW - timedelta(days=1)).isoformat(),
            custom_fields={"seats": 20, "vip": "no"}, owner_id="u1", type="Customer"),
]

CONDITIONS = [
    {"field": "stage", "op": "eq", "value": "qualified"}, {"field": "stage", "op": "ne", "value": "Qualified"},
    {"field": "company", "op": "contains", "value": "corp"},
    {"field": "company", "op": "not_contains", "value": "corp"},
    {"field": "score", "op": "gt", "value": 80}, {"field": "score", "op": "gte", "value": 85},
    {"field": "score", "op": "lt", "value": 50}, {"field": "score", "op": "lte", "value": 85},
    {"field": "score", "op": "between", "value": [40, 90]}, {"field": "score", "op": "in", "value": [40, 95]},
    {"field": "score", "op": "not_in", "value": [40]}, {"field": "score", "op": "ne", "value": 85},
    {"field": "stage", "op": "in", "value": ["new", "HOT LEAD"]}, {"field": "stage", "op": "not_in", "value": ["New"]},
    {"field": "tags", "op": "contains", "value": "VIP"}, {"field": "tags", "op": "not_contains", "value": "vip"},
    {"field": "tags", "op": "in", "value": ["enterprise", "x"]}, {"field": "tags", "op": "not_in", "value": ["vip"]},
    {"field": "tags", "op": "exists", "value": True}, {"field": "tags", "op": "exists", "value": False},
    {"field": "stage", "op": "exists", "value": True}, {"field": "created_at", "op": "within_days", "value": 7},
    {"field": "created_at", "op": "between", "value": [(NOW - timedelta(days=5)).date().isoformat(),
                                                          NOW.date().isoformat()]},
    {"field": "created_at", "op": "lt", "value": (NOW - timedelta(days=2)).isoformat()},
    {"field": "company_size", "op": "gt", "value": 100}, {"field": "company_size", "op": "gte", "value": 51},
    {"field": "position", "op": "eq", "value": "C-Level"}, {"field": "position", "op": "ne", "value": "C-Level"},
    {"field": "position", "op": "contains", "value": "manager"},
    {"field": "position", "op": "in", "value": ["Founder", "c-level"]},
    {"field": "position", "op": "not_in", "value": ["C-Level"]},
    {"field": "role_class", "op": "eq", "value": "Manager"},
    {"field": "demo_requested", "op": "eq", "value": True}, {"field": "demo_requested", "op": "ne", "value": True},
    {"field": "engagement_level", "op": "gt", "value": 70}, {"field": "last_email_opened_at", "op": "within_days",
                                                             "value": 7},
    {"field": "campaign_ids", "op": "contains", "value": "camp-1"},
    {"field": "campaigns", "op": "in", "value": ["Spring Push"]},
    {"field": "event.webinar_attended", "op": "within_days", "value": 30},
    {"field": "city", "op": "eq", "value": "london"}, {"field": "name", "op": "contains", "value": "ada"},
    {"field": "owner_id", "op": "eq", "value": "u1"}, {"field": "channel", "op": "eq", "value": "webinar"},
    {"field": "type", "op": "ne", "value": "Customer"},
    {"field": "custom.plan", "op": "eq", "value": "GOLD"}, {"field": "custom.plan", "op": "ne", "value": "gold"},
    {"field": "custom.seats", "op": "gt", "value": 100}, {"field": "custom.seats", "op": "lte", "value": 100},
    {"field": "custom.renewal", "op": "gt", "value": "2026-12-01"}, {"field": "custom.vip", "op": "eq", "value": True},
    {"field": "custom.vip", "op": "ne", "value": True}, {"field": "custom.plan", "op": "exists", "value": True},
    {"field": "custom.seats", "op": "in", "value": [20, 30]}, {"field": "custom.plan", "op": "contains", "value": "ol"},
]


@pytest.fixture()
def people(db_session):
    projection.apply_snapshots(db_session, PEOPLE)
    ada, bob, _cy, di = (p["id"] for p in PEOPLE)
    projection.apply_score(db_session, {"contact_id": di, "score": 95, "fit": 40, "engagement": 75,
                                        "engagement_level": 75.0})
    projection.apply_engagement(db_session, di, "demo_requested", NOW - timedelta(days=2))
    projection.apply_engagement(db_session, ada, "email_opened", NOW - timedelta(days=1))
    projection.apply_engagement(db_session, bob, "webinar_attended", NOW - timedelta(days=3))
    projection.apply_campaign(db_session, bob, "camp-1", "Spring Push", True)
    db_session.flush()
    return [p["id"] for p in PEOPLE]


@pytest.mark.parametrize("cond", CONDITIONS, ids=lambda c: f"{c['field']}-{c['op']}")
def test_sql_agrees_with_python(db_session, people, cond):
    tree = validate_criteria({"all": [cond]})
    in_sql = set(db_session.scalars(sa.select(PR.c.contact_id).where(PR.c.contact_id.in_(people),
                                                                     compile_criteria(tree, NOW))))
    in_python = {cid for cid in people if matches(tree, projection.record(db_session, cid), now=NOW)}
    assert in_sql == in_python


def test_nested_groups_agree(db_session, people):
    tree = validate_criteria({"any": [{"all": [{"field": "score", "op": "gt", "value": 80},
                                               {"any": [{"field": "tags", "op": "contains", "value": "enterprise"},
                                                        {"field": "stage", "op": "eq", "value": "hot lead"}]}]},
                                      {"field": "company_size", "op": "lt", "value": 100}]})
    in_sql = set(db_session.scalars(sa.select(PR.c.contact_id).where(PR.c.contact_id.in_(people),
                                                                     compile_criteria(tree, NOW))))
    assert in_sql == {people[0], people[1], people[3]}  # Bob: "51-200" employees counts as 51
    assert in_sql == {cid for cid in people if matches(tree, projection.record(db_session, cid), now=NOW)}


def _members(session, segment_id) -> dict[str, tuple[bool, bool]]:
    return {r.contact_id: (r.manual, r.qualifies)
            for r in session.execute(sa.select(MEMBERS).where(MEMBERS.c.segment_id == segment_id))}


def _event_count(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(outbox)
                          .where(outbox.c.event_type == "segment_membership_changed"))


def test_refresh_manual_override_and_event_updates(db_session, people):
    ada, bob, _cy, di = people
    before = _event_count(db_session)
    segment, refresh = operations.create_segment(db_session, MARKETING, {
        "name": f"High value {uuid.uuid4().hex[:6]}",
        "criteria": {"all": [{"field": "score", "op": "gt", "value": 80}]}})
    mine = {cid: v for cid, v in _members(db_session, segment.id).items() if cid in people}
    assert mine == {ada: (False, True), di: (False, True)}
    assert refresh["joined"] >= 2
    assert _event_count(db_session) - before >= 2

    # manual override: Bob does not qualify but stays, flagged
    result, _ = operations.add_members(db_session, SALES, segment.id, [bob, "ghost"], known={bob})
    assert result["manual_override"] == [bob] and result["not_found"] == ["ghost"]
    assert _members(db_session, segment.id)[bob] == (True, False)

    # Ada's score drops: she leaves within the event path; Bob's rises: his flag clears
    projection.apply_score(db_session, {"contact_id": ada, "score": 50, "fit": 0, "engagement": 0,
                                        "engagement_level": 0}, NOW + timedelta(seconds=1))
    changes = membership.evaluate_contact(db_session, ada)
    assert [c.change for c in changes if c.segment_id == segment.id] == ["left"]
    projection.apply_score(db_session, {"contact_id": bob, "score": 90, "fit": 0, "engagement": 0,
                                        "engagement_level": 0}, NOW + timedelta(seconds=1))
    changes = membership.evaluate_contact(db_session, bob)
    assert [c.change for c in changes if c.segment_id == segment.id] == ["qualifies"]
    members = _members(db_session, segment.id)
    assert ada not in members and members[bob] == (True, True)

    # removal: only manual additions; a qualifying manual member keeps its automatic membership
    with pytest.raises(Conflict):
        operations.remove_members(db_session, MARKETING, segment.id, [di])
    result, _ = operations.remove_members(db_session, MARKETING, segment.id, [bob])
    assert result["kept_qualifying"] == [bob]
    assert _members(db_session, segment.id)[bob] == (False, True)

    # the set-based refresh agrees with the per-contact path
    again = membership.refresh_segment(db_session, segment)
    assert again.as_dict() == {"segment_id": segment.id, "joined": 0, "left": 0, "qualifies": 0,
                               "no_longer_qualifies": 0}


def test_deleted_contact_leaves_even_manual_segments(db_session, people):
    ada = people[0]
    segment, _ = operations.create_segment(db_session, MARKETING, {"name": f"Static {uuid.uuid4().hex[:6]}"})
    assert segment.kind == "static"
    operations.add_members(db_session, MARKETING, segment.id, [ada], known={ada})
    assert _members(db_session, segment.id) == {ada: (True, True)}
    membership.remove_contact(db_session, [ada])
    assert _members(db_session, segment.id) == {}


@pytest.mark.parametrize("cond", CONDITIONS, ids=lambda c: f"{c['field']}-{c['op']}")
def test_set_based_refresh_agrees_with_python(db_session, people, cond):
    tree = validate_criteria({"all": [cond]})
    segment, _ = operations.create_segment(db_session, MARKETING, {"name": f"Parity {uuid.uuid4().hex[:8]}",
                                                                  "criteria": tree})
    members = {cid for cid in _members(db_session, segment.id) if cid in people}
    assert members == {cid for cid in people if matches(tree, projection.record(db_session, cid))}


def test_one_pass_refresh_of_many_segments(db_session, people):
    trees = [validate_criteria({"all": [cond]}) for cond in CONDITIONS[:12]]
    segments = [operations.create_segment(db_session, MARKETING, {"name": f"Many {i} {uuid.uuid4().hex[:6]}",
                                                                  "criteria": tree})[0]
                for i, tree in enumerate(trees)]
    for cid in people:  # scores move behind the segments' backs (no per-contact evaluation)
        projection.apply_score(db_session, {"contact_id": cid, "score": 40, "fit": 0, "engagement": 0,
                                            "engagement_level": 0}, NOW + timedelta(minutes=1))
    results = {r.segment_id: r for r in membership.refresh_segments(db_session, segments)}
    assert set(results) == {s.id for s in segments}
    assert any(r.left or r.joined for r in results.values())
    for segment, tree in zip(segments, trees, strict=True):
        members = {cid for cid in _members(db_session, segment.id) if cid in people}
        assert members == {cid for cid in people if matches(tree, projection.record(db_session, cid))}


def _left_events(session, segment_id) -> list[dict]:
    return [r.envelope for r in session.execute(
        sa.select(outbox.c.envelope).where(outbox.c.event_type == "segment_membership_changed",
                                           outbox.c.envelope["data"]["segment_id"].astext == segment_id,
                                           outbox.c.envelope["data"]["change"].astext == "left"))]


def test_deleting_a_segment_makes_every_member_leave_through_the_outbox(db_session, people):
    ada, bob, _cy, di = people
    segment, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"Doomed {uuid.uuid4().hex[:6]}", "criteria": {"all": [{"field": "score", "op": "gt", "value": 80}]}})
    operations.add_members(db_session, SALES, segment.id, [bob], known={bob})  # manual, not qualifying
    members = _members(db_session, segment.id)
    assert {ada, bob, di} <= set(members) and members[bob] == (True, False)
    assert _left_events(db_session, segment.id) == []

    result = operations.delete_segment(db_session, MARKETING, segment.id)
    assert result == {"id": segment.id, "deleted": True, "left": len(members)}
    db_session.flush()

    events = _left_events(db_session, segment.id)
    assert sorted(e["data"]["contact_id"] for e in events) == sorted(members)  # one per member, manual too
    assert len({e["event_id"] for e in events}) == len(events)
    for envelope in events:
        assert envelope["source"] == "segments" and envelope["schema_version"] == 1
        assert parse_event(envelope)["data"] == envelope["data"]  # the published contract holds
        validate_event_data("segments", "segment_membership_changed", envelope["data"])
        data = envelope["data"]
        assert data["reason"] == "segment_deleted" and data["actor_id"] == MARKETING.user_id
        assert data["segment_name"] == segment.name and data["manual"] is (data["contact_id"] == bob)
    assert _members(db_session, segment.id) == {}
    assert all(m["segment_id"] != segment.id for m in operations.contact_memberships(db_session, ada))

    with pytest.raises(NotFound):  # deleting it again is a clean 404, with no further events
        operations.delete_segment(db_session, MARKETING, segment.id)
    with pytest.raises(NotFound):
        operations.member_ids(db_session, segment.id)
    assert len(_left_events(db_session, segment.id)) == len(members)


def test_deleting_an_empty_static_segment_publishes_nothing(db_session):
    segment, _ = operations.create_segment(db_session, MARKETING, {"name": f"Empty {uuid.uuid4().hex[:6]}"})
    before = _event_count(db_session)
    assert operations.delete_segment(db_session, MARKETING, segment.id)["left"] == 0
    assert _event_count(db_session) == before
