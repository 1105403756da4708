"""Batch events on real PostgreSQL: ``rescore_many`` scores like the one-contact path, and the
``contacts_created`` / ``scores_changed`` handlers (driven through nameko's worker_factory) do the
work of their per-contact twins in a few statements, once per event id."""
from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from nameko.testing.services import worker_factory

from crm_shared.events import validate_event_data
from crm_shared.reliability import make_envelope
from crm_shared.testing.helpers import statements
from scoring import automation, engine, operations
from scoring.models import ContactProfile, EngagementEvent, Rule, RuleRun, Score, ScoreHistory
from scoring.service import ScoringService
from services.scoring.tests.integration.fakes import RecordingOutbox

NOW = datetime.now(UTC)
POSITIONS = ["CEO", "VP of Sales", "Sales Manager", "Barista", None, "Head of Procurement"]
INDUSTRIES = ["SaaS", "Retail", "Agriculture", None, "Oil & Gas"]
TYPES = ["email_opened", "email_clicked", "page_visited", "pricing_page_visited", "demo_requested",
         "webinar_attended", "unsubscribed", "subscribed", "whitepaper_downloaded"]


@pytest.fixture(autouse=True)
def _fresh_process_state(monkeypatch):
    """Each test's database is rolled back: forget what the "process" cached about it."""
    monkeypatch.setattr(ScoringService, "_defaults_done", False)
    monkeypatch.setattr(operations, "_model_cache", {})


def _service(db):
    return worker_factory(ScoringService, db=db, outbox=RecordingOutbox())


def _snapshot(**fields) -> dict:
    cid = fields.pop("id", None) or str(uuid.uuid4())
    return {"id": cid, "first_name": "Batch", "last_name": cid[:8], "email": f"{cid}@example.com", "stage": "New",
            "owner_id": None, "position": None, "industry": None, "tags": [], "created_at": NOW.isoformat(),
            **fields}


def _created(snapshots: list[dict], event_id: str | None = None) -> dict:
    data = {"contacts": [{"contact_id": s["id"], "contact": s, "changed": [], "actor_id": None} for s in snapshots],
            "import_id": "imp-test"}
    validate_event_data("contacts", "contacts_created", data)
    return make_envelope("contacts", "contacts_created", data, event_id=event_id)


def _events(db, cid: str, types: list[tuple[str, timedelta]]) -> None:
    for event_type, ago in types:
        db.add(EngagementEvent(id=str(uuid.uuid4()), contact_id=cid, type=event_type, occurred_at=NOW - ago,
                               properties={}, source="test"))


def _reference(db, cid: str, model: dict) -> dict:
    """The score straight from the engine over the contact's own events (no operations code)."""
    profile = db.get(ContactProfile, cid)
    rows = db.execute(sa.select(EngagementEvent.type, EngagementEvent.occurred_at)
                      .where(EngagementEvent.contact_id == cid)).all()
    agg = engine.aggregate_events([(r.type, r.occurred_at) for r in rows], model, NOW)
    return engine.score_contact({**profile.attrs, "created_at": profile.created_at}, agg, model, NOW)


