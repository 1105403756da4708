"""Segments through the gateway against the real system (issue 6).

Contacts are created and changed through the contacts API, so their events
feed the segments projection exactly as in production. Scoring and messaging
facts (score, demo requested, email opened, campaign enrolment) are published
on the bus in the same envelope those services use, so these tests do not
depend on how far the other services are.
"""
from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kombu import Connection

from crm_shared.reliability import event_exchange, make_envelope
from crm_shared.testing.helpers import wait_for

BASE = "/api/v1"


@pytest.fixture(scope="module")
def clients(api) -> dict:
    return {role: api.as_role(role) for role in ("admin", "marketing", "sales", "sales2", "executive")}


@pytest.fixture(scope="module")
def mk(clients):
    return clients["marketing"]


def uniq() -> str:
    return "t" + uuid.uuid4().hex[:12]


def new_contact(client, tag: str, **fields) -> dict:
    body = {"first_name": "Seg", "last_name": "Test", "email": f"{uuid.uuid4().hex[:10]}@example.com",
            "tags": [tag], **fields}
    response = client.post(f"{BASE}/contacts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def publish(source: str, event_type: str, data: dict, occurred_at: datetime | None = None) -> None:
    """Put a fact on the bus the way the owning service's outbox relay does."""
    envelope = make_envelope(source, event_type, data)
    if occurred_at is not None:
        envelope["occurred_at"] = occurred_at.isoformat()
    with Connection(os.environ["CRM_AMQP_URI"]) as conn:
        conn.Producer(serializer="json").publish(envelope, exchange=event_exchange(source), routing_key=event_type,
                                                 retry=True)


def preview_count(client, tag: str, *conditions: dict) -> int:
    criteria = {"all": [{"field": "tags", "op": "contains", "value": tag}, *conditions]}
    response = client.post(f"{BASE}/segments/preview", json={"criteria": criteria})
    assert response.status_code == 200, response.text
    return response.json()["count"]


def wait_projected(client, tag: str, count: int) -> None:
    wait_for(lambda: preview_count(client, tag) == count)


def memberships(client, contact_id: str) -> dict[str, dict]:
    response = client.get(f"{BASE}/contacts/{contact_id}/segments")
    assert response.status_code == 200, response.text
    return {m["segment_id"]: m for m in response.json()["items"]}


def create_segment(client, name: str | None = None, **body) -> dict:
    response = client.post(f"{BASE}/segments", json={"name": name or f"Seg {uniq()}", **body})
    assert response.status_code == 201, response.text
    return response.json()


# -- definitions, templates, validation ---------------------------------------------
def test_seed_templates_ready_to_use(mk):
    body = mk.get(f"{BASE}/segments/templates").json()
    by_name = {t["name"]: t for t in body["items"]}
    assert by_name["High Value Prospects"]["criteria_display"] == "Score > 80 AND Company Size > 100"
    assert by_name["Product Champions"]["criteria_display"] == "Engagement > 70% AND Demo Requested"
    assert by_name["Enterprise Leads"]["criteria_display"] == "Company Size > 1000 AND Position = C-Level"
    segment = create_segment(mk, name=f"Enterprise {uniq()}", template_id="enterprise-leads")
    assert segment["kind"] == "dynamic"
    assert segment["criteria"] == by_name["Enterprise Leads"]["criteria"]
    assert segment["template_id"] == "enterprise-leads"
    mk.delete(f"{BASE}/segments/{segment['id']}")


def test_enterprise_leads_finds_c_level_positions(mk):
    tag = uniq()
    ceo = new_contact(mk, tag, position="Chief Executive Officer", company_size=5000)
    new_contact(mk, tag, position="Engineer", company_size=5000)
    new_contact(mk, tag, position="CFO", company_size=50)
    wait_projected(mk, tag, 3)
    segment = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag},
                                                   {"field": "company_size", "op": "gt", "value": 1000},
                                                   {"field": "position", "op": "eq", "value": "C-Level"}]})
    members = mk.get(f"{BASE}/segments/{segment['id']}/members").json()
    assert [m["contact_id"] for m in members["items"]] == [ceo["id"]]
    assert segment["member_count"] == 1
    mk.delete(f"{BASE}/segments/{segment['id']}")


