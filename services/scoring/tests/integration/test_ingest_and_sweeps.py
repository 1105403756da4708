"""The engagement ingest path and the rule sweeps on real PostgreSQL (service layer via worker_factory).

- ``record_engagement_batch`` scores like ``record_engagement`` one event at a time (scores, history,
  stored events, published bodies) but publishes one ``scores_changed`` instead of a ``score_changed``
  per contact; idempotency keys replay the stored answer and record nothing twice.
- Our own ``engagement_recorded`` / ``score_changed`` handlers write nothing when no rule acts, and act
  once per event when one does (redelivery).
- Schedule, time-since and "run now" sweeps and cycle steps go through the contacts a page at a time and
  reach every contact; a sweep that stops at its limit says how many contacts are left and the next
  tick goes on from there.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from nameko.testing.services import worker_factory

from crm_shared.reliability import make_envelope, processed_events
from scoring import automation, operations
from scoring.models import ContactProfile, EngagementEvent, JobRun, Rule, RuleContactState, RuleRun, Score
from scoring.service import ScoringService
from services.scoring.tests.integration.fakes import RecordingOutbox

NOW = datetime.now(UTC)


class _Caller:
    user_id = "user-1"

    def require(self, *roles):
        return self


class _Ctx:
    """The verified caller and the idempotency key of an RPC (the gateway sends a key with every POST)."""

    def __init__(self):
        self.caller = _Caller()
        self.idempotency_key: str | None = None

    def authenticate(self):
        return self.caller


@pytest.fixture(autouse=True)
def _fresh_process_state(monkeypatch):
    """Each test's database is rolled back: forget what the "process" cached about it."""
    monkeypatch.setattr(ScoringService, "_defaults_done", False)
    monkeypatch.setattr(operations, "_model_cache", {})
    monkeypatch.setattr(automation, "_last_sweep", {})


def _service(db):
    return worker_factory(ScoringService, db=db, outbox=RecordingOutbox(), ctx=_Ctx())


def _contact(db, tag: str, **fields) -> str:
    cid = str(uuid.uuid4())
    operations.upsert_profile(db, {"id": cid, "first_name": "Sweep", "last_name": cid[:8], "stage": "New",
                                   "email": f"{cid[:8]}.{tag}@example.com", "position": "CEO", "industry": "SaaS",
                                   "created_at": (NOW - timedelta(days=10)).isoformat(), **fields})
    return cid


def _ok(done: list):
    def execute(action, profile, rule):
        done.append(profile.contact_id)
        return {"type": action["type"], "description": "", "outcome": "ok", "error": None}
    return execute


# -- the ingest path ---------------------------------------------------------------------------------
EVENTS = [("email_opened", 30), ("pricing_page_visited", 20), ("pricing_page_visited", 10), ("demo_requested", 5)]


def _bodies(cid: str) -> list[dict]:
    return [{"contact_id": cid, "type": t, "occurred_at": (NOW - timedelta(hours=h)).isoformat(),
             "properties": {"n": i}} for i, (t, h) in enumerate(EVENTS)]


def _strip(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("contact_id", "engagement_event_id")}


