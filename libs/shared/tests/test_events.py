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
