"""Event contracts: outbound data is strict, inbound envelopes tolerate new fields."""
import pytest

from crm_shared import events
from crm_shared.reliability import make_envelope


def test_every_architecture_event_has_a_schema():
    for source, event_type in [("contacts", "contact_created"), ("contacts", "contacts_merged"),
                               ("scoring", "score_changed"), ("messaging", "email_opened"),
                               ("messaging", "unsubscribed"), ("messaging", "call_logged"),
                               ("contacts", "note_added"), ("segments", "segment_membership_changed"),
                               ("messaging", "campaign_enrolled"), ("imports", "import_completed"),
                               ("scoring", "engagement_recorded")]:
        assert (source, event_type) in events.REGISTRY


def test_outbound_payload_is_validated():
    with pytest.raises(events.EventContractError):
        events.validate_event_data("contacts", "stage_changed", {"contact_id": "1"})
    with pytest.raises(events.EventContractError):
        events.validate_event_data("contacts", "no_such_event", {})


def test_inbound_envelope_keeps_unknown_fields():
    envelope = make_envelope("scoring", "score_changed", {
        "contact_id": "c1", "score": 91, "fit": 40, "engagement": 51, "engagement_level": 51.0,
        "added_in_v2": True})
    parsed = events.parse_event(envelope)
    assert parsed["data"]["added_in_v2"] is True
    assert parsed["schema_version"] == 1


def test_bad_envelope_is_refused():
    with pytest.raises(events.EventContractError):
        events.parse_event({"event_type": "x"})


def _score(contact_id: str, **extra):
    return {"contact_id": contact_id, "score": 40, "fit": 30, "engagement": 10, "engagement_level": 10.0, **extra}


def test_batch_events_check_every_item():
    events.validate_event_data("scoring", "scores_changed", {"changes": [_score("c1"), _score("c2")]})
    with pytest.raises(events.EventContractError, match="score"):
        events.validate_event_data("scoring", "scores_changed", {"changes": [_score("c1"), {"contact_id": "c2"}]})
    snapshot = {"contact_id": "c1", "contact": {"id": "c1", "email": "a@x.test"}, "changed": []}
    events.validate_event_data("contacts", "contacts_created", {"contacts": [snapshot], "import_id": "i1"})
    with pytest.raises(events.EventContractError, match="contact"):
        events.validate_event_data("contacts", "contacts_created", {"contacts": [{"contact_id": "c1"}]})
    changed = dict(snapshot, changed=["department"])
    events.validate_event_data("contacts", "contacts_updated", {"contacts": [changed], "import_id": "i1"})
    with pytest.raises(events.EventContractError):
        events.validate_event_data("contacts", "contacts_updated", {"contacts": []})


def test_batch_events_are_bounded_and_never_empty():
    with pytest.raises(events.EventContractError):
        events.validate_event_data("scoring", "scores_changed", {"changes": []})
    too_many = [_score(f"c{i}") for i in range(events.BATCH_EVENT_LIMIT + 1)]
    with pytest.raises(events.EventContractError):
        events.validate_event_data("scoring", "scores_changed", {"changes": too_many})


def test_inbound_batch_items_keep_unknown_fields():
    envelope = make_envelope("scoring", "scores_changed", {"changes": [_score("c1")]})
    envelope["data"]["changes"][0]["added_in_v2"] = 1
    assert events.parse_event(envelope)["data"]["changes"][0]["added_in_v2"] == 1


def _email(contact_id: str, **extra):
    return {"contact_id": contact_id, "email_id": f"e-{contact_id}", "subject": "Hi", "campaign_id": None,
            "template_id": None, **extra}


@pytest.mark.parametrize("batch_type, single_type", [("emails_sent", "email_sent"), ("emails_opened", "email_opened"),
                                                     ("emails_bounced", "email_bounced")])
def test_email_batch_items_are_exactly_the_single_bodies(batch_type, single_type):
    items = [_email("c1"), _email("c2", actor_id="u1")]
    for item in items:
        events.validate_event_data("messaging", single_type, item)
    events.validate_event_data("messaging", batch_type, {"emails": items})
    with pytest.raises(events.EventContractError, match="email_id"):
        events.validate_event_data("messaging", batch_type, {"emails": [_email("c1"), {"contact_id": "c2"}]})
    with pytest.raises(events.EventContractError):
        events.validate_event_data("messaging", batch_type, {"emails": []})
    with pytest.raises(events.EventContractError):
        events.validate_event_data("messaging", batch_type,
                                   {"emails": [_email(f"c{i}") for i in range(events.BATCH_EVENT_LIMIT + 1)]})
    envelope = make_envelope("messaging", batch_type, {"emails": items})
    envelope["data"]["emails"][1]["added_in_v2"] = 1
    assert events.parse_event(envelope)["data"]["emails"][1]["added_in_v2"] == 1


def test_engagements_recorded_items_are_engagement_recorded_bodies():
    item = {"contact_id": "c1", "engagement_event_id": "ev1", "type": "email_sent",
            "occurred_at": "2026-12-03T10:00:00+00:00", "properties": {"email_id": "e1"}}
    events.validate_event_data("scoring", "engagement_recorded", item)
    events.validate_event_data("scoring", "engagements_recorded", {"engagements": [item, dict(item, contact_id="c2")]})
    with pytest.raises(events.EventContractError, match="type"):
        events.validate_event_data("scoring", "engagements_recorded",
                                   {"engagements": [{k: v for k, v in item.items() if k != "type"}]})
    with pytest.raises(events.EventContractError):
        events.validate_event_data("scoring", "engagements_recorded", {"engagements": []})