def test_a_batch_of_api_events_scores_records_and_publishes_like_one_by_one(db_session):
    tag = uuid.uuid4().hex[:8]
    singles = [_contact(db_session, tag, position=p) for p in ("CEO", "Engineer", "Barista")]
    twins = [_contact(db_session, tag, position=p) for p in ("CEO", "Engineer", "Barista")]
    one = _service(db_session)
    for cid in singles:
        for body in _bodies(cid):
            one.ctx.idempotency_key = str(uuid.uuid4())
            one.record_engagement(body)
    batch = _service(db_session)
    batch.ctx.idempotency_key = str(uuid.uuid4())
    answer = batch.record_engagement_batch([body for cid in twins for body in _bodies(cid)])
    assert (answer["recorded"], answer["rescored"]) == (12, 3)

    for single, twin in zip(singles, twins, strict=True):
        a, b = db_session.get(Score, single), db_session.get(Score, twin)
        assert (a.score, a.fit, a.engagement, a.engagement_level) == (b.score, b.fit, b.engagement,
                                                                      b.engagement_level)
        stored = lambda cid: sorted((e.type, e.occurred_at, e.properties["n"], e.source)  # noqa: E731
                                    for e in db_session.scalars(sa.select(EngagementEvent)
                                                                .where(EngagementEvent.contact_id == cid)))
        assert stored(single) == stored(twin)
        # one by one keeps a history row per change; the batch rescored once: its row is the last one's
        last_single, last_twin = operations.history(db_session, single)[0], operations.history(db_session, twin)[0]
        assert (last_single["score"], last_single["fit"], last_single["engagement"]) == \
            (last_twin["score"], last_twin["fit"], last_twin["engagement"])
        assert last_twin["previous_score"] is None and last_twin["reason"] == "engagement recorded"
        assert [_strip(e) for e in one.outbox.of("engagement_recorded") if e["contact_id"] == single] == \
            [_strip(e) for e in batch.outbox.of("engagement_recorded") if e["contact_id"] == twin]

    assert batch.outbox.of("score_changed") == []  # the batch event instead
    changes = [c for data in batch.outbox.of("scores_changed") for c in data["changes"]]
    assert [c["contact_id"] for c in changes] == twins
    last_of = {c["contact_id"]: c for c in one.outbox.of("score_changed")}
    for single, change in zip(singles, changes, strict=True):
        assert change["score"] == last_of[single]["score"] and change["reason"] == "engagement recorded"
    # the same contacts cross the hot threshold (one by one on the way, the batch with its final score)
    hot_one = [singles.index(h["contact_id"]) for h in one.outbox.of("hot_lead_detected")]
    hot_batch = [(twins.index(h["contact_id"]), h["score"]) for h in batch.outbox.of("hot_lead_detected")]
    assert hot_batch and [i for i, _ in hot_batch] == hot_one
    assert all(score == db_session.get(Score, twins[i]).score for i, score in hot_batch)


def test_one_event_per_contact_gives_the_same_history_as_one_by_one(db_session):
    tag = uuid.uuid4().hex[:8]
    singles, twins = [_contact(db_session, tag) for _ in range(4)], [_contact(db_session, tag) for _ in range(4)]
    at = (NOW - timedelta(hours=2)).isoformat()
    one, batch = _service(db_session), _service(db_session)
    for cid in singles:
        one.ctx.idempotency_key = str(uuid.uuid4())
        one.record_engagement({"contact_id": cid, "type": "webinar_attended", "occurred_at": at})
    batch.ctx.idempotency_key = str(uuid.uuid4())
    batch.record_engagement_batch([{"contact_id": cid, "type": "webinar_attended", "occurred_at": at}
                                   for cid in twins])
    strip = lambda h: {k: v for k, v in h.items() if k not in ("at", "reason")}  # noqa: E731
    for single, twin in zip(singles, twins, strict=True):
        assert [strip(h) for h in operations.history(db_session, single)] == \
            [strip(h) for h in operations.history(db_session, twin)]
    assert [_strip(c) for c in one.outbox.of("score_changed")] == \
        [_strip({**c, "reason": "webinar_attended recorded"}) for c in batch.outbox.of("scores_changed")[0]["changes"]]


def test_a_batch_keeps_per_item_errors_and_skips_what_does_not_score(db_session):
    tag = uuid.uuid4().hex[:8]
    cid = _contact(db_session, tag)
    svc = _service(db_session)
    svc.ctx.idempotency_key = str(uuid.uuid4())
    answer = svc.record_engagement_batch([{"contact_id": cid, "type": "no_such_type"},
                                          {"contact_id": cid, "type": "email_sent"},
                                          {"contact_id": cid, "type": "email_clicked"}])
    assert answer["recorded"] == 2 and "type" in answer["results"][0]["error"]["details"]["fields"]
    assert [c["contact_id"] for data in svc.outbox.of("scores_changed") for c in data["changes"]] == [cid]