@pytest.mark.parametrize(("criteria", "path"), [
    ({"all": [{"field": "score", "op": "gt", "value": 1}, {"field": "stage", "op": "like", "value": "x"}]},
     "criteria.all[1].op"),
    ({"any": [{"all": [{"field": "favourite_colour", "op": "eq", "value": "x"}]}]}, "criteria.any[0].all[0].field"),
    ({"all": [{"field": "score", "op": "between", "value": [1]}]}, "criteria.all[0].value"),
    ({"all": []}, "criteria.all"),
])
def test_invalid_criteria_name_the_bad_part(mk, criteria, path):
    for response in (mk.post(f"{BASE}/segments", json={"name": f"Bad {uniq()}", "criteria": criteria}),
                     mk.post(f"{BASE}/segments/preview", json={"criteria": criteria})):
        assert response.status_code == 422, response.text
        assert path in response.json()["error"]["details"]["fields"]


def test_bad_definition_fields_are_named(mk):
    response = mk.post(f"{BASE}/segments", json={"name": "x", "color": "red"})
    assert response.status_code == 422 and "color" in response.json()["error"]["details"]["fields"]
    response = mk.post(f"{BASE}/segments", json={"name": "x", "owner": "me"})
    assert response.status_code == 400
    response = mk.post(f"{BASE}/segments", json={"name": "x", "kind": "static",
                                                 "criteria": {"all": [{"field": "score", "op": "gt", "value": 1}]}})
    assert response.status_code == 422 and "criteria" in response.json()["error"]["details"]["fields"]
    name = f"Dup {uniq()}"
    first = create_segment(mk, name=name)
    assert mk.post(f"{BASE}/segments", json={"name": name.upper()}).status_code == 409
    assert mk.get(f"{BASE}/segments/{uuid.uuid4()}").status_code == 404
    mk.delete(f"{BASE}/segments/{first['id']}")


def test_every_operator_and_nesting_through_preview(mk):
    tag = uniq()
    recent = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    a = new_contact(mk, tag, first_name="Alice", company="Acme Robotics", company_size=250, stage="Qualified",
                    position="CTO", channel="Webinar", type="Prospect", industry="Manufacturing",
                    custom_fields={"plan": "Gold", "seats": 40}, address={"city": "Berlin", "country": "DE"})
    new_contact(mk, tag, first_name="Bruno", company="Blue Ocean", company_size=40, stage="New",
                position="Marketing Manager", channel="Import", type="Partner", custom_fields={"plan": "Free"})
    new_contact(mk, tag, first_name="Chen", company="Acme Labs", company_size=1500, stage="Customer",
                position="Founder", channel="Referral", type="Customer")
    wait_projected(mk, tag, 3)
    cases = [
        ({"field": "stage", "op": "eq", "value": "qualified"}, 1),
        ({"field": "stage", "op": "ne", "value": "Qualified"}, 2),
        ({"field": "company", "op": "contains", "value": "acme"}, 2),
        ({"field": "company", "op": "not_contains", "value": "acme"}, 1),
        ({"field": "company_size", "op": "gt", "value": 250}, 1),
        ({"field": "company_size", "op": "gte", "value": 250}, 2),
        ({"field": "company_size", "op": "lt", "value": 250}, 1),
        ({"field": "company_size", "op": "lte", "value": 250}, 2),
        ({"field": "company_size", "op": "between", "value": [40, 250]}, 2),
        ({"field": "channel", "op": "in", "value": ["Webinar", "Referral"]}, 2),
        ({"field": "type", "op": "not_in", "value": ["Customer", "Partner"]}, 1),
        ({"field": "industry", "op": "exists", "value": True}, 1),
        ({"field": "industry", "op": "exists", "value": False}, 2),
        ({"field": "created_at", "op": "within_days", "value": 1}, 3),
        ({"field": "created_at", "op": "gte", "value": recent}, 3),
        ({"field": "position", "op": "eq", "value": "C-Level"}, 1),
        ({"field": "position", "op": "in", "value": ["Founder", "Manager"]}, 2),
        ({"field": "city", "op": "eq", "value": "berlin"}, 1),
        ({"field": "custom.plan", "op": "eq", "value": "gold"}, 1),
        ({"field": "custom.seats", "op": "gte", "value": 40}, 1),
        ({"field": "owner_id", "op": "exists", "value": True}, 3),
        ({"any": [{"field": "stage", "op": "eq", "value": "New"},
                  {"all": [{"field": "company_size", "op": "gt", "value": 1000},
                           {"field": "type", "op": "eq", "value": "Customer"}]}]}, 2),
    ]
    for condition, expected in cases:
        assert preview_count(mk, tag, condition) == expected, condition
    body = mk.post(f"{BASE}/segments/preview", json={"criteria": {"all": [
        {"field": "tags", "op": "contains", "value": tag}, {"field": "stage", "op": "eq", "value": "Qualified"}]},
        "sample_size": 5}).json()
    assert body["count"] == 1 and body["sample"][0]["id"] == a["id"] and body["sample"][0]["company"] == "Acme Robotics"


