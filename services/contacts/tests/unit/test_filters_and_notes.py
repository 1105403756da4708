"""List filter parsing and note validation, without a database."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contacts.notes import clean_note
from contacts.operations import order_by, parse_filters
from crm_shared.errors import BadRequest, ValidationFailed


def test_filters_are_typed_and_canonical():
    parsed = parse_filters({"q": "  Émile  ZOLA ", "stage": "hot lead,qualified", "tag": ["VIP"],
                            "score_min": "10", "score_max": 90, "created_from": "2026-01-01",
                            "created_to": "2026-01-31", "inactive": "true", "owner_id": "a,b"})
    assert parsed["q"] == "emile zola"
    assert parsed["stage"] == ["Hot Lead", "Qualified"] and parsed["owner_id"] == ["a", "b"]
    assert (parsed["score_min"], parsed["score_max"]) == (10, 90)
    assert parsed["created_from"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert parsed["created_to"] == datetime(2026, 2, 1, tzinfo=UTC)  # the whole last day is included
    assert parsed["inactive_days"] == 30


@pytest.mark.parametrize("filters, field", [
    ({"score_min": 101}, "score_min"), ({"score_min": 50, "score_max": 10}, "score_min"),
    ({"stage": "Sleeping"}, "stage"), ({"created_from": "yesterday"}, "created_from"),
    ({"inactive_days": 0}, "inactive_days"),
])
def test_bad_filters_name_the_field(filters, field):
    with pytest.raises(ValidationFailed) as exc:
        parse_filters(filters)
    assert field in exc.value.details["fields"]


def test_unknown_filter_is_a_400():
    with pytest.raises(BadRequest):
        parse_filters({"stagee": "New"})


def test_sort_whitelist():
    assert len(order_by("-score")) == 2
    with pytest.raises(ValidationFailed):
        order_by("password_hash")


def test_note_validation():
    assert clean_note({"text": " Called back ", "type": "Call"}) == {"text": "Called back", "type": "call", "tags": []}
    with pytest.raises(ValidationFailed) as exc:
        clean_note({"text": "", "type": "gossip", "tags": ["x" * 60]})
    assert set(exc.value.details["fields"]) == {"text", "type", "tags"}
    with pytest.raises(BadRequest):
        clean_note({"text": "hi", "author_id": "someone-else"})
    assert clean_note({"tags": ["pricing"]}, partial=True) == {"tags": ["pricing"]}
