"""Scoring operations on the real database: the bulk (SQL) path scores exactly like the one-contact path,
and the rule engine's evaluation, blocking and run log."""
from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from scoring import automation, bulk, operations
from scoring.model import default_model
from scoring.models import EngagementEvent, ModelVersion, RuleRun, Score

NOW = datetime.now(UTC)
POSITIONS = ["CEO", "VP of Sales", "Sales Manager", "Barista", None, "Head of Procurement"]
INDUSTRIES = ["SaaS", "Retail", "Agriculture", None, "Oil & Gas"]
TYPES = ["email_opened", "email_clicked", "page_visited", "pricing_page_visited", "demo_requested",
         "webinar_attended", "unsubscribed", "subscribed", "whitepaper_downloaded"]


def make_contact(db, rng: random.Random, **attrs) -> str:
    cid = str(uuid.uuid4())
    operations.upsert_profile(db, {"id": cid, "email": f"{cid}@example.com", "stage": "New",
                                   "position": rng.choice(POSITIONS), "industry": rng.choice(INDUSTRIES), **attrs})
    return cid


def _use_model(db, **change) -> dict:
    version, model = operations.current_model(db)
    db.add(ModelVersion(version=version + 1, config={**model, **change}, created_by="test", note="test"))
    db.flush()
    return operations.current_model(db)[1]


@pytest.mark.parametrize("change", [{}, {"active_model": "weighted"},
                                    {"derived": {**default_model()["derived"], "activity_spike": {
                                        "label": "spike", "points": 7, "min_events": 2, "window_hours": 240}}}])
def test_bulk_rescore_matches_the_one_contact_path(db_session, change):
    rng = random.Random(7)
    model = _use_model(db_session, **change)
    ids = [make_contact(db_session, rng) for _ in range(60)]
    for cid in ids:
        for _ in range(rng.randint(0, 12)):
            db_session.add(EngagementEvent(id=str(uuid.uuid4()), contact_id=cid, type=rng.choice(TYPES),
                                           occurred_at=NOW - timedelta(hours=rng.uniform(0, 24 * 120)),
                                           properties={}, source="test"))
    db_session.flush()
    result = bulk.rescore_all(db_session, "test", NOW)
    assert result["contacts"] >= 60 and result["changed"] >= 60
    assert result["model_version"] == operations.current_model(db_session)[0]
    stored = {s.contact_id: s for s in db_session.execute(sa.select(Score).where(Score.contact_id.in_(ids)))
              .scalars()}
    for cid in ids:
        expected = operations.compute(db_session, operations.profile_or_none(db_session, cid), model, NOW)["result"]
        got = stored[cid]
        assert (got.score, got.fit, got.engagement) == (expected["score"], expected["fit"], expected["engagement"])
    changes = {c["contact_id"]: c for c in _outbox_changes(db_session) if c["contact_id"] in ids}
    assert len(changes) == 60
    assert all(changes[cid]["score"] == stored[cid].score and changes[cid]["previous_score"] is None for cid in ids)
    again = bulk.rescore_all(db_session, "test", NOW)
    assert again["changed"] == 0


def _outbox_changes(db) -> list[dict]:
    """Every change in pending ``scores_changed`` outbox rows; no ``score_changed`` row may be left beside them."""
    rows = db.execute(sa.text("SELECT event_type, envelope FROM outbox WHERE published_at IS NULL "
                              "AND event_type IN ('score_changed', 'scores_changed') ORDER BY id")).all()
    assert {r.event_type for r in rows} <= {"scores_changed"}
    return [c for r in rows for c in r.envelope["data"]["changes"]]


