"""Pure rules of segment definitions: input cleaning and the seed-style criteria display."""
from __future__ import annotations

import pytest

from crm_shared.errors import ValidationFailed
from segments.display import describe
from segments.operations import BUILTIN_TEMPLATES, clean_definition, clean_ids


def test_builtin_templates_read_like_the_seed():
    shown = {t["name"]: describe(t["criteria"]) for t in BUILTIN_TEMPLATES}
    assert shown == {"High Value Prospects": "Score > 80 AND Company Size > 100",
                     "Product Champions": "Engagement > 70% AND Demo Requested",
                     "Enterprise Leads": "Company Size > 1000 AND Position = C-Level"}


def test_nested_display():
    tree = {"any": [{"field": "stage", "op": "in", "value": ["New", "Hot Lead"]},
                    {"all": [{"field": "created_at", "op": "within_days", "value": 7},
                             {"field": "tags", "op": "exists", "value": False}]}]}
    assert describe(tree) == 'Stage in (New, "Hot Lead") OR (Created At within 7 days AND Tags is not set)'


def test_kind_follows_criteria_and_static_refuses_criteria():
    assert clean_definition({"name": "A"})["kind"] == "static"
    dynamic = clean_definition({"name": " A ", "criteria": {"all": [{"field": "score", "op": "gt", "value": 1}]}})
    assert dynamic["kind"] == "dynamic" and dynamic["name"] == "A"
    with pytest.raises(ValidationFailed) as exc:
        clean_definition({"name": "A", "kind": "static", "criteria": {"all": []}})
    assert "criteria" in exc.value.details["fields"]
    with pytest.raises(ValidationFailed) as exc:
        clean_definition({"name": "A", "kind": "dynamic"})
    assert exc.value.details["fields"]["criteria"] == ["required for a dynamic segment"]


@pytest.mark.parametrize(("data", "field"), [
    ({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({"name": "A", "color": "blue"}, "color"),
    ({"name": "A", "kind": "smart"}, "kind"), ({"name": "A", "owner": "me"}, "owner"),
    ({"name": "A", "description": "x" * 501}, "description"),
])
def test_bad_fields_are_named(data, field):
    with pytest.raises(ValidationFailed) as exc:
        clean_definition(data)
    assert field in exc.value.details["fields"]


def test_partial_update_keeps_what_is_not_given():
    assert clean_definition({"description": "new"}, partial=True) == {"description": "new"}


@pytest.mark.parametrize("ids", [[], "abc", [""], [None], [True]])
def test_contact_ids_must_be_a_list_of_ids(ids):
    with pytest.raises(ValidationFailed):
        clean_ids(ids)


def test_contact_ids_are_deduplicated_in_order():
    assert clean_ids(["b", "a", "b", 7]) == ["b", "a", "7"]
