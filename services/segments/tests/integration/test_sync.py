"""Rebuild, confirmation of unknown ids, merges: sync functions with a fake contacts service."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from crm_shared.auth import Caller
from segments import operations, projection, sync
from segments.models import SegmentMember

MARKETING = Caller(user_id="m1", role="marketing")
MEMBERS = SegmentMember.__table__


class _Reply:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class _Method:
    def __init__(self, fn):
        self.fn = fn

    def call_async(self, *args, **kwargs):
        return _Reply(self.fn(*args, **kwargs))


class FakeContacts:
    """The contacts RPCs sync uses, over an in-memory list (a fake, not a mock)."""

    def __init__(self, contacts: list[dict]):
        self.contacts = sorted(contacts, key=lambda c: c["id"])
        self.get_contacts = _Method(lambda ids: [c for c in self.contacts if c["id"] in ids])
        self.iter_contacts = _Method(self._page)

    def _page(self, after_id=None, limit=1000):
        items = [c for c in self.contacts if after_id is None or c["id"] > after_id][:limit]
        more = len(items) == limit
        return {"items": items, "next_after_id": items[-1]["id"] if items and more else None}


def contact(**fields) -> dict:
    return {"id": str(uuid.uuid4()), "first_name": "Sync", "last_name": "Test", "tags": [],
            "updated_at": datetime.now(UTC).isoformat(), **fields}


def test_ensure_known_fetches_contacts_the_projection_has_not_seen(db_session):
    fresh = contact(company_size=10)
    known = sync.ensure_known(db_session, FakeContacts([fresh]), [fresh["id"], "nobody"])
    assert known == {fresh["id"]}
    assert projection.record(db_session, fresh["id"])["company_size"] == 10


def test_rebuild_reads_every_page_drops_vanished_and_refreshes(db_session):
    tag = uuid.uuid4().hex[:10]
    gone = contact(tags=[tag])
    projection.apply_snapshots(db_session, [gone])
    db_session.execute(projection.P.update().where(projection.P.c.contact_id == gone["id"])
                       .values(projected_at=datetime.now(UTC) - timedelta(hours=1)))
    people = [contact(tags=[tag], company_size=i * 100) for i in range(5)]
    segment, _ = operations.create_segment(db_session, MARKETING, {
        "name": f"Rebuild {tag}", "criteria": {"all": [{"field": "tags", "op": "contains", "value": tag}]}})
    result = sync.rebuild_projection(db_session, FakeContacts(people), page_size=2)
    assert result["contacts"] == 5 and result["pages"] == 3 and result["removed"] >= 1
    assert projection.record(db_session, gone["id"]) is None
    members = set(db_session.scalars(sa.select(MEMBERS.c.contact_id).where(MEMBERS.c.segment_id == segment.id)))
    assert members == {p["id"] for p in people}


def test_merge_moves_manual_additions_to_the_primary(db_session):
    primary, duplicate = contact(), contact()
    projection.apply_snapshots(db_session, [primary, duplicate])
    static, _ = operations.create_segment(db_session, MARKETING, {"name": f"Merge {uuid.uuid4().hex[:6]}"})
    operations.add_members(db_session, MARKETING, static.id, [duplicate["id"]], known={duplicate["id"]})
    assert sync.merge(db_session, {"primary_id": primary["id"], "merged_ids": [duplicate["id"]],
                                   "contact": primary}) == [primary["id"]]
    rows = db_session.execute(sa.select(MEMBERS.c.contact_id, MEMBERS.c.manual)
                              .where(MEMBERS.c.segment_id == static.id)).all()
    assert [(r.contact_id, r.manual) for r in rows] == [(primary["id"], True)]
    assert projection.record(db_session, duplicate["id"]) is None


def test_older_snapshots_do_not_overwrite_newer_ones(db_session):
    c = contact(stage="Qualified")
    projection.apply_snapshots(db_session, [c])
    older = {**c, "stage": "New", "updated_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}
    assert projection.apply_snapshots(db_session, [older]) == []
    assert projection.record(db_session, c["id"])["stage"] == "Qualified"


def test_late_events_do_not_bring_back_a_deleted_or_erased_contact(db_session):
    """Each event type has its own queue: an update in flight can arrive after the delete or the erasure."""
    from segments import erasure
    from segments.models import DeletedContact

    deleted, erased, merged_away, kept = contact(email="gone@example.com"), contact(), contact(), contact()
    projection.apply_snapshots(db_session, [deleted, erased, merged_away, kept])
    sync.forget(db_session, [deleted["id"]])
    erasure.erase_contact(db_session, erased["id"])
    sync.merge(db_session, {"primary_id": kept["id"], "merged_ids": [merged_away["id"]], "contact": kept})
    gone = [deleted["id"], erased["id"], merged_away["id"]]
    assert sorted(db_session.scalars(sa.select(DeletedContact.contact_id)
                                     .where(DeletedContact.contact_id.in_(gone)))) == sorted(gone)

    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert projection.apply_snapshots(db_session, [{**c, "stage": "Qualified", "updated_at": later}
                                                   for c in (deleted, erased, merged_away, kept)]) == [kept["id"]]
    projection.apply_scores(db_session, [{"contact_id": cid, "score": 95, "fit": 50, "engagement": 45,
                                          "engagement_level": 0.9} for cid in gone])
    projection.apply_engagements(db_session, [(cid, "demo_requested", later) for cid in gone])
    projection.apply_campaign(db_session, erased["id"], str(uuid.uuid4()), "Launch", True)
    assert [projection.record(db_session, cid) for cid in gone] == [None, None, None]
    assert projection.record(db_session, kept["id"])["stage"] == "Qualified"