# -- rescore_many ------------------------------------------------------------------------------------
@pytest.mark.parametrize("active_model", ["fit_engagement", "weighted"])
def test_rescore_many_scores_and_records_like_one_by_one(db_session, active_model):
    rng = random.Random(5)
    version, model = operations.current_model(db_session)
    if model["active_model"] != active_model:  # (the autouse fixture empties the model cache for this)
        from scoring.models import ModelVersion

        db_session.add(ModelVersion(version=version + 1, config={**model, "active_model": active_model},
                                    created_by="test", note="test"))
        db_session.flush()
        version, model = operations.current_model(db_session)
    singles, batch, seeded = [], [], {}
    for n in range(30):  # twins: same attributes and events, one scored alone, one in the batch
        attrs = {"position": rng.choice(POSITIONS), "industry": rng.choice(INDUSTRIES)}
        history = [(rng.choice(TYPES), timedelta(hours=rng.uniform(-2, 24 * 120))) for _ in range(rng.randint(0, 10))]
        pair = []
        for group in (singles, batch):
            cid = operations.upsert_profile(db_session, _snapshot(**attrs)).contact_id
            _events(db_session, cid, history)
            group.append(cid)
            pair.append(cid)
        if n % 3:  # some already have a score: a stale one (previous kept) or the right one (nothing published)
            seeded.update(dict.fromkeys(pair, "stale" if n % 3 == 1 else "right"))
    db_session.flush()
    for cid, kind in seeded.items():
        ref = _reference(db_session, cid, model)
        numbers = (33, 33, 0) if kind == "stale" else (ref["score"], ref["fit"], ref["engagement"])
        db_session.add(Score(contact_id=cid, score=numbers[0], fit=numbers[1], engagement=numbers[2],
                             engagement_level=0.0, model_version=version, computed_at=NOW))
    db_session.flush()
    published_one, published_many = [], []
    one = {cid: operations.rescore(db_session, lambda t, d: published_one.append((t, d)),
                                   db_session.get(ContactProfile, cid), "test", NOW) for cid in singles}
    profiles = [db_session.get(ContactProfile, cid) for cid in batch]
    many = operations.rescore_many(db_session, lambda t, d: published_many.append((t, d)), profiles, "test", NOW)
    assert list(many) == batch
    for single, twin in zip(singles, batch, strict=True):
        a, b = one[single], many[twin]
        assert set(b) == {"result", "agg", "events", "changed", "previous"}
        assert a["result"] == b["result"] == _reference(db_session, twin, model)
        assert (a["changed"], a["previous"], a["events"], a["agg"]) == (b["changed"], b["previous"], b["events"],
                                                                          b["agg"])
        stored = db_session.get(Score, twin)
        assert (stored.score, stored.fit, stored.engagement, stored.model_version) == (
            b["result"]["score"], b["result"]["fit"], b["result"]["engagement"], version)
        hist = lambda cid: [(h["score"], h["previous_score"], h["reason"]) for h in  # noqa: E731
                            operations.history(db_session, cid)]
        assert hist(single) == hist(twin)
    assert {t for t, _ in published_one} == {"score_changed"}
    assert [t for t, _ in published_many] == ["scores_changed"]
    strip = lambda d: {k: v for k, v in d.items() if k != "contact_id"}  # noqa: E731
    assert [strip(d) for _, d in published_one] == [strip(c) for c in published_many[0][1]["changes"]]
    for twin in batch:
        expected = {"stale": (True, 33), "right": (False, many[twin]["result"]["score"])}.get(seeded.get(twin),
                                                                                         (True, None))
        assert (many[twin]["changed"], many[twin]["previous"]) == expected
    assert len(published_one) == 20  # the 10 twins already scored right published nothing

    again: list = []
    assert not any(c["changed"] for c in operations.rescore_many(
        db_session, lambda t, d: again.append(t), profiles, "test", NOW).values())
    assert again == []


def test_rescore_many_chunks_its_event_and_uses_a_fixed_number_of_statements(db_session, monkeypatch):
    monkeypatch.setattr(operations, "EVENT_BATCH_LIMIT", 4)
    operations.current_model(db_session)
    profiles = operations.upsert_profiles(db_session, [_snapshot(position="CEO") for _ in range(10)])
    for p in profiles:
        _events(db_session, p.contact_id, [("email_opened", timedelta(days=1)), ("webinar_attended", timedelta(1))])
    db_session.flush()
    published: list = []
    with statements(db_session) as seen:
        operations.rescore_many(db_session, lambda t, d: published.append((t, d)), profiles, "import", NOW)
    assert len(seen) <= 8, seen  # model version, scores FOR UPDATE, events, last activity, upsert, history
    assert [(t, len(d["changes"])) for t, d in published] == [("scores_changed", 4), ("scores_changed", 4),
                                                              ("scores_changed", 2)]
    assert {c["score"] for _, d in published for c in d["changes"]} == {40}


def test_a_score_object_the_session_holds_answers_the_new_numbers(db_session):
    profile = operations.upsert_profile(db_session, _snapshot(position="CEO", industry="SaaS"))
    held = Score(contact_id=profile.contact_id, score=33, fit=33, engagement=0, engagement_level=0.0,
                 model_version=1, computed_at=NOW)
    db_session.add(held)
    db_session.flush()
    computed = operations.rescore(db_session, lambda t, d: None, profile, "test", NOW)
    assert (computed["previous"], computed["result"]["score"]) == (33, 40)
    assert (held.score, db_session.get(Score, profile.contact_id).score) == (40, 40)  # score_view reads it so