def test_engagement_facts_score_and_campaigns(mk):
    tag = uniq()
    c = new_contact(mk, tag, company_size=500)
    wait_projected(mk, tag, 1)
    champions = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag},
                                                     {"field": "engagement_level", "op": "gt", "value": 70},
                                                     {"field": "demo_requested", "op": "eq", "value": True}]})
    high_value = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag},
                                                      {"field": "score", "op": "gt", "value": 80},
                                                      {"field": "company_size", "op": "gt", "value": 100}]})
    publish("scoring", "score_changed", {"contact_id": c["id"], "score": 88, "previous_score": 10, "fit": 20,
                                         "engagement": 75, "engagement_level": 75.0, "reason": "test"})
    wait_for(lambda: high_value["id"] in memberships(mk, c["id"]))
    assert champions["id"] not in memberships(mk, c["id"])
    publish("scoring", "engagement_recorded", {"contact_id": c["id"], "engagement_event_id": uniq(),
                                               "type": "demo_requested",
                                               "occurred_at": datetime.now(UTC).isoformat(), "properties": {}})
    joined = wait_for(lambda: memberships(mk, c["id"]).get(champions["id"]))
    assert joined["qualifies"] is True and joined["manual"] is False
    publish("messaging", "email_opened", {"contact_id": c["id"], "email_id": uniq(), "subject": "Hi"},
            occurred_at=datetime.now(UTC) - timedelta(days=2))
    wait_for(lambda: preview_count(mk, tag, {"field": "last_email_opened_at", "op": "within_days", "value": 3}) == 1)
    assert preview_count(mk, tag, {"field": "last_email_opened_at", "op": "within_days", "value": 1}) == 0
    campaign = uniq()
    publish("messaging", "campaign_enrolled", {"contact_id": c["id"], "campaign_id": campaign,
                                               "campaign_name": "Spring Push"})
    wait_for(lambda: preview_count(mk, tag, {"field": "campaign_ids", "op": "contains", "value": campaign}) == 1)
    assert preview_count(mk, tag, {"field": "campaigns", "op": "contains", "value": "spring push"}) == 1
    publish("messaging", "campaign_unenrolled", {"contact_id": c["id"], "campaign_id": campaign,
                                                 "campaign_name": "Spring Push"})
    wait_for(lambda: preview_count(mk, tag, {"field": "campaign_ids", "op": "not_contains", "value": campaign}) == 1)
    publish("scoring", "score_changed", {"contact_id": c["id"], "score": 30, "previous_score": 88, "fit": 0,
                                         "engagement": 30, "engagement_level": 30.0, "reason": "decay"})
    wait_for(lambda: high_value["id"] not in memberships(mk, c["id"]))
    wait_for(lambda: champions["id"] not in memberships(mk, c["id"]))
    for segment in (champions, high_value):
        mk.delete(f"{BASE}/segments/{segment['id']}")


# -- memberships ------------------------------------------------------------------
def test_contact_changes_move_membership_within_seconds(mk):
    tag = uniq()
    segment = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag},
                                                   {"field": "company_size", "op": "gt", "value": 100}]})
    c = new_contact(mk, tag, company_size=150)
    started = time.monotonic()
    joined = wait_for(lambda: memberships(mk, c["id"]).get(segment["id"]))
    assert time.monotonic() - started < 10
    assert joined["manual"] is False and joined["qualifies"] is True and joined["added_at"]
    assert mk.patch(f"{BASE}/contacts/{c['id']}", json={"company_size": 20}).status_code == 200
    wait_for(lambda: segment["id"] not in memberships(mk, c["id"]))
    assert mk.get(f"{BASE}/segments/{segment['id']}").json()["member_count"] == 0
    mk.delete(f"{BASE}/segments/{segment['id']}")


