"""The batch email facts on real PostgreSQL (service layer via worker_factory): ``emails_sent`` /
``emails_opened`` record, score and publish what ``email_sent`` / ``email_opened`` do one by one, with
``engagements_recorded`` and ``scores_changed`` instead of an event per contact, in a fixed number of
statements, once per event id; ``engagements_recorded`` runs the event rules over the whole batch."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from nameko.testing.services import worker_factory

from crm_shared.events import validate_event_data
from crm_shared.reliability import make_envelope
from crm_shared.testing.helpers import statements
from scoring import automation, operations
from scoring.models import EngagementEvent, Score
from scoring.service import ScoringService
from services.scoring.tests.integration.fakes import RecordingOutbox
from services.scoring.tests.integration.test_ingest_and_sweeps import (  # noqa: F401 (an autouse fixture)
    _claims,
    _fresh_process_state,
)

NOW = datetime.now(UTC)


def _service(db):
    return worker_factory(ScoringService, db=db, outbox=RecordingOutbox())


def _snapshot(tag: str, **fields) -> dict:
    cid = str(uuid.uuid4())
    return {"id": cid, "first_name": "Mail", "last_name": cid[:8], "stage": "New", "email": f"{cid[:8]}.{tag}@x.io",
            "position": "CEO", "industry": "SaaS", "created_at": (NOW - timedelta(days=10)).isoformat(), **fields}


def _contact(db, tag: str, **fields) -> str:
    return operations.upsert_profile(db, _snapshot(tag, **fields)).contact_id


def _fact(cid: str, n: int) -> dict:
    return {"contact_id": cid, "email_id": f"e{n}", "subject": f"Offer {n}", "campaign_id": "k1" if n % 2 else None,
            "template_id": None}


def _batch(batch_type: str, items: list[dict], at: datetime) -> dict:
    validate_event_data("messaging", batch_type, {"emails": items})
    envelope = make_envelope("messaging", batch_type, {"emails": items})
    envelope["occurred_at"] = at.isoformat()
    return envelope


def _single(event_type: str, data: dict, at: datetime) -> dict:
    envelope = make_envelope("messaging", event_type, data)
    envelope["occurred_at"] = at.isoformat()
    return envelope


def _stored(db, cid: str) -> list:
    return sorted((e.type, e.occurred_at, sorted(e.properties.items()), e.source)
                  for e in db.scalars(sa.select(EngagementEvent).where(EngagementEvent.contact_id == cid)))


def _strip(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("contact_id", "engagement_event_id")}


@pytest.mark.parametrize("batch_type, single_type, batch_handler, single_handler", [
    ("emails_sent", "email_sent", "on_emails_sent", "on_email_sent"),
    ("emails_opened", "email_opened", "on_emails_opened", "on_email_opened")])
def test_a_batch_records_scores_and_publishes_what_its_single_events_do(db_session, batch_type, single_type,
                                                                        batch_handler, single_handler):
    tag = uuid.uuid4().hex[:8]
    positions = ("CEO", "Engineer", "Barista", None)
    singles = [_contact(db_session, tag, position=p) for p in positions]
    twins = [_contact(db_session, tag, position=p) for p in positions]
    at = NOW - timedelta(minutes=3)
    one, many = _service(db_session), _service(db_session)
    for n, cid in enumerate(singles):
        getattr(one, single_handler)(_single(single_type, _fact(cid, n), at))
    batch = _batch(batch_type, [_fact(cid, n) for n, cid in enumerate(twins)], at)
    getattr(many, batch_handler)(batch)

    def score(cid):   # None: not rescored (an event that cannot move the score, such as a send)
        row = db_session.get(Score, cid)
        return row and (row.score, row.fit, row.engagement, row.engagement_level)

    for single, twin in zip(singles, twins, strict=True):
        assert score(single) == score(twin)
        assert _stored(db_session, single) == _stored(db_session, twin) != []
    assert (score(twins[0]) is not None) == (single_type == "email_opened")
    engagements = [item for data in many.outbox.of("engagements_recorded") for item in data["engagements"]]
    assert many.outbox.of("engagement_recorded") == [] and len(many.outbox.of("engagements_recorded")) == 1
    assert [e["contact_id"] for e in engagements] == twins
    assert [_strip(e) for e in one.outbox.of("engagement_recorded")] == [_strip(e) for e in engagements]
    assert many.outbox.of("score_changed") == []   # scores_changed instead
    changes = [c for data in many.outbox.of("scores_changed") for c in data["changes"]]
    singles_changed = one.outbox.of("score_changed")
    assert [singles.index(c["contact_id"]) for c in singles_changed] == [twins.index(c["contact_id"])
                                                                          for c in changes]
    assert [_strip(c) for c in singles_changed] == [_strip(c) for c in changes]
    assert len(one.outbox.of("hot_lead_detected")) == len(many.outbox.of("hot_lead_detected"))

    published = len(many.outbox.events)
    getattr(many, batch_handler)(batch)   # redelivered: claimed already, nothing twice
    assert len(many.outbox.events) == published
    assert all(len(_stored(db_session, twin)) == 1 for twin in twins)


def test_contacts_not_projected_yet_are_fetched_in_one_call_and_unknown_ones_skipped(db_session):
    tag = uuid.uuid4().hex[:8]
    known = _contact(db_session, tag)
    late, gone = _snapshot(tag), str(uuid.uuid4())
    svc = _service(db_session)
    svc.contacts.get_contacts.return_value = [late]
    svc.on_emails_opened(_batch("emails_opened", [_fact(known, 1), _fact(late["id"], 2), _fact(gone, 3),
                                                  _fact(known, 4)], NOW))
    assert [c.args for c in svc.contacts.get_contacts.call_args_list] == [([late["id"], gone],)]
    assert not svc.contacts.get_contact.called
    assert [t for t, *_ in _stored(db_session, known)] == ["email_opened", "email_opened"]
    assert [t for t, *_ in _stored(db_session, late["id"])] == ["email_opened"]
    assert _stored(db_session, gone) == [] and db_session.get(Score, gone) is None
    assert db_session.get(Score, late["id"]) is not None
    # the contact opened twice is rescored once, after both (one scores_changed item)
    changes = [c["contact_id"] for data in svc.outbox.of("scores_changed") for c in data["changes"]]
    assert sorted(changes) == sorted([known, late["id"]])


@pytest.mark.parametrize("batch_type, handler", [("emails_sent", "on_emails_sent"),
                                                 ("emails_opened", "on_emails_opened")])   # opens rescore
def test_the_batch_costs_the_same_statements_for_3_or_60_emails(db_session, batch_type, handler):
    tag = uuid.uuid4().hex[:8]
    svc = _service(db_session)
    svc._defaults()
    operations.current_model(db_session)
    counts = []
    for n in (3, 60):
        ids = [_contact(db_session, tag) for _ in range(n)]
        db_session.flush()
        envelope = _batch(batch_type, [_fact(cid, k) for k, cid in enumerate(ids)], NOW)
        with statements(db_session) as seen:
            getattr(svc, handler)(envelope)
        counts.append(len(seen))
        assert db_session.execute(sa.select(sa.func.count()).select_from(EngagementEvent).where(
            EngagementEvent.contact_id.in_(ids))).scalar_one() == n
    assert counts[0] == counts[1] <= 12, counts


def test_engagements_recorded_runs_the_event_rules_over_the_batch_once(db_session):
    tag = uuid.uuid4().hex[:8]
    ids = [_contact(db_session, tag) for _ in range(3)]
    svc = _service(db_session)
    svc._defaults()
    items = [{"contact_id": cid, "engagement_event_id": str(uuid.uuid4()), "type": "email_sent",
              "occurred_at": NOW.isoformat(), "properties": {}} for cid in ids]
    quiet = make_envelope("scoring", "engagements_recorded", {"engagements": items})
    svc.on_engagements_recorded(quiet)   # no rule for email_sent: nothing written, not even the claim
    assert _claims(db_session, quiet["event_id"]) == 0 and not svc.contacts.add_tags.called
    automation.create_rule(db_session, "admin", {
        "name": f"sent {tag}", "trigger": {"type": "event", "event_types": ["email_sent"]},
        "criteria": {"all": [{"field": "email", "op": "contains", "value": tag}]},
        "actions": [{"type": "add_tag", "tags": ["mailed"]}], "mode": {"type": "periodic"}})
    acting = make_envelope("scoring", "engagements_recorded", {"engagements": items})
    svc.on_engagements_recorded(acting)
    svc.on_engagements_recorded(acting)   # redelivered: claimed already, nothing twice
    assert sorted(c.args[0][0] for c in svc.contacts.add_tags.call_args_list) == sorted(ids)
    assert all(c.args[1] == ["mailed"] for c in svc.contacts.add_tags.call_args_list)
    assert _claims(db_session, acting["event_id"]) == 1