# -- contacts_created ------------------------------------------------------------------------------------
def _hot_and_cold(db) -> tuple[dict, dict, dict]:
    hot = _snapshot(position="CEO", industry="SaaS")
    _events(db, hot["id"], [("demo_requested", timedelta(hours=3)), ("demo_scheduled", timedelta(hours=2))])
    db.flush()  # engagement recorded (by email) before the import's event arrived
    return hot, _snapshot(position="VP of Sales", industry="Retail"), _snapshot(position="Barista")


def test_contacts_created_projects_scores_and_publishes_one_scores_changed(db_session):
    hot, warm, cold = _hot_and_cold(db_session)
    extras = [_snapshot(position="Sales Manager") for _ in range(20)]
    service = _service(db_session)
    envelope = _created([hot, warm, cold, *extras])
    with statements(db_session) as seen:
        service.on_contacts_created(envelope)
    assert len(seen) < 20, seen  # set-based: the statement count does not grow with the contacts
    ids = [hot["id"], warm["id"], cold["id"]]
    profiles = {p.contact_id: p for p in db_session.scalars(sa.select(ContactProfile)
                                                           .where(ContactProfile.contact_id.in_(ids)))}
    assert {cid: (p.email, p.stage, p.attrs["position"]) for cid, p in profiles.items()} == {
        s["id"]: (s["email"], "New", s["position"]) for s in (hot, warm, cold)}
    scores = {s.contact_id: s.score for s in db_session.scalars(sa.select(Score).where(Score.contact_id.in_(ids)))}
    assert scores == {hot["id"]: 100, warm["id"]: 30, cold["id"]: 0}
    assert [t for t, _ in service.outbox.events if t in ("score_changed", "scores_changed")] == ["scores_changed"]
    changes = service.outbox.of("scores_changed")[0]["changes"]
    assert [(c["contact_id"], c["score"], c["previous_score"], c["reason"]) for c in changes] == [
        (hot["id"], 100, None, "contact created"), (warm["id"], 30, None, "contact created"),
        (cold["id"], 0, None, "contact created")] + [(e["id"], 10, None, "contact created") for e in extras]
    hot_leads = service.outbox.of("hot_lead_detected")
    assert [(h["contact_id"], h["score"]) for h in hot_leads] == [(hot["id"], 100)]
    assert hot_leads[0]["signals"]  # taken from the events recorded before the import
    history = db_session.execute(sa.select(ScoreHistory.contact_id, ScoreHistory.reason)
                                 .where(ScoreHistory.contact_id.in_(ids))).all()
    assert sorted(history) == sorted((cid, "contact created") for cid in ids)


def test_a_redelivered_contacts_created_changes_nothing_twice(db_session):
    hot, warm, cold = _hot_and_cold(db_session)
    service = _service(db_session)
    envelope = _created([hot, warm, cold])
    service.on_contacts_created(envelope)
    published = len(service.outbox.events)
    service.on_contacts_created(envelope)  # same event id: claimed already
    assert len(service.outbox.events) == published
    ids = [hot["id"], warm["id"], cold["id"]]
    count = db_session.execute(sa.select(sa.func.count()).select_from(ScoreHistory)
                               .where(ScoreHistory.contact_id.in_(ids))).scalar_one()
    assert count == 3
    service.on_contacts_created(_created([hot, warm, cold]))  # a new event, same contacts: scores unchanged
    assert len(service.outbox.events) == published  # no empty scores_changed, no second hot lead


def test_contacts_created_chunks_scores_changed(db_session, monkeypatch):
    monkeypatch.setattr(operations, "EVENT_BATCH_LIMIT", 2)
    service = _service(db_session)
    snapshots = [_snapshot(position="CEO") for _ in range(5)]
    service.on_contacts_created(_created(snapshots))
    batches = service.outbox.of("scores_changed")
    assert [len(b["changes"]) for b in batches] == [2, 2, 1]
    assert [c["contact_id"] for b in batches for c in b["changes"]] == [s["id"] for s in snapshots]