def test_bulk_rescore_publishes_scores_changed_chunks_in_the_envelope_contract(db_session, monkeypatch):
    from crm_shared.events import parse_event, validate_event_data

    monkeypatch.setattr(operations, "EVENT_BATCH_LIMIT", 7)
    rng = random.Random(11)
    ids = [make_contact(db_session, rng, position="CEO", industry=None) for _ in range(15)]
    db_session.execute(sa.text("DELETE FROM outbox WHERE published_at IS NULL"))
    bulk.rescore_all(db_session, "periodic rescore", NOW)
    rows = db_session.execute(sa.text("SELECT event_id, source, event_type, envelope FROM outbox "
                                      "WHERE published_at IS NULL ORDER BY id")).all()
    assert [len(r.envelope["data"]["changes"]) for r in rows] == [7, 7, 1]   # 15 changed contacts
    assert {r.event_type for r in rows} == {"scores_changed"} and {r.source for r in rows} == {"scoring"}
    for row in rows:
        envelope = row.envelope
        assert envelope["event_id"] == row.event_id and envelope["event_type"] == "scores_changed"
        assert (envelope["schema_version"], envelope["source"]) == (1, "scoring")
        assert datetime.fromisoformat(envelope["occurred_at"]) == NOW
        parse_event(envelope)
        validate_event_data("scoring", "scores_changed", envelope["data"])
    items = [c for r in rows for c in r.envelope["data"]["changes"]]
    assert sorted(c["contact_id"] for c in items) == sorted(ids)
    assert {c["reason"] for c in items} == {"periodic rescore"} and {c["score"] for c in items} == {20}
    assert len({r.event_id for r in rows}) == 3


def test_rescore_publishes_only_on_change_and_keeps_history(db_session):
    rng = random.Random(1)
    cid = make_contact(db_session, rng, position="CEO", industry="SaaS")
    published: list[tuple[str, dict]] = []
    profile = operations.profile_or_none(db_session, cid)
    first = operations.rescore(db_session, lambda t, d: published.append((t, d)), profile, "created", NOW)
    assert first["changed"] and first["result"]["score"] == 40
    operations.rescore(db_session, lambda t, d: published.append((t, d)), profile, "again", NOW)
    assert [t for t, _ in published] == ["score_changed"]
    assert operations.history(db_session, cid)[0]["score"] == 40


def test_rules_run_in_priority_order_and_a_blocking_match_stops(db_session):
    rng = random.Random(2)
    cid = make_contact(db_session, rng, tags=["x"])
    done: list[str] = []

    def execute(action, profile, rule):
        done.append(rule["name"])
        return {"type": action["type"], "description": "", "outcome": "ok", "error": None}

    criteria = {"all": [{"field": "email", "op": "eq", "value": f"{cid}@example.com"}]}
    for name, priority, blocking in (("low", 9, False), ("blocker", 2, True), ("top", 1, False)):
        automation.create_rule(db_session, "admin", {
            "name": name, "trigger": {"type": "event", "event_types": ["demo_requested"]}, "criteria": criteria,
            "actions": [{"type": "add_tag", "tags": [name]}], "priority": priority, "blocking": blocking})
    profile = operations.profile_or_none(db_session, cid)
    automation.evaluate(db_session, profile, {"kind": "event", "event_type": "demo_requested"}, execute, NOW)
    assert done == ["top", "blocker"]
    logged = db_session.execute(sa.select(RuleRun.outcome).where(RuleRun.contact_id == cid)).scalars().all()
    assert logged == ["success", "success"]


def test_time_since_rule_acts_once_per_quiet_spell(db_session):
    rng = random.Random(3)
    cid = make_contact(db_session, rng)
    db_session.add(EngagementEvent(id=str(uuid.uuid4()), contact_id=cid, type="email_clicked",
                                   occurred_at=NOW - timedelta(hours=30), properties={}, source="test"))
    acted: list[str] = []
    rule = automation.create_rule(db_session, "admin", {
        "name": "untouched", "trigger": {"type": "time_since_event", "event": "last_activity", "hours": 24},
        "criteria": {"all": [{"field": "email", "op": "eq", "value": f"{cid}@example.com"}]},
        "actions": [{"type": "set_stage", "stage": "Nurturing"}], "mode": {"type": "periodic"}})
    execute = lambda action, profile, r: acted.append(profile.contact_id) or {  # noqa: E731
        "type": action["type"], "description": "", "outcome": "ok", "error": None}
    automation.run_now(db_session, rule["id"], execute, NOW)
    automation.run_now(db_session, rule["id"], execute, NOW + timedelta(minutes=5))
    assert acted == [cid]
    db_session.add(EngagementEvent(id=str(uuid.uuid4()), contact_id=cid, type="email_clicked",
                                   occurred_at=NOW + timedelta(hours=1), properties={}, source="test"))
    automation.run_now(db_session, rule["id"], execute, NOW + timedelta(hours=26))
    assert acted == [cid, cid]
