"""Rule validation, triggers, execution modes and schedules as plain functions (seed 003 rule builder)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_shared.errors import ValidationFailed
from scoring import rules

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday


def rule(**body) -> dict:
    return rules.validate_rule({"name": "r", "trigger": {"type": "score_change"},
                                "actions": [{"type": "add_tag", "tags": ["x"]}], **body})


def test_defaults_and_priority_words():
    r = rule(priority="low")
    assert r["priority"] == 10 and r["mode"] == {"type": "periodic"} and r["blocking"] is False
    assert rules.validate_rule(rules.default_hot_lead_rule())["criteria"]["all"][0]["field"] == "score"


@pytest.mark.parametrize(("body", "field"), [
    ({"trigger": {"type": "field_change"}}, "trigger"),
    ({"trigger": {"type": "schedule"}}, "trigger"),
    ({"trigger": {"type": "schedule", "weekday": 9, "at": "10:00"}}, "trigger"),
    ({"actions": [{"type": "enroll_campaign"}]}, "actions"),
    ({"actions": [{"type": "fly"}]}, "actions"),
    ({"mode": {"type": "in_cycle", "every_minutes": 10}}, "mode"),
    ({"criteria": {"any": [{"field": "nope", "op": "eq", "value": 1}]}}, "criteria.any[0].field"),
    ({"priority": 0}, "priority"),
    ({"name": ""}, "name"),
])
def test_invalid_rules_name_the_part(body, field):
    with pytest.raises(ValidationFailed) as err:
        rule(**body)
    assert field in err.value.details["fields"]


def test_trigger_matching():
    stage = rule(trigger={"type": "stage_change", "from": "New", "to": "Qualified"})["trigger"]
    assert rules.trigger_matches(stage, {"kind": "stage_change", "from": "new", "to": "Qualified"})
    assert not rules.trigger_matches(stage, {"kind": "stage_change", "from": "Nurturing", "to": "Qualified"})
    fields = rule(trigger={"type": "field_change", "fields": ["company", "position"]})["trigger"]
    assert rules.trigger_matches(fields, {"kind": "field_change", "fields": ["Position"]})
    assert not rules.trigger_matches(fields, {"kind": "field_change", "fields": ["phone"]})
    events = rule(trigger={"type": "event", "event_types": ["demo_requested"]})["trigger"]
    assert rules.trigger_matches(events, {"kind": "event", "event_type": "demo_requested"})
    assert not rules.trigger_matches(events, {"kind": "stage_change"})
    score = rule(trigger={"type": "score_change", "min_delta": 10})["trigger"]
    assert rules.trigger_matches(score, {"kind": "score_change", "score": 60, "previous_score": 45})
    assert not rules.trigger_matches(score, {"kind": "score_change", "score": 50, "previous_score": 45})


def test_weekly_and_interval_schedules():
    weekly = {"type": "schedule", "weekday": 1, "at": "10:00"}  # every Tuesday at 10 AM
    nxt = rules.next_schedule_run(weekly, NOW)
    assert nxt == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert rules.next_schedule_run(weekly, nxt) == nxt + timedelta(days=7)
    assert rules.next_schedule_run({"type": "schedule", "every_minutes": 60}, NOW) == NOW + timedelta(hours=1)


def state(count: int, first_ago: timedelta, last_ago: timedelta) -> dict:
    return {"fired_count": count, "first_fired_at": NOW - first_ago, "last_fired_at": NOW - last_ago}


def test_one_time_acts_once_per_contact():
    mode = {"type": "one_time"}
    assert rules.mode_allows(mode, None, NOW)[0]
    assert not rules.mode_allows(mode, state(1, timedelta(days=1), timedelta(days=1)), NOW)[0]


def test_periodic_respects_its_frequency():
    assert rules.mode_allows({"type": "periodic"}, state(3, timedelta(days=1), timedelta(seconds=30)), NOW)[0]
    hourly = {"type": "periodic", "every_minutes": 60}
    assert not rules.mode_allows(hourly, state(1, timedelta(minutes=30), timedelta(minutes=30)), NOW)[0]
    assert rules.mode_allows(hourly, state(1, timedelta(minutes=61), timedelta(minutes=61)), NOW)[0]


def test_in_cycle_every_3_days_for_2_weeks():
    mode = {"type": "in_cycle", "every_minutes": 3 * 24 * 60, "for_days": 14}
    s = state(1, timedelta(days=3), timedelta(days=3))
    assert rules.mode_allows(mode, s, NOW)[0]
    assert rules.next_cycle_due(mode, s, NOW) == NOW
    assert not rules.mode_allows(mode, state(2, timedelta(days=4), timedelta(days=1)), NOW)[0]
    over = state(5, timedelta(days=15), timedelta(days=3))
    assert not rules.mode_allows(mode, over, NOW)[0] and rules.next_cycle_due(mode, over, NOW) is None
    counted = {"type": "in_cycle", "every_minutes": 1, "times": 2}
    assert not rules.mode_allows(counted, state(2, timedelta(hours=1), timedelta(hours=1)), NOW)[0]


def test_sunset_and_priority_order():
    live = {"enabled": True, "sunset_at": NOW + timedelta(days=1)}
    assert rules.is_live(live, NOW)
    assert not rules.is_live({**live, "sunset_at": NOW - timedelta(seconds=1)}, NOW)
    assert not rules.is_live({**live, "enabled": False}, NOW)
    ordered = rules.order_rules([
        {"id": "b", "priority": 5, "created_at": NOW}, {"id": "a", "priority": 1, "created_at": NOW},
        {"id": "c", "priority": 5, "created_at": NOW - timedelta(days=1)}])
    assert [r["id"] for r in ordered] == ["a", "c", "b"]