# -- scores_changed: the rules --------------------------------------------------------------------------
def test_scores_changed_fires_the_default_hot_lead_rule_for_contacts_created_in_bulk(db_session):
    hot, warm, cold = _hot_and_cold(db_session)
    extras = [_snapshot(position="Sales Manager") for _ in range(20)]
    service = _service(db_session)
    service.on_contacts_created(_created([hot, warm, cold, *extras]))
    envelope = make_envelope("scoring", "scores_changed", service.outbox.of("scores_changed")[0])
    with statements(db_session) as seen:
        service.on_scores_changed(envelope)
    service.on_scores_changed(envelope)  # redelivered: the rule acts once
    assert [c.args for c in service.contacts.set_stage.call_args_list] == [(hot["id"], "Hot Lead")]
    runs = db_session.execute(sa.select(RuleRun.rule_id, RuleRun.contact_id, RuleRun.outcome)
                              .where(RuleRun.contact_id.in_([hot["id"], warm["id"], cold["id"]]))).all()
    assert runs == [(automation.DEFAULT_RULE_ID, hot["id"], "success")]
    profile_reads = [s for s in seen if "FROM contact_profiles" in s]
    assert len(profile_reads) == 1 and len(seen) < 20, seen


def test_scores_changed_without_a_live_score_rule_reads_nothing_else(db_session):
    hot, warm, cold = _hot_and_cold(db_session)
    service = _service(db_session)
    service.on_contacts_created(_created([hot, warm, cold]))
    automation.ensure_default_rule(db_session)
    db_session.execute(sa.update(Rule).where(Rule.trigger["type"].astext == "score_change").values(enabled=False))
    envelope = make_envelope("scoring", "scores_changed", service.outbox.of("scores_changed")[0])
    with statements(db_session) as seen:
        service.on_scores_changed(envelope)
    assert not service.contacts.set_stage.called
    assert not [s for s in seen if "contact_profiles" in s or "engagement_events" in s or "FROM scores" in s], seen


def test_single_score_changed_still_evaluates_through_the_same_path(db_session):
    hot, _, _ = _hot_and_cold(db_session)
    service = _service(db_session)
    service.on_contact_created(make_envelope("contacts", "contact_created", {
        "contact_id": hot["id"], "contact": hot, "changed": [], "actor_id": None}))
    assert [t for t, _ in service.outbox.events].count("score_changed") == 1
    change = service.outbox.of("score_changed")[0]
    service.on_score_changed(make_envelope("scoring", "score_changed", change))
    assert [c.args for c in service.contacts.set_stage.call_args_list] == [(hot["id"], "Hot Lead")]


def test_a_contact_deleted_before_its_batch_arrives_is_not_brought_back(db_session):
    """Each handler has its own queue: an undo's contact_deleted can overtake the import's contacts_created."""
    service = _service(db_session)
    gone, kept = _snapshot(position="CEO", industry="SaaS"), _snapshot(position="CTO")
    service.on_contact_deleted(make_envelope("contacts", "contact_deleted", {"contact_id": gone["id"]}))
    service.on_contacts_created(_created([gone, kept]))
    assert db_session.get(ContactProfile, gone["id"]) is None and db_session.get(Score, gone["id"]) is None
    assert db_session.get(ContactProfile, kept["id"]) is not None
    assert [c["contact_id"] for e in service.outbox.of("scores_changed") for c in e["changes"]] == [kept["id"]]
    late = make_envelope("contacts", "contact_updated", {"contact_id": gone["id"], "contact": gone,
                                                         "changed": ["position"], "actor_id": None})
    service.on_contact_updated(late)
    service.on_contact_created(make_envelope("contacts", "contact_created", {
        "contact_id": gone["id"], "contact": gone, "changed": [], "actor_id": None}))
    assert db_session.get(ContactProfile, gone["id"]) is None


# -- contacts_updated (an import's merges) -------------------------------------------------------------
def _updated(items: list[tuple[dict, list[str]]], event_id: str | None = None) -> dict:
    data = {"contacts": [{"contact_id": s["id"], "contact": s, "changed": changed, "actor_id": None}
                         for s, changed in items], "import_id": "imp-test"}
    validate_event_data("contacts", "contacts_updated", data)
    return make_envelope("contacts", "contacts_updated", data, event_id=event_id)