def test_stage_change_event_moves_membership(mk):
    tag = uniq()
    segment = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag},
                                                   {"field": "stage", "op": "eq", "value": "Qualified"}]})
    c = new_contact(mk, tag, stage="New")
    wait_projected(mk, tag, 1)
    assert segment["id"] not in memberships(mk, c["id"])
    publish("contacts", "stage_changed", {"contact_id": c["id"], "from_stage": "New", "to_stage": "Qualified"})
    wait_for(lambda: segment["id"] in memberships(mk, c["id"]))
    mk.delete(f"{BASE}/segments/{segment['id']}")


def test_manual_override_flag_and_removal_rule(clients, mk):
    tag = uniq()
    segment = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag},
                                                   {"field": "company_size", "op": "gt", "value": 100}]})
    big = new_contact(mk, tag, company_size=500)
    small = new_contact(mk, tag, company_size=10)
    wait_for(lambda: segment["id"] in memberships(mk, big["id"]))
    wait_projected(mk, tag, 2)
    # manual override: added although it does not qualify
    added = mk.post(f"{BASE}/segments/{segment['id']}/members", json={"contact_ids": [small["id"]]}).json()
    assert added["added"] == [small["id"]] and added["manual_override"] == [small["id"]]
    m = memberships(mk, small["id"])[segment["id"]]
    assert m["manual"] is True and m["qualifies"] is False and m["manual_override"] is True
    # it starts to qualify: the warning goes; stops again: it stays, flagged
    mk.patch(f"{BASE}/contacts/{small['id']}", json={"company_size": 300})
    wait_for(lambda: memberships(mk, small["id"])[segment["id"]]["qualifies"] is True)
    mk.patch(f"{BASE}/contacts/{small['id']}", json={"company_size": 5})
    wait_for(lambda: memberships(mk, small["id"])[segment["id"]]["qualifies"] is False)
    flagged = mk.get(f"{BASE}/segments/{segment['id']}/members", params={"qualifies": "false"}).json()
    assert [i["contact_id"] for i in flagged["items"]] == [small["id"]]
    seg = mk.get(f"{BASE}/segments/{segment['id']}").json()
    assert (seg["member_count"], seg["manual_count"], seg["not_qualifying_count"]) == (2, 1, 1)
    # removal: only manual additions
    refused = mk.delete(f"{BASE}/segments/{segment['id']}/members", json={"contact_ids": [big["id"]]})
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["refused"][0]["contact_id"] == big["id"]
    removed = mk.delete(f"{BASE}/segments/{segment['id']}/members", json={"contact_ids": [small["id"]]}).json()
    assert removed["removed"] == [small["id"]]
    assert segment["id"] not in memberships(mk, small["id"])
    mk.delete(f"{BASE}/segments/{segment['id']}")


def test_static_segment_bulk_add_by_ids_and_filter_and_list_filter(mk):
    tag, other = uniq(), uniq()
    people = [new_contact(mk, tag) for _ in range(3)]
    extra = new_contact(mk, other)
    segment = create_segment(mk, kind="static", description="hand-picked", color="#123ABC")
    assert segment["kind"] == "static" and segment["color"] == "#123ABC"
    by_ids = mk.post(f"{BASE}/segments/{segment['id']}/members",
                     json={"contact_ids": [extra["id"], "no-such-contact"]}).json()
    assert by_ids["added"] == [extra["id"]] and by_ids["not_found"] == ["no-such-contact"]
    by_filter = mk.post(f"{BASE}/segments/{segment['id']}/members", json={"filters": {"tag": tag}}).json()
    assert sorted(by_filter["added"]) == sorted(p["id"] for p in people)
    listed = mk.get(f"{BASE}/contacts", params={"segment_id": segment["id"], "per_page": 50}).json()
    assert sorted(c["id"] for c in listed["items"]) == sorted([extra["id"], *(p["id"] for p in people)])
    m = memberships(mk, extra["id"])[segment["id"]]
    assert m["manual"] is True and m["qualifies"] is True and m["member_count"] == 4
    both = mk.post(f"{BASE}/segments/{segment['id']}/members", json={"contact_ids": ["x"], "filters": {}})
    assert both.status_code == 422
    mk.delete(f"{BASE}/segments/{segment['id']}")


