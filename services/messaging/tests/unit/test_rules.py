"""Campaign workflow, call rules and status progression without a database."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_shared.errors import Conflict, ValidationFailed
from messaging import rules

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("current,target", [("Draft", "New"), ("New", "Active"), ("Active", "Inactive"),
                                            ("Inactive", "Active"), ("Inactive", "Discarded"),
                                            ("Draft", "Discarded")])
def test_allowed_campaign_moves(current, target):
    rules.check_campaign_transition(current, target)


@pytest.mark.parametrize("current,target", [("Draft", "Active"), ("Active", "Draft"), ("Discarded", "Active"),
                                            ("Active", "Discarded"), ("Inactive", "New")])
def test_refused_campaign_moves(current, target):
    with pytest.raises(Conflict) as err:
        rules.check_campaign_transition(current, target)
    assert "status" in err.value.details["fields"]


def test_unknown_campaign_status_names_the_field():
    with pytest.raises(ValidationFailed) as err:
        rules.check_campaign_transition("Draft", "Live")
    assert "status" in err.value.details["fields"]


def call(**kw):
    return rules.validate_call({"purpose": "Discovery Call", "status": "Completed", **kw}, now=NOW)


def test_call_defaults_time_to_now():
    assert call()["occurred_at"] == NOW


@pytest.mark.parametrize("kw,field", [
    ({"purpose": None}, "purpose"), ({"purpose": "Chat"}, "purpose"), ({"status": None}, "status"),
    ({"status": "Maybe"}, "status"), ({"notes": "x" * 1001}, "notes"), ({"duration_s": -1}, "duration_s"),
    ({"duration_s": 9 * 3600}, "duration_s"), ({"status": "No Answer", "duration_s": 60}, "duration_s"),
    ({"participants": [str(i) for i in range(21)]}, "participants"),
    ({"status": "Rescheduled"}, "scheduled_at"),
    ({"status": "Scheduled", "scheduled_at": NOW - timedelta(hours=1)}, "scheduled_at"),
    ({"occurred_at": NOW + timedelta(hours=1)}, "occurred_at"),
])
def test_call_limits_name_the_field(kw, field):
    with pytest.raises(ValidationFailed) as err:
        call(**kw)
    assert field in err.value.details["fields"]


def test_notes_of_exactly_1000_characters_are_fine():
    assert len(call(notes="x" * 1000)["notes"]) == 1000


def test_status_only_moves_forward():
    assert rules.progressed_status("clicked", "opened") == "clicked"
    assert rules.progressed_status("sent", "opened") == "opened"
    assert rules.progressed_status("opened", "replied") == "replied"
    assert rules.progressed_status("replied", "unsubscribed") == "unsubscribed"


def test_every_purpose_has_script_and_tips():
    assert rules.CALL_PURPOSE_NAMES == ("Discovery Call", "Product Demo", "Follow-up Call", "Negotiation",
                                        "Customer Support", "Closing Call")
    assert all(p["script"] and p["quick_tips"] for p in rules.CALL_PURPOSES)


def test_email_facts_travel_as_one_batch_event_per_type_and_limit(monkeypatch):
    from crm_shared import events

    facts = [("email_sent", {"contact_id": f"c{n}", "email_id": f"e{n}", "subject": "s", "campaign_id": None,
                             "template_id": None}) for n in range(5)]
    facts.insert(2, ("email_bounced", {"contact_id": "cb", "email_id": "eb", "subject": "s"}))
    batches = rules.as_batch_events(facts)
    assert [(t, [i["email_id"] for i in d["emails"]]) for t, d in batches] == [
        ("emails_sent", ["e0", "e1", "e2", "e3", "e4"]), ("emails_bounced", ["eb"])]
    for event_type, data in batches:
        events.validate_event_data("messaging", event_type, data)   # the committed contract
    monkeypatch.setattr(rules, "BATCH_EVENT_LIMIT", 2)
    assert [len(d["emails"]) for _, d in rules.as_batch_events(facts)] == [2, 2, 1, 1]
    assert rules.as_batch_events([]) == []
    with pytest.raises(KeyError):   # a fact without a batch form is a programming error
        rules.as_batch_events([("email_clicked", {})])