def test_idempotent_replays_record_nothing_twice(db_session):
    tag = uuid.uuid4().hex[:8]
    cid, other = _contact(db_session, tag), _contact(db_session, tag)
    svc = _service(db_session)
    svc.ctx.idempotency_key = "retry-1"
    first = svc.record_engagement({"contact_id": cid, "type": "demo_requested"})
    published = list(svc.outbox.events)
    assert svc.record_engagement({"contact_id": cid, "type": "demo_requested"}) == first
    svc.ctx.idempotency_key = "retry-batch"
    batch = svc.record_engagement_batch([{"contact_id": other, "type": "email_clicked"},
                                         {"contact_id": cid, "type": "email_opened"}])
    published_batch = list(svc.outbox.events)
    assert svc.record_engagement_batch([{"contact_id": other, "type": "email_clicked"},
                                        {"contact_id": cid, "type": "email_opened"}]) == batch
    assert published_batch[:len(published)] == published and svc.outbox.events == published_batch
    count = lambda c: db_session.execute(sa.select(sa.func.count()).select_from(EngagementEvent)  # noqa: E731
                                         .where(EngagementEvent.contact_id == c)).scalar_one()
    assert (count(cid), count(other)) == (2, 1)
    assert len(operations.history(db_session, cid)) == 2 and len(operations.history(db_session, other)) == 1


def _claims(db, event_id: str) -> int:
    return db.execute(sa.select(sa.func.count()).select_from(processed_events)
                      .where(processed_events.c.event_id == event_id)).scalar_one()


def test_own_events_write_nothing_when_no_rule_acts_and_act_once_when_one_does(db_session):
    tag = uuid.uuid4().hex[:8]
    cid = _contact(db_session, tag)
    svc = _service(db_session)
    svc._defaults()
    quiet = make_envelope("scoring", "engagement_recorded", {
        "contact_id": cid, "engagement_event_id": "e1", "type": "whitepaper_downloaded",
        "occurred_at": NOW.isoformat(), "properties": {}})
    svc.on_engagement_recorded(quiet)
    assert _claims(db_session, quiet["event_id"]) == 0 and not svc.contacts.add_tags.called
    automation.create_rule(db_session, "admin", {
        "name": "whitepaper", "trigger": {"type": "event", "event_types": ["whitepaper_downloaded"]},
        "criteria": {"all": [{"field": "email", "op": "contains", "value": tag}]},
        "actions": [{"type": "add_tag", "tags": ["content"]}], "mode": {"type": "periodic"}})
    acting = make_envelope("scoring", "engagement_recorded", quiet["data"])
    svc.on_engagement_recorded(acting)
    svc.on_engagement_recorded(acting)  # redelivered: claimed already, nothing twice
    assert [c.args for c in svc.contacts.add_tags.call_args_list] == [([cid], ["content"])]
    assert _claims(db_session, acting["event_id"]) == 1
    # the default rule (score >= 90) is triggered by every score change but matches nobody here
    change = make_envelope("scoring", "score_changed", {
        "contact_id": cid, "score": 40, "previous_score": 30, "fit": 40, "engagement": 0,
        "engagement_level": 0.0, "reason": "test"})
    svc.on_score_changed(change)
    assert _claims(db_session, change["event_id"]) == 0 and not svc.contacts.set_stage.called


# -- sweeps ----------------------------------------------------------------------------------------------
def _rule(db, tag: str, trigger: dict, mode: dict | None = None) -> dict:
    return automation.create_rule(db, "admin", {
        "name": f"sweep {tag}", "trigger": trigger,
        "criteria": {"all": [{"field": "email", "op": "contains", "value": tag}]},
        "actions": [{"type": "add_tag", "tags": ["swept"]}], "mode": mode or {"type": "one_time"}})