def test_contact_bulk_action_add_to_segment(mk):
    tag = uniq()
    people = [new_contact(mk, tag) for _ in range(2)]
    segment = create_segment(mk, kind="static")
    response = mk.post(f"{BASE}/contacts/bulk", json={"ids": [p["id"] for p in people], "action": "add_to_segment",
                                                      "segment_id": segment["id"]})
    assert response.status_code == 200, response.text
    members = mk.get(f"{BASE}/segments/{segment['id']}/members").json()["items"]
    assert sorted(m["contact_id"] for m in members) == sorted(p["id"] for p in people)
    mk.delete(f"{BASE}/segments/{segment['id']}")


def test_deleted_contact_leaves_every_segment(mk, clients):
    tag = uniq()
    dynamic = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag}]})
    static = create_segment(mk, kind="static")
    c = new_contact(mk, tag)
    wait_for(lambda: dynamic["id"] in memberships(mk, c["id"]))
    mk.post(f"{BASE}/segments/{static['id']}/members", json={"contact_ids": [c["id"]]})
    assert clients["admin"].delete(f"{BASE}/contacts/{c['id']}").status_code in (200, 204)
    wait_for(lambda: memberships(mk, c["id"]) == {})
    for segment in (dynamic, static):
        assert mk.get(f"{BASE}/segments/{segment['id']}").json()["member_count"] == 0
        mk.delete(f"{BASE}/segments/{segment['id']}")


def test_criteria_edit_and_refresh_recompute_members(mk):
    tag = uniq()
    small = new_contact(mk, tag, company_size=10)
    big = new_contact(mk, tag, company_size=1000)
    wait_projected(mk, tag, 2)
    segment = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag},
                                                   {"field": "company_size", "op": "gt", "value": 100}]})
    assert segment["member_count"] == 1 and segment["refresh"]["joined"] == 1
    patched = mk.patch(f"{BASE}/segments/{segment['id']}", json={"criteria": {"all": [
        {"field": "tags", "op": "contains", "value": tag}, {"field": "company_size", "op": "lt", "value": 100}]}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["refresh"] == {"segment_id": segment["id"], "joined": 1, "left": 1, "qualifies": 0,
                                         "no_longer_qualifies": 0}
    assert small["id"] in {m["contact_id"] for m in mk.get(f"{BASE}/segments/{segment['id']}/members").json()["items"]}
    assert segment["id"] not in memberships(mk, big["id"])
    refreshed = mk.post(f"{BASE}/segments/{segment['id']}/refresh").json()
    assert refreshed["joined"] == refreshed["left"] == 0
    all_refreshed = mk.post(f"{BASE}/segments/refresh").json()
    assert segment["id"] in {r["segment_id"] for r in all_refreshed["segments"]}
    mk.delete(f"{BASE}/segments/{segment['id']}")


def test_save_as_template_and_use_it(mk):
    segment = create_segment(mk, criteria={"all": [{"field": "score", "op": "gte", "value": 90}]})
    name = f"Tpl {uniq()}"
    saved = mk.post(f"{BASE}/segments/{segment['id']}/save-as-template", json={"name": name})
    assert saved.status_code == 201, saved.text
    template = saved.json()
    assert template["criteria"] == segment["criteria"] and template["builtin"] is False
    assert name in {t["name"] for t in mk.get(f"{BASE}/segments/templates").json()["items"]}
    used = create_segment(mk, name=f"From {name}", template_id=template["id"])
    assert used["criteria"] == segment["criteria"]
    duplicate = mk.post(f"{BASE}/segments/templates", json={"name": name, "criteria": segment["criteria"]})
    assert duplicate.status_code == 409
    assert mk.delete(f"{BASE}/segments/templates/high-value-prospects").status_code == 403
    assert mk.delete(f"{BASE}/segments/templates/{template['id']}").status_code == 200
    for s in (segment, used):
        mk.delete(f"{BASE}/segments/{s['id']}")


def test_contact_detail_and_segment_options(mk):
    tag = uniq()
    segment = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag}]})
    c = new_contact(mk, tag)
    wait_for(lambda: segment["id"] in memberships(mk, c["id"]))
    detail = mk.get(f"{BASE}/contacts/{c['id']}/detail").json()
    assert segment["id"] in {m["segment_id"] for m in detail["segments"]}
    body = mk.get(f"{BASE}/contacts/{c['id']}/segments", params={"include_available": "true"}).json()
    option = {o["segment_id"]: o for o in body["available"]}[segment["id"]]
    assert option["qualifies"] is True and option["member"] is True
    mk.delete(f"{BASE}/segments/{segment['id']}")


