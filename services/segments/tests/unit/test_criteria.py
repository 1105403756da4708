"""The shared criteria language: validation errors that name the bad part, and every operator."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_shared.criteria import matches, role_class, to_number, validate_criteria
from crm_shared.errors import ValidationFailed

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def fields_of(exc: pytest.ExceptionInfo) -> dict:
    return exc.value.details["fields"]


def one(field: str, op: str, value=None, **extra) -> dict:
    cond = {"field": field, "op": op}
    if value is not None or op != "exists":
        cond["value"] = value
    return validate_criteria({"all": [cond]})


@pytest.mark.parametrize(("data", "path", "reason"), [
    ({"all": [{"field": "score", "op": "gt", "value": 1}, {"field": "score", "op": "bogus", "value": 1}]},
     "criteria.all[1].op", "unknown operator"),
    ({"all": [{"field": "nope", "op": "eq", "value": 1}]}, "criteria.all[0].field", "unknown field"),
    ({"any": [{"all": [{"field": "score", "op": "gt", "value": "high"}]}]}, "criteria.any[0].all[0].value",
     "must be a number"),
    ({"all": [{"field": "tags", "op": "gt", "value": 3}]}, "criteria.all[0].op", "does not apply"),
    ({"all": [{"field": "created_at", "op": "within_days", "value": 0}]}, "criteria.all[0].value", "whole number"),
    ({"all": [{"field": "score", "op": "between", "value": [90, 10]}]}, "criteria.all[0].value", "greater"),
    ({"all": [{"field": "stage", "op": "in", "value": []}]}, "criteria.all[0].value", "non-empty"),
    ({"all": []}, "criteria.all", "non-empty"),
    ({"both": []}, "criteria", "exactly one key"),
    ([1, 2], "criteria", "must be a group"),
    ({"all": [{"field": "score", "op": "gt"}]}, "criteria.all[0].value", "required"),
    ({"all": [{"field": "score", "op": "gt", "value": 1, "extra": 1}]}, "criteria.all[0].extra", "unknown key"),
    ({"all": [{"field": "created_at", "op": "gt", "value": "yesterday"}]}, "criteria.all[0].value", "ISO 8601"),
    ({"all": [{"field": "demo_requested", "op": "eq", "value": "yes"}]}, "criteria.all[0].value", "true or false"),
])
def test_errors_name_the_bad_part(data, path, reason):
    with pytest.raises(ValidationFailed) as exc:
        validate_criteria(data)
    assert path in fields_of(exc), fields_of(exc)
    assert any(reason in message for message in fields_of(exc)[path])


def test_nesting_depth_and_condition_limits():
    deep: dict = {"field": "score", "op": "gt", "value": 1}
    for _ in range(6):
        deep = {"all": [deep]}
    with pytest.raises(ValidationFailed) as exc:
        validate_criteria(deep)
    assert any("nest" in m for messages in fields_of(exc).values() for m in messages)
    with pytest.raises(ValidationFailed) as exc:
        validate_criteria({"any": [{"field": "score", "op": "eq", "value": i} for i in range(51)]})
    assert "criteria" in fields_of(exc)


def test_normalises_aliases_values_and_dates():
    tree = validate_criteria({"all": [{"field": "AI_Score", "op": "gt", "value": 80.0},
                                      {"field": "custom_fields.Plan", "op": "eq", "value": " Gold "},
                                      {"field": "created_at", "op": "lte", "value": "2026-01-31"}]})
    assert tree == {"all": [{"field": "score", "op": "gt", "value": 80},
                            {"field": "custom.Plan", "op": "eq", "value": "Gold"},
                            {"field": "created_at", "op": "lte", "value": "2026-01-31T23:59:59.999999+00:00"}]}


def test_seed_templates_match_the_seed_examples():
    high_value = validate_criteria({"all": [{"field": "score", "op": "gt", "value": 80},
                                            {"field": "company_size", "op": "gt", "value": 100}]})
    assert matches(high_value, {"score": 81, "company_size": 101})
    assert not matches(high_value, {"score": 80, "company_size": 5000})
    champions = validate_criteria({"all": [{"field": "engagement_level", "op": "gt", "value": 70},
                                           {"field": "demo_requested", "op": "eq", "value": True}]})
    assert matches(champions, {"engagement_level": 75.5, "demo_requested": True})
    assert matches(champions, {"engagement_level": 75.5, "events": {"demo_requested": "2026-11-01T00:00:00Z"}})
    assert not matches(champions, {"engagement_level": 75.5, "demo_requested": False})
    enterprise = validate_criteria({"all": [{"field": "company_size", "op": "gt", "value": 1000},
                                            {"field": "position", "op": "eq", "value": "C-Level"}]})
    assert matches(enterprise, {"company_size": 5000, "position": "Chief Financial Officer"})
    assert matches(enterprise, {"company_size": "1001-5000", "position": "CTO"})
    assert not matches(enterprise, {"company_size": 5000, "position": "Engineering Manager"})


@pytest.mark.parametrize(("position", "klass"), [
    ("CEO", "C-Level"), ("Founder & CEO", "C-Level"), ("Chief Revenue Officer", "C-Level"),
    ("Co-Founder", "Founder"), ("VP of Sales", "VP/Director"), ("Head of IT", "VP/Director"),
    ("Marketing Manager", "Manager"), ("Engineer", "Other"), ("", None), (None, None),
])
def test_role_classes(position, klass):
    assert role_class(position) == klass


RECORD = {
    "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "stage": "Qualified",
    "position": "CTO", "company": "Analytical Engines Ltd", "company_size": 250, "score": 85,
    "engagement_level": 72.5, "tags": ["Enterprise", "VIP"], "campaign_ids": ["c1"], "campaigns": ["spring push"],
    "created_at": (NOW - timedelta(days=3)).isoformat(), "last_email_opened_at": NOW - timedelta(days=10),
    "custom_fields": {"plan": "Gold", "seats": "1,200", "renewal": "2027-01-15", "vip": True},
    "events": {"webinar_attended": (NOW - timedelta(days=1)).isoformat()},
    "address": {"city": "London", "country": "UK"}, "owner_id": "u1", "demo_requested": False,
}


@pytest.mark.parametrize(("cond", "expected"), [
    ({"field": "stage", "op": "eq", "value": "qualified"}, True),
    ({"field": "stage", "op": "ne", "value": "Qualified"}, False),
    ({"field": "department", "op": "ne", "value": "Sales"}, True),          # missing satisfies ne
    ({"field": "company", "op": "contains", "value": "engines"}, True),
    ({"field": "company", "op": "not_contains", "value": "engines"}, False),
    ({"field": "industry", "op": "not_contains", "value": "oil"}, True),
    ({"field": "score", "op": "gt", "value": 85}, False),
    ({"field": "score", "op": "gte", "value": 85}, True),
    ({"field": "score", "op": "lt", "value": 86}, True),
    ({"field": "score", "op": "lte", "value": 84}, False),
    ({"field": "score", "op": "between", "value": [80, 90]}, True),
    ({"field": "score", "op": "in", "value": [85, 99]}, True),
    ({"field": "score", "op": "not_in", "value": [85]}, False),
    ({"field": "fit", "op": "gt", "value": 0}, False),                     # missing fails positive ops
    ({"field": "stage", "op": "in", "value": ["New", "QUALIFIED"]}, True),
    ({"field": "stage", "op": "not_in", "value": ["New"]}, True),
    ({"field": "tags", "op": "contains", "value": "vip"}, True),
    ({"field": "tags", "op": "not_contains", "value": "vip"}, False),
    ({"field": "tags", "op": "in", "value": ["partner", "enterprise"]}, True),
    ({"field": "tags", "op": "not_in", "value": ["partner"]}, True),
    ({"field": "tags", "op": "exists", "value": True}, True),
    ({"field": "phone", "op": "exists", "value": False}, True),
    ({"field": "created_at", "op": "within_days", "value": 7}, True),
    ({"field": "last_email_opened_at", "op": "within_days", "value": 7}, False),
    ({"field": "created_at", "op": "between", "value": ["2026-11-01", "2026-11-30"]}, True),
    ({"field": "created_at", "op": "lt", "value": "2026-11-20"}, True),
    ({"field": "created_at", "op": "gt", "value": "2026-11-19T13:00:00+00:00"}, False),
    ({"field": "position", "op": "in", "value": ["C-Level", "Founder"]}, True),
    ({"field": "position", "op": "ne", "value": "C-Level"}, False),
    ({"field": "position", "op": "contains", "value": "ct"}, True),
    ({"field": "role_class", "op": "eq", "value": "C-Level"}, True),
    ({"field": "demo_requested", "op": "eq", "value": False}, True),
    ({"field": "demo_requested", "op": "ne", "value": True}, True),
    ({"field": "campaign_ids", "op": "contains", "value": "c1"}, True),
    ({"field": "campaigns", "op": "contains", "value": "Spring Push"}, True),
    ({"field": "city", "op": "eq", "value": "london"}, True),
    ({"field": "name", "op": "eq", "value": "Ada Lovelace"}, True),
    ({"field": "owner_id", "op": "eq", "value": "u1"}, True),
    ({"field": "custom.plan", "op": "eq", "value": "gold"}, True),
    ({"field": "custom.seats", "op": "gt", "value": 1000}, True),
    ({"field": "custom.renewal", "op": "gt", "value": "2026-12-31"}, True),
    ({"field": "custom.vip", "op": "eq", "value": True}, True),
    ({"field": "custom.missing", "op": "exists", "value": False}, True),
    ({"field": "event.webinar_attended", "op": "within_days", "value": 2}, True),
    ({"field": "event.demo_requested", "op": "exists", "value": True}, False),
])
def test_every_operator(cond, expected):
    assert matches(validate_criteria({"all": [cond]}), RECORD, now=NOW) is expected


def test_any_and_nested_groups():
    tree = validate_criteria({"any": [
        {"field": "score", "op": "gt", "value": 95},
        {"all": [{"field": "tags", "op": "contains", "value": "vip"},
                 {"any": [{"field": "stage", "op": "eq", "value": "New"},
                          {"field": "company_size", "op": "gte", "value": 250}]}]},
    ]})
    assert matches(tree, RECORD, now=NOW)
    assert not matches(tree, {**RECORD, "company_size": 10}, now=NOW)


@pytest.mark.parametrize(("raw", "number"), [(250, 250.0), ("1,000", 1000.0), ("101-500", 101.0), ("1000+", 1000.0),
                                             ("n/a", None), (None, None), (True, None)])
def test_company_size_numbers(raw, number):
    assert to_number(raw) == number