def _facts(db, ids: list[str]) -> list[tuple[str, list[str]]]:
    from scoring.models import ContactFact

    rows = db.execute(sa.select(ContactFact.contact_id, ContactFact.data)
                      .where(ContactFact.contact_id.in_(ids), ContactFact.kind == "field_change")).all()
    return sorted((r.contact_id, r.data["fields"]) for r in rows)


def test_contacts_updated_does_what_contact_updated_does_one_by_one(db_session):
    """Twins: the same merges, once as single ``contact_updated`` events, once as one batch."""
    service = _service(db_session)
    kinds = [("CEO", "SaaS", ["position", "industry"]),     # fit rises
             ("Barista", None, ["tags"]),                    # a field changed, the score does not
             ("Sales Manager", None, ["score"]),             # only the score: nothing to do
             ("VP of Sales", "Retail", ["position", "phone"])]
    singles = [_snapshot(position="Barista") for _ in kinds]
    batch = [_snapshot(position="Barista") for _ in kinds]
    service.on_contacts_created(_created(singles + batch))
    service.outbox.events.clear()
    merged = lambda s, k: {**s, "position": k[0], "industry": k[1], "tags": ["merged"]}  # noqa: E731
    for snapshot, kind in zip(singles, kinds, strict=True):
        service.on_contact_updated(make_envelope("contacts", "contact_updated", {
            "contact_id": snapshot["id"], "contact": merged(snapshot, kind), "changed": kind[2], "actor_id": None}))
    single_events = [(t, d) for t, d in service.outbox.events]
    service.outbox.events.clear()
    envelope = _updated([(merged(s, k), k[2]) for s, k in zip(batch, kinds, strict=True)])
    with statements(db_session) as seen:
        service.on_contacts_updated(envelope)
    assert len(seen) < 20, seen   # set-based
    pairs = list(zip(singles, batch, strict=True))

    def scores(ids):
        return {s.contact_id: s.score for s in db_session.scalars(sa.select(Score).where(Score.contact_id.in_(ids)))}

    single_scores, batch_scores = scores([s["id"] for s in singles]), scores([b["id"] for b in batch])
    assert [single_scores[s["id"]] for s, _ in pairs] == [batch_scores[b["id"]] for _, b in pairs]
    assert batch_scores[batch[0]["id"]] > batch_scores[batch[1]["id"]]   # the CEO's fit counted
    profiles = {p.contact_id: p.attrs for p in db_session.scalars(
        sa.select(ContactProfile).where(ContactProfile.contact_id.in_([b["id"] for b in batch])))}
    assert [profiles[b["id"]]["position"] for b in batch] == [k[0] for k in kinds]   # every snapshot projected
    rename = {s["id"]: b["id"] for s, b in pairs}
    assert _facts(db_session, [b["id"] for b in batch]) == sorted(
        (rename[cid], fields) for cid, fields in _facts(db_session, [s["id"] for s in singles]))
    assert [t for t, _ in service.outbox.events if t in ("score_changed", "scores_changed")] == ["scores_changed"]
    single_changes = [(rename[d["contact_id"]], d["score"], d["previous_score"], d["reason"])
                      for t, d in single_events if t == "score_changed"]
    assert [(c["contact_id"], c["score"], c["previous_score"], c["reason"])
            for c in service.outbox.of("scores_changed")[0]["changes"]] == single_changes
    assert ("contact updated (industry, position)" in {c[3] for c in single_changes})
    published = len(service.outbox.events)
    service.on_contacts_updated(envelope)   # redelivered: claimed already
    assert len(service.outbox.events) == published
    assert len(_facts(db_session, [b["id"] for b in batch])) == 3


def test_contacts_updated_leaves_a_deleted_contact_deleted(db_session):
    service = _service(db_session)
    kept, gone = _snapshot(position="Barista"), _snapshot(position="Barista")
    service.on_contacts_created(_created([kept, gone]))
    service.on_contact_deleted(make_envelope("contacts", "contact_deleted", {"contact_id": gone["id"]}))
    service.on_contacts_updated(_updated([({**kept, "position": "CEO"}, ["position"]),
                                          ({**gone, "position": "CEO"}, ["position"])]))
    assert db_session.get(ContactProfile, gone["id"]) is None
    assert db_session.get(Score, gone["id"]) is None
    assert db_session.get(ContactProfile, kept["id"]).attrs["position"] == "CEO"