# -- roles -----------------------------------------------------------------------
def test_roles(clients, mk):
    tag = uniq()
    segment = create_segment(mk, criteria={"all": [{"field": "tags", "op": "contains", "value": tag}]})
    static = create_segment(mk, kind="static")
    c = new_contact(mk, tag)
    wait_projected(mk, tag, 1)
    sales, sales2, executive = clients["sales"], clients["sales2"], clients["executive"]
    for client in (sales, executive):
        assert client.post(f"{BASE}/segments", json={"name": f"No {uniq()}"}).status_code == 403
        assert client.patch(f"{BASE}/segments/{segment['id']}", json={"name": "x"}).status_code == 403
        assert client.delete(f"{BASE}/segments/{segment['id']}").status_code == 403
        assert client.get(f"{BASE}/segments/{segment['id']}/members").status_code == 200
        assert client.post(f"{BASE}/segments/preview", json={"criteria": segment["criteria"]}).status_code == 200
    assert executive.post(f"{BASE}/segments/{static['id']}/members",
                          json={"contact_ids": [c["id"]]}).status_code == 403
    assert sales.post(f"{BASE}/segments/{static['id']}/members", json={"contact_ids": [c["id"]]}).status_code == 200
    assert sales2.delete(f"{BASE}/segments/{static['id']}/members",
                         json={"contact_ids": [c["id"]]}).status_code == 409
    assert sales.delete(f"{BASE}/segments/{static['id']}/members",
                        json={"contact_ids": [c["id"]]}).json()["removed"] == [c["id"]]
    assert mk.post(f"{BASE}/segments/rebuild-projection").status_code == 403
    for s in (segment, static):
        mk.delete(f"{BASE}/segments/{s['id']}")


def test_rebuild_projection_from_contacts(clients, mk):
    tag = uniq()
    c = new_contact(mk, tag, company_size=321)
    wait_projected(mk, tag, 1)
    response = clients["admin"].post(f"{BASE}/segments/rebuild-projection")
    assert response.status_code == 200, response.text
    assert response.json()["contacts"] >= 1
    assert preview_count(mk, tag, {"field": "company_size", "op": "eq", "value": 321}) == 1
    assert c["id"]


def test_at_most_fifty_segments(mk):
    """Seed 000: at most 50 segments per organisation, with a clear error."""
    existing = mk.get(f"{BASE}/segments", params={"per_page": 200}).json()["total"]
    created = []
    try:
        for _ in range(50 - existing):
            created.append(create_segment(mk, kind="static"))
        assert mk.get(f"{BASE}/segments", params={"per_page": 200}).json()["total"] == 50
        response = mk.post(f"{BASE}/segments", json={"name": f"One too many {uniq()}"})
        assert response.status_code == 409
        error = response.json()["error"]
        assert "at most 50 segments" in error["message"] and int(error["details"]["limit"]) == 50
    finally:
        for segment in created:
            mk.delete(f"{BASE}/segments/{segment['id']}")
    again = create_segment(mk, name=f"Fits again {uniq()}")
    mk.delete(f"{BASE}/segments/{again['id']}")


def test_demo_segments_load_once(crm_system, rpc_client, mk):
    from crm_shared.auth import system_token
    from deploy.demo import segments as demo

    context: dict = {"system_context": {"auth_token": system_token("demo", ttl_seconds=600)}}
    demo.load(rpc_client, context)
    demo.load(rpc_client, context)
    names = [s["name"] for s in mk.get(f"{BASE}/segments", params={"per_page": 200}).json()["items"]]
    for definition in demo.SEGMENTS:
        assert names.count(definition["name"]) == 1
    enterprise = context["segments"]["Enterprise Leads"]
    assert enterprise["criteria_display"] == "Company Size > 1000 AND Position = C-Level"
    for segment in context["segments"].values():
        mk.delete(f"{BASE}/segments/{segment['id']}")