def test_run_now_pages_through_more_contacts_than_a_page(db_session, monkeypatch):
    monkeypatch.setattr(automation, "SWEEP_PAGE", 3)
    tag = uuid.uuid4().hex[:8]
    ids = sorted(_contact(db_session, tag) for _ in range(10))
    _contact(db_session, "other")  # checked, does not match
    rule = _rule(db_session, tag, {"type": "event", "event_types": ["demo_requested"]})
    done: list[str] = []
    result = automation.run_now(db_session, rule["id"], _ok(done), NOW)
    assert done == ids and result["acted"] == 10 and result["complete"] and result["left_to_check"] == 0
    assert result["checked"] >= 11
    runs = db_session.execute(sa.select(RuleRun.contact_id).where(RuleRun.rule_id == rule["id"])).scalars().all()
    assert sorted(runs) == ids
    assert automation.run_now(db_session, rule["id"], _ok(done), NOW)["acted"] == 0  # one-time: once ever


def test_a_sweep_at_its_limit_says_what_is_left_and_the_next_tick_goes_on(db_session, monkeypatch):
    monkeypatch.setattr(automation, "SWEEP_PAGE", 3)
    monkeypatch.setattr(automation, "SWEEP_ACT_LIMIT", 4)
    tag = uuid.uuid4().hex[:8]
    ids = sorted(_contact(db_session, tag) for _ in range(10))
    rule = _rule(db_session, tag, {"type": "stage_change", "to": "Nurturing"}, {"type": "periodic"})
    done: list[str] = []
    first = automation.run_now(db_session, rule["id"], _ok(done), NOW)
    assert first["acted"] == 4 and not first["complete"] and first["left_to_check"] > 0 and first["continues"]
    assert done == ids[:4]
    pending = automation.pending_sweeps(db_session, rule["id"])
    assert [(p["kind"], p["left_to_check"], p["acted"]) for p in pending] == [("run_now", first["left_to_check"], 4)]
    ticks = [automation.run_due(db_session, _ok(done), NOW + timedelta(seconds=10 * n)) for n in (1, 2, 3)]
    assert done == ids  # everyone once, in order, across the ticks
    assert [t["run_now"] for t in ticks] == [4, 2, 0]
    assert ticks[0]["unfinished"] and ticks[0]["left_to_check"] > 0 and not ticks[1]["unfinished"]
    assert automation.pending_sweeps(db_session, rule["id"]) == []


def test_a_due_schedule_is_finished_over_ticks_before_its_next_run_is_set(db_session, monkeypatch):
    monkeypatch.setattr(automation, "SWEEP_PAGE", 2)
    monkeypatch.setattr(automation, "SWEEP_ACT_LIMIT", 3)
    tag = uuid.uuid4().hex[:8]
    ids = sorted(_contact(db_session, tag) for _ in range(7))
    rule = _rule(db_session, tag, {"type": "schedule", "every_minutes": 60}, {"type": "periodic"})
    db_session.execute(sa.update(Rule).where(Rule.id == rule["id"]).values(next_run_at=NOW - timedelta(minutes=1)))
    done: list[str] = []
    first = automation.run_due(db_session, _ok(done), NOW)
    assert first["schedule"] == 3 and first["unfinished"][0]["rule_id"] == rule["id"]
    assert db_session.get(Rule, rule["id"]).next_run_at <= NOW  # still due: the sweep is not finished
    automation.run_due(db_session, _ok(done), NOW + timedelta(seconds=10))
    last = automation.run_due(db_session, _ok(done), NOW + timedelta(seconds=20))
    assert done == ids and last["schedule"] == 1 and not last["unfinished"]
    db_session.expire_all()
    assert db_session.get(Rule, rule["id"]).next_run_at > NOW + timedelta(minutes=59)
    assert automation.run_due(db_session, _ok(done), NOW + timedelta(seconds=30))["schedule"] == 0


