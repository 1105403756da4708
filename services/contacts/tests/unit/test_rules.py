"""The contacts business rules, without a database or a bus."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from contacts import rules
from crm_shared.auth import Caller
from crm_shared.errors import BadRequest, ValidationFailed

ADMIN = Caller("u-admin", "admin", "Ada")
MARKETING = Caller("u-mk", "marketing", "Maya")
SALES = Caller("u-sales", "sales", "Sam")
SALES2 = Caller("u-sales2", "sales", "Sofia")
EXEC = Caller("u-exec", "executive", "Evan")


def test_clean_contact_normalises_every_field():
    out = rules.clean_contact({
        "first_name": " David ", "last_name": "Thompson", "email": "D.Thompson@FutureTech.NET",
        "emails": ["d@x.com", "D.Thompson@futuretech.net"], "phone": "+1 (555) 321-0987",
        "phones": ["+1 555 321 0987", "+44 20 7946 0958"], "stage": "hot lead", "type": "partner",
        "channel": "Trade Show", "social": {"linkedin": "linkedin.com/in/dt"}, "company_size": "1,200",
        "address": {"city": "Austin", "zip": "73301"}, "tags": ["CEO", "ceo", "Enterprise"],
        "custom_fields": {"utility_type": "Electric"},
    })
    assert out["first_name"] == "David" and out["email"] == "d.thompson@futuretech.net"
    assert out["emails"] == ["d@x.com"]  # the primary is not repeated as a secondary
    assert out["phone"] == "+15553210987" and out["phones"] == ["+442079460958"]
    assert out["stage"] == "Hot Lead" and out["type"] == "Partner" and out["channel"] == "Trade Show"
    assert out["social"] == {"linkedin": "https://linkedin.com/in/dt"}
    assert out["company_size"] == 1200 and out["tags"] == ["CEO", "Enterprise"]


def test_clean_contact_names_every_bad_field():
    with pytest.raises(ValidationFailed) as exc:
        rules.clean_contact({"first_name": "", "last_name": "O", "email": "x@", "phone": "555-1234",
                             "social": {"facebook": "nope"}, "stage": "Sleeping", "company_size": -1,
                             "address": {"planet": "Mars"}, "notes": "n" * 2001})
    fields = exc.value.details["fields"]
    assert set(fields) == {"first_name", "last_name", "email", "phone", "social", "stage", "company_size",
                           "address", "notes"}


def test_partial_clean_checks_only_given_fields():
    assert rules.clean_contact({"position": "CTO"}, partial=True) == {"position": "CTO"}


@pytest.mark.parametrize("field", ["score", "created_at", "created_by", "inactive", "hobby"])
def test_server_owned_and_unknown_fields_are_refused(field):
    with pytest.raises(BadRequest) as exc:
        rules.clean_contact({"first_name": "Ann", "last_name": "Lee", "email": "a@b.co", field: 1})
    assert field in exc.value.details["fields"]


def test_initial_tags_from_form_data():
    tags = rules.initial_tags({"Utility Type": "Electric", "position": "VP of Sales",
                               "biggest-challenge": "Rising costs: 20%!", "Subscribed": "Yes",
                               "schedule_demo": "no"})
    assert tags == ["Electric", "VP of Sales", "Rising costs 20", "Subscribed"]
    assert rules.initial_tags({"schedule_demo": True, "subscribed": ""}) == ["Schedule Demo"]
    assert rules.initial_tags({}) == []


def test_tag_merging_is_case_insensitive():
    assert rules.merge_tags(["VIP"], ["vip", "New"]) == ["VIP", "New"]
    assert rules.remove_tags(["VIP", "New"], ["vip"]) == ["New"]


def test_kpi_periods():
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert rules.period_range("all", now) == (None, None)
    assert rules.period_range("this_month", now) == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert rules.period_range("last_month", now) == (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    january = datetime(2026, 1, 10, tzinfo=UTC)
    assert rules.period_range("last_month", january)[0] == datetime(2025, 12, 1, tzinfo=UTC)
    with pytest.raises(ValidationFailed):
        rules.period_range("forever", now)


def test_inactive_after_thirty_days():
    now = datetime(2026, 3, 31, tzinfo=UTC)
    assert rules.is_inactive(now - timedelta(days=31), now)
    assert not rules.is_inactive(now - timedelta(days=29), now)


def test_contact_permissions():
    assert rules.can_write_contact(SALES, "u-sales") and not rules.can_write_contact(SALES, "u-sales2")
    assert rules.can_write_contact(MARKETING, "u-sales") and not rules.can_write_contact(EXEC, "u-exec")
    assert rules.can_change_owner(ADMIN) and not rules.can_change_owner(MARKETING)
    assert rules.can_set_owner_on_create(MARKETING, "u-sales2")
    assert rules.can_set_owner_on_create(SALES, "u-sales") and not rules.can_set_owner_on_create(SALES, "u-sales2")


def test_note_permissions():
    # author edits and deletes; contact owner edits; admin all; others read only
    assert rules.can_edit_note(SALES, "u-sales", "u-other") and rules.can_delete_note(SALES, "u-sales")
    assert rules.can_edit_note(SALES2, "u-mk", "u-sales2") and not rules.can_delete_note(SALES2, "u-mk")
    assert not rules.can_edit_note(SALES2, "u-sales", "u-sales")
    assert not rules.can_edit_note(EXEC, "u-exec", "u-exec")
    assert rules.can_edit_note(ADMIN, "x", "y") and rules.can_delete_note(ADMIN, "x")


def test_merge_values_chosen_win_and_nothing_is_lost():
    primary = {"id": "p", "first_name": "Michael", "last_name": "Chen", "email": "m@a.com", "emails": [],
               "phone": "+15559876543", "phones": [], "position": "CTO", "company": None, "tags": ["Tech"],
               "address": {"city": "Austin"}, "social": {}, "custom_fields": {}, "score": 40}
    dup = {"id": "d", "first_name": "Mike", "last_name": "Chen", "email": "mike@b.com", "emails": ["mc@c.com"],
           "phone": "+15550001111", "phones": [], "position": "Engineer", "company": "InnovateTech",
           "tags": ["Champion", "tech"], "address": {"city": "Dallas", "zip": "75001"}, "social": {},
           "custom_fields": {"k": "v"}, "score": 87}
    out = rules.merge_values(primary, [dup], {"first_name": "d", "email": "d"})
    assert out["first_name"] == "Mike" and out["email"] == "mike@b.com"
    assert out["position"] == "CTO" and out["company"] == "InnovateTech"
    assert out["emails"] == ["m@a.com", "mc@c.com"] and out["phones"] == ["+15550001111"]
    assert out["tags"] == ["Tech", "Champion"] and out["score"] == 87
    assert out["address"] == {"city": "Austin", "zip": "75001"} and out["custom_fields"] == {"k": "v"}
    with pytest.raises(ValidationFailed):
        rules.merge_values(primary, [dup], {"first_name": "stranger"})


def test_import_merge_fills_gaps_and_reports_conflicts():
    existing = {"email": "a@b.com", "emails": [], "phone": None, "phones": [], "position": "CEO",
                "department": None, "tags": ["X"], "address": {"city": "Austin"}}
    updates, conflicts = rules.import_merge(existing, {"email": "other@b.com", "phone": "+15551234567",
                                                       "position": "Chief", "department": "Ops", "tags": ["Y"],
                                                       "address": {"city": "Paris", "zip": "75001"}})
    assert updates == {"emails": ["other@b.com"], "phone": "+15551234567", "department": "Ops",
                       "tags": ["X", "Y"], "address": {"city": "Austin", "zip": "75001"}}
    assert conflicts == {"position": {"existing": "CEO", "incoming": "Chief"},
                         "address.city": {"existing": "Austin", "incoming": "Paris"}}


def test_export_csv_quotes_everything_and_neutralises_formulas():
    body = rules.export_csv([{"name": "=cmd|' /C calc'!A0", "company": 'A "B", C', "tags": ["x", "y"],
                              "position": "-2+3", "email": "@sum", "inactive": True, "score": 5}])
    rows = list(csv.reader(io.StringIO(body)))
    header, row = rows
    assert header[0] == "Name" and len(row) == len(header)
    data = dict(zip(header, row, strict=True))
    assert data["Name"] == "'=cmd|' /C calc'!A0" and data["Position"] == "'-2+3" and data["Email"] == "'@sum"
    assert data["Company"] == 'A "B", C' and data["Tags"] == "x, y" and data["Inactive"] == "yes"
    assert all(line.startswith('"') for line in body.split("\r\n") if line)


def test_audit_chain_detects_tampering():
    rows, prev = [], rules.GENESIS_HASH
    for i in range(3):
        record = rules.audit_record({"at": f"2026-01-0{i + 1}T00:00:00+00:00", "actor_id": "u", "actor_role": "admin",
                                     "action": "update", "entity": "contact", "entity_id": str(i),
                                     "before": {"x": "a\nb"}, "after": {"x": i}, "details": {}})
        digest = rules.audit_hash(prev, record)
        rows.append({**record, "id": i + 1, "prev_hash": prev, "hash": digest})
        prev = digest
    assert rows[0]["before"] == {"x": "a\\nb"}  # CR/LF escaped
    assert rules.verify_chain(rows) is None
    rows[1]["after"] = {"x": 99}
    assert rules.verify_chain(rows) == 2


def test_activity_type_groups():
    assert rules.activity_type_filter(["email", "note_added", ""]) == (["note_added"], ["email_"])


def test_search_words_skip_emails_and_short_words():
    text = rules.search_text("Émile", "Zola", "Rougon Co", "VP", ["Enterprise"], "e.zola@rougon.fr")
    assert rules.search_words(text) == {"emile", "zola", "rougon", "enterprise"}


def test_membership_titles_say_why_when_the_segment_itself_changed():
    assert rules.membership_title("joined", "VIPs") == "Added to segment: VIPs"
    assert rules.membership_title("left", "VIPs", "segment_deleted") == \
        "Removed from segment: VIPs (the segment was deleted)"
    assert rules.membership_title("left", "VIPs", "criteria_edited") == "Removed from segment: VIPs (criteria edited)"
    assert rules.membership_title("odd", "VIPs") == "Segment membership changed: VIPs"