def test_time_since_sweep_reaches_every_quiet_contact_once_per_spell(db_session, monkeypatch):
    monkeypatch.setattr(automation, "SWEEP_PAGE", 3)
    monkeypatch.setattr(automation, "SWEEP_ACT_LIMIT", 5)
    tag = uuid.uuid4().hex[:8]
    quiet = sorted(_contact(db_session, tag) for _ in range(8))
    busy = _contact(db_session, tag)
    for cid in quiet:
        db_session.add(EngagementEvent(id=str(uuid.uuid4()), contact_id=cid, type="email_clicked",
                                       occurred_at=NOW - timedelta(hours=30), properties={}, source="test"))
    db_session.add(EngagementEvent(id=str(uuid.uuid4()), contact_id=busy, type="email_clicked",
                                   occurred_at=NOW - timedelta(hours=1), properties={}, source="test"))
    db_session.flush()
    rule = _rule(db_session, tag, {"type": "time_since_event", "event": "last_activity", "hours": 24},
                 {"type": "periodic"})
    done: list[str] = []
    sweep = timedelta(seconds=30)
    first = automation.run_due(db_session, _ok(done), NOW, time_sweep_every=sweep)
    assert first["time_since_event"] == 5 and first["unfinished"]
    # the sweep stopped at its limit: the next tick goes on at once, not after the sweep interval
    second = automation.run_due(db_session, _ok(done), NOW + timedelta(seconds=10), time_sweep_every=sweep)
    assert second["time_since_event"] == 3 and not second["unfinished"]
    assert done == quiet  # the busy contact is not quiet
    third = automation.run_due(db_session, _ok(done), NOW + timedelta(minutes=5), time_sweep_every=sweep)
    assert third["time_since_event"] == 0 and done == quiet  # once per quiet spell
    text = db_session.execute(sa.select(RuleRun.trigger).where(RuleRun.rule_id == rule["id"]).limit(1)).scalar()
    assert "(since " in text


def test_cycle_steps_page_through_every_due_step(db_session, monkeypatch):
    monkeypatch.setattr(automation, "SWEEP_PAGE", 2)
    tag = uuid.uuid4().hex[:8]
    ids = sorted(_contact(db_session, tag) for _ in range(5))
    gone = _contact(db_session, "left")  # its criteria no longer hold: the cycle ends for it
    rule = _rule(db_session, tag, {"type": "event", "event_types": ["email_opened"]},
                 {"type": "in_cycle", "every_minutes": 60, "times": 3})
    for cid in [*ids, gone]:
        db_session.add(RuleContactState(rule_id=rule["id"], contact_id=cid, fired_count=1,
                                        first_fired_at=NOW - timedelta(hours=2), last_fired_at=NOW - timedelta(hours=2),
                                        next_due_at=NOW - timedelta(hours=1)))
    db_session.flush()
    done: list[str] = []
    counts = automation.run_due(db_session, _ok(done), NOW)
    assert sorted(done) == ids and counts["cycle"] == 5 and counts["cycle_left"] == 0
    states = {s.contact_id: s for s in db_session.scalars(sa.select(RuleContactState)
                                                          .where(RuleContactState.rule_id == rule["id"]))}
    assert all(states[cid].fired_count == 2 and states[cid].next_due_at > NOW for cid in ids)
    assert states[gone].next_due_at is None


def test_a_switched_off_rule_drops_its_unfinished_sweep(db_session, monkeypatch):
    monkeypatch.setattr(automation, "SWEEP_PAGE", 2)
    monkeypatch.setattr(automation, "SWEEP_ACT_LIMIT", 2)
    tag = uuid.uuid4().hex[:8]
    for _ in range(5):
        _contact(db_session, tag)
    rule = _rule(db_session, tag, {"type": "event", "event_types": ["demo_requested"]})
    done: list[str] = []
    assert not automation.run_now(db_session, rule["id"], _ok(done), NOW)["complete"]
    automation.update_rule(db_session, rule["id"], {"enabled": False})
    automation.run_due(db_session, _ok(done), NOW + timedelta(seconds=10))
    assert len(done) == 2 and automation.pending_sweeps(db_session, rule["id"]) == []
    assert db_session.get(JobRun, f"sweep:run_now:{rule['id']}") is None
    assert db_session.get(ContactProfile, done[0]) is not None
