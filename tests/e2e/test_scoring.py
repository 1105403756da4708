"""Scoring through the gateway: seed 000 fit/engagement tables, decay, signals, hot-lead alert, the model."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_shared.testing.helpers import new_contact, poll, uid


def ago(**kwargs: float) -> str:
    return (datetime.now(UTC) - timedelta(**kwargs)).isoformat()


def event(client, contact_id: str, event_type: str, **extra) -> dict:
    response = client.post("/api/v1/engagement-events", json={"contact_id": contact_id, "type": event_type, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def score(client, contact_id: str) -> dict:
    response = client.get(f"/api/v1/contacts/{contact_id}/score")
    assert response.status_code == 200, response.text
    return response.json()


def points(body: dict, key: str) -> float | None:
    found = [b["points"] for b in body["breakdown"] if b["key"] == key]
    return found[0] if found else None




# -- fit: seed 000 "Decision Maker Roles" / "Influencers" / "Industry Types" ----------------------
@pytest.mark.parametrize(("position", "tier", "expected"), [
    ("CEO", "decision_maker", 20), ("Chief Financial Officer", "decision_maker", 20),
    ("Co-Founder & CTO", "decision_maker", 20), ("VP of Sales", "decision_maker", 20),
    ("Director of Operations", "decision_maker", 20), ("Head of Procurement", "decision_maker", 20),
    ("BU Head", "decision_maker", 20), ("Purchasing Manager", "decision_maker", 20),
    ("Sales Manager", "influencer", 10), ("Product Manager", "influencer", 10),
    ("Program Manager", "influencer", 10), ("Advisor", "influencer", 10), ("Consultant", "influencer", 10),
    ("Senior Specialist", "influencer", 10), ("Sr. Engineer", "influencer", 10),
    ("Junior Associate", "influencer", 10), ("Team Lead", "influencer", 10),
    ("Community Friend", "influencer", 10), ("Barista", "other", -10),
])
def test_role_tiers(marketing, position, tier, expected):
    contact = new_contact(marketing, position=position)
    body = score(marketing, contact["id"])
    role = next(b for b in body["breakdown"] if b["key"] == "role")
    assert (role["tier"], role["points"]) == (tier, expected), role
    assert body["fit"] == expected  # no industry given: 0


@pytest.mark.parametrize(("industry", "expected"), [
    ("Utilities & Energy", 20), ("Water Treatment", 20), ("SaaS", 20), ("Technology", 20),
    ("Financial Services", 20), ("Fintech", 20), ("Government", 20), ("Healthcare", 20),
    ("Life Sciences", 20), ("Manufacturing", 10), ("Consulting", 10), ("Real Estate", 10),
    ("Construction", 10), ("EdTech", 10), ("Retail", 10), ("Agriculture", -10),
])
def test_industry_tiers(marketing, industry, expected):
    contact = new_contact(marketing, industry=industry)
    assert points(score(marketing, contact["id"]), "industry") == expected


# -- engagement: seed 000 "Engagement Score" table --------------------------------------------------
@pytest.mark.parametrize(("event_type", "expected"), [
    ("email_opened", 5), ("email_clicked", 10), ("webinar_attended", 15), ("demo_requested", 40),
    ("demo_scheduled", 40), ("whitepaper_downloaded", 10), ("pricing_page_visited", 20), ("subscribed", 10),
])
def test_each_engagement_event_scores_its_points(marketing, event_type, expected):
    contact = new_contact(marketing)
    recorded = event(marketing, contact["id"], event_type)
    assert recorded["type"] == event_type
    assert recorded["score"]["score"] == expected  # rescored in the same request
    body = score(marketing, contact["id"])
    assert (body["score"], body["fit"], body["engagement"]) == (expected, 0, expected)
    assert points(body, event_type) == expected
    assert sum(b["points"] for b in body["breakdown"]) == body["score"]


def test_multiple_visits_in_a_week_is_a_derived_signal(marketing):
    contact = new_contact(marketing)
    event(marketing, contact["id"], "page_visited", occurred_at=ago(days=3), properties={"url": "/blog/a"})
    assert score(marketing, contact["id"])["score"] == 0
    event(marketing, contact["id"], "page_visited", properties={"url": "/blog/b"})
    body = score(marketing, contact["id"])
    assert points(body, "multiple_visits_week") == 15
    assert body["score"] == 15


def test_pricing_url_counts_as_pricing_page_visit(marketing):
    contact = new_contact(marketing)
    recorded = event(marketing, contact["id"], "page_visited", properties={"url": "https://x.test/pricing?a=1"})
    assert recorded["type"] == "pricing_page_visited"
    assert recorded["score"]["score"] == 20


def test_total_is_fit_plus_engagement_clamped_with_every_point_explained(marketing):
    contact = new_contact(marketing, position="VP of Sales", industry="SaaS")
    event(marketing, contact["id"], "demo_requested")
    event(marketing, contact["id"], "pricing_page_visited")
    body = score(marketing, contact["id"])
    assert body["fit"] == 40 and body["engagement"] == 60
    assert body["score"] == 100
    assert sum(b["points"] for b in body["breakdown"]) == 100
    event(marketing, contact["id"], "webinar_attended")
    capped = score(marketing, contact["id"])
    assert capped["score"] == 100
    assert points(capped, "clamp") == -15
    low = new_contact(marketing, position="Barista", industry="Agriculture")
    floored = score(marketing, low["id"])
    assert floored["score"] == 0 and floored["fit"] == -20
    assert sum(b["points"] for b in floored["breakdown"]) == 0


def test_events_age_out_of_the_recency_window(marketing):
    contact = new_contact(marketing)
    event(marketing, contact["id"], "whitepaper_downloaded", occurred_at=ago(days=100))
    assert score(marketing, contact["id"])["score"] == 0
    event(marketing, contact["id"], "webinar_attended", occurred_at=ago(days=89))
    assert score(marketing, contact["id"])["score"] == 15


def test_repeated_events_count_up_to_their_cap(marketing):
    contact = new_contact(marketing)
    for _ in range(7):
        event(marketing, contact["id"], "email_opened")
    body = score(marketing, contact["id"])
    assert body["score"] == 25  # 5 opens count (max_count), +5 each
    item = next(b for b in body["breakdown"] if b["key"] == "email_opened")
    assert item["count"] == 7 and "at most 5 count" in item["detail"]


def test_score_history_and_contact_list_follow(marketing):
    contact = new_contact(marketing)
    event(marketing, contact["id"], "demo_requested")
    history = score(marketing, contact["id"])["history"]
    assert history[0]["score"] == 40 and history[0]["previous_score"] == 0
    assert "demo_requested" in history[0]["reason"]

    def listed() -> bool:
        return marketing.get(f"/api/v1/contacts/{contact['id']}").json().get("score") == 40

    assert poll(listed, timeout=10), "score_changed did not reach the contacts service"


# -- the engagement API --------------------------------------------------------------------------
def test_event_by_email_with_api_key(api, marketing):
    contact = new_contact(marketing)
    response = api.post("/api/v1/engagement-events", headers={"X-API-Key": "demo-tracking-key"},
                        json={"email": contact["email"].upper(), "type": "pricing_page_visited",
                              "properties": {"url": "/pricing"}})
    assert response.status_code == 201, response.text
    assert response.json()["contact_id"] == contact["id"]
    assert response.json()["source"] == "website"
    assert api.post("/api/v1/engagement-events", headers={"X-API-Key": "wrong"},
                    json={"email": contact["email"], "type": "email_opened"}).status_code == 401
    assert api.post("/api/v1/engagement-events",
                    json={"email": contact["email"], "type": "email_opened"}).status_code == 401


def test_event_validation_names_the_field(api, marketing):
    contact = new_contact(marketing)
    bad = marketing.post("/api/v1/engagement-events", json={"contact_id": contact["id"], "type": "danced"})
    assert bad.status_code == 422 and "type" in bad.json()["error"]["details"]["fields"]
    future = marketing.post("/api/v1/engagement-events", json={"contact_id": contact["id"], "type": "email_opened",
                                                               "occurred_at": (datetime.now(UTC) + timedelta(days=2))
                                                               .isoformat()})
    assert future.status_code == 422 and "occurred_at" in future.json()["error"]["details"]["fields"]
    nobody = marketing.post("/api/v1/engagement-events", json={"type": "email_opened"})
    assert nobody.status_code == 422 and "contact_id" in nobody.json()["error"]["details"]["fields"]
    unknown = marketing.post("/api/v1/engagement-events", json={"email": f"nobody.{uid()}@example.com",
                                                                "type": "email_opened"})
    assert unknown.status_code == 404
    extra = marketing.post("/api/v1/engagement-events", json={"contact_id": contact["id"], "type": "email_opened",
                                                              "points": 100})
    assert extra.status_code == 400
    executive = api.as_role("executive")
    assert executive.post("/api/v1/engagement-events",
                          json={"contact_id": contact["id"], "type": "email_opened"}).status_code == 403
    assert executive.get(f"/api/v1/contacts/{contact['id']}/score").status_code == 200
    assert marketing.get("/api/v1/contacts/no-such-contact/score").status_code == 404


def test_same_idempotency_key_records_once(marketing):
    contact = new_contact(marketing)
    headers = {"Idempotency-Key": uid()}
    first = marketing.post("/api/v1/engagement-events", headers=headers,
                           json={"contact_id": contact["id"], "type": "email_clicked"})
    second = marketing.post("/api/v1/engagement-events", headers=headers,
                            json={"contact_id": contact["id"], "type": "email_clicked"})
    assert first.json()["id"] == second.json()["id"]
    assert marketing.get(f"/api/v1/contacts/{contact['id']}/engagement-events").json()["total"] == 1


# -- hot lead alert (seed 000 panel) ---------------------------------------------------------------
def test_hot_lead_alert_with_real_buying_signals(marketing):
    contact = new_contact(marketing, position="VP of Sales", industry="SaaS", stage="Qualified")
    event(marketing, contact["id"], "demo_requested", occurred_at=ago(days=1))
    for hours in (1, 5, 20, 30, 40, 50, 60, 70):
        event(marketing, contact["id"], "pricing_page_visited", occurred_at=ago(hours=hours))
    alert = marketing.get(f"/api/v1/contacts/{contact['id']}/hot-lead-alert").json()["hot_lead_alert"]
    assert alert["score"] == 100
    labels = [s["label"] for s in alert["signals"]]
    assert "Visited pricing page 8x this week" in labels
    assert "Clicked demo request yesterday" in labels
    assert any(label.startswith("Recent activity spike") for label in labels)
    assert any(label.startswith("High engagement score") for label in labels)
    assert alert["priority_action"] == "Schedule demo within 24hrs"
    assert alert["urgency"] == "24h"

    def moved() -> bool:
        return marketing.get(f"/api/v1/contacts/{contact['id']}").json()["stage"] == "Hot Lead"

    assert poll(moved, timeout=15), "the default rule did not move the contact to Hot Lead"


def test_stage_hot_lead_alone_shows_the_alert(marketing):
    quiet = new_contact(marketing, stage="Qualified")
    assert marketing.get(f"/api/v1/contacts/{quiet['id']}/hot-lead-alert").json()["hot_lead_alert"] is None
    contact = new_contact(marketing, stage="Hot Lead")
    event(marketing, contact["id"], "email_clicked", occurred_at=ago(days=10))
    alert = marketing.get(f"/api/v1/contacts/{contact['id']}/hot-lead-alert").json()["hot_lead_alert"]
    assert alert is not None and alert["score"] == 10
    assert alert["urgency"] == "1w"
    assert alert["priority_action"] == "Call to qualify interest within 1 week"


# -- the model: versioned, admin-editable, rescoring follows ------------------------------------------
def test_model_is_readable_by_all_and_changed_only_by_admins(api, admin):
    for role in ("marketing", "sales", "executive"):
        client = api.as_role(role)
        body = client.get("/api/v1/scoring/model").json()
        assert body["engagement"]["demo_requested"]["points"] == 40
        assert body["recency_days"] == 90 and body["engagement_ceiling"] == 100
        assert client.put("/api/v1/scoring/model", json={"recency_days": 30}).status_code == 403
    bad = admin.put("/api/v1/scoring/model", json={"recency_days": 0})
    assert bad.status_code == 422 and "recency_days" in bad.json()["error"]["details"]["fields"]
    bad_tier = admin.put("/api/v1/scoring/model", json={"roles": {"tiers": [], "otherwise": -10}})
    assert bad_tier.status_code == 422 and "roles" in bad_tier.json()["error"]["details"]["fields"]


def test_model_change_is_versioned_and_rescores(admin, marketing):
    contact = new_contact(marketing, position="Head of Procurement")
    event(marketing, contact["id"], "whitepaper_downloaded", occurred_at=ago(days=60))
    assert score(marketing, contact["id"])["score"] == 30
    before = admin.get("/api/v1/scoring/model").json()
    roles = before["roles"]
    roles["tiers"][0]["points"] = 25
    changed = admin.put("/api/v1/scoring/model", json={"roles": roles, "recency_days": 30, "note": "test"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == before["version"] + 1
    try:
        def rescored() -> bool:
            return marketing.get(f"/api/v1/contacts/{contact['id']}").json().get("score") == 25

        assert poll(rescored, timeout=20), "the full rescore after the model change did not arrive"
        body = score(marketing, contact["id"])
        assert body["fit"] == 25 and points(body, "whitepaper_downloaded") is None  # 60 days > 30-day window
        versions = admin.get("/api/v1/scoring/model/versions").json()["items"]
        assert versions[0]["version"] == before["version"] + 1 and versions[0]["note"] == "test"
    finally:
        roles["tiers"][0]["points"] = 20
        assert admin.put("/api/v1/scoring/model", json={"roles": roles, "recency_days": 90}).status_code == 200
    assert poll(lambda: score(marketing, contact["id"])["score"] == 30, timeout=20)


def test_weighted_model_is_selectable(admin, marketing):
    contact = new_contact(marketing, position="CEO", industry="SaaS", company="Acme Weighted", phone="+14155550123",
                          company_size=500)
    event(marketing, contact["id"], "demo_requested")
    assert admin.put("/api/v1/scoring/model", json={"active_model": "weighted"}).status_code == 200
    try:
        body = score(marketing, contact["id"])
        assert body["model"] == "weighted"
        keys = {b["key"] for b in body["breakdown"]}
        assert {"authority", "quote_request", "industry", "job_title", "time_untouched"} <= keys
        authority = next(b for b in body["breakdown"] if b["key"] == "authority")
        assert authority["achieved"] == 10 and authority["weight"] == 5
        assert 0 < body["score"] < 100
        assert body["fit"] + body["engagement"] == body["score"]
    finally:
        assert admin.put("/api/v1/scoring/model", json={"active_model": "fit_engagement"}).status_code == 200
    assert poll(lambda: score(marketing, contact["id"])["model"] == "fit_engagement", timeout=10)


def test_full_rescore_and_projection_rebuild_are_admin_only(api, admin):
    assert api.as_role("marketing").post("/api/v1/scoring/rescore").status_code == 403
    result = admin.post("/api/v1/scoring/rescore")
    assert result.status_code == 200, result.text
    assert result.json().get("contacts", 0) >= 1 or "skipped" in result.json()
    assert api.as_role("marketing").post("/api/v1/scoring/rebuild-projection").status_code == 403
    rebuilt = admin.post("/api/v1/scoring/rebuild-projection")
    assert rebuilt.status_code == 200, rebuilt.text
    listed = admin.get("/api/v1/contacts", params={"per_page": 1}).json()["total"]
    assert rebuilt.json()["contacts"] == listed and rebuilt.json()["removed"] == 0


def test_deleted_contact_loses_its_score(admin, marketing):
    contact = new_contact(marketing)
    event(marketing, contact["id"], "email_opened")
    assert admin.delete(f"/api/v1/contacts/{contact['id']}").status_code in (200, 204)
    assert poll(lambda: marketing.get(f"/api/v1/contacts/{contact['id']}/score").status_code == 404)


# -- engagement from the other services ----------------------------------------------------------------
def test_messaging_facts_become_engagement(api, marketing, crm_system):
    from crm_shared.smtp_sink import read_messages

    contact = new_contact(marketing)
    sent = marketing.post("/api/v1/emails", json={"contact_ids": [contact["id"]], "subject": "Hi {first_name}",
                                                  "body": "See https://example.com/case-study for more."})
    assert sent.status_code == 202, sent.text

    def message():
        return next((m for m in read_messages(crm_system.mail_dir)
                     if contact["email"].lower() in str(m.get("To", "")).lower()), None)

    mail = poll(message, timeout=30)
    assert mail is not None, "the email was not sent"
    token = str(mail["List-Unsubscribe"]).strip("<>").rsplit("/u/", 1)[1]
    assert api.get(f"/t/o/{token}.gif").status_code == 200
    assert api.get(f"/t/c/{token}.0", allow_redirects=False).status_code == 302
    assert poll(lambda: score(marketing, contact["id"])["score"] == 15, timeout=20)  # opened 5 + clicked 10
    call = marketing.post("/api/v1/calls", json={"contact_id": contact["id"], "purpose": "Discovery Call",
                                                 "status": "Completed", "duration_s": 600})
    assert call.status_code == 201, call.text
    marketing.post("/api/v1/calls", json={"contact_id": contact["id"], "purpose": "Follow-up Call",
                                          "status": "No Answer"})
    assert poll(lambda: score(marketing, contact["id"])["score"] == 25, timeout=20)  # a completed call +10

    def types() -> set[str]:
        items = marketing.get(f"/api/v1/contacts/{contact['id']}/engagement-events").json()["items"]
        return {(i["type"], i["source"]) for i in items}

    assert poll(lambda: {("email_sent", "messaging"), ("email_opened", "messaging"),
                             ("email_clicked", "messaging"), ("call_logged", "messaging"),
                             ("call_attempted", "messaging")} <= types(), timeout=20), types()
    assert marketing.post(f"/api/v1/contacts/{contact['id']}/unsubscribe", json={}).status_code in (200, 201)
    assert poll(lambda: score(marketing, contact["id"])["score"] == 15, timeout=20)  # unsubscribed -10


def test_form_data_from_imports_becomes_engagement(marketing, crm_env):
    """imports publishes form_data_imported for rows with form answers; published here as imports would."""
    from kombu import Connection

    from crm_shared.config import amqp_uri
    from crm_shared.reliability import event_exchange, make_envelope

    contact = new_contact(marketing)
    envelope = make_envelope("imports", "form_data_imported", {
        "contact_id": contact["id"], "import_id": uid(),
        "fields": {"Subscribed": "Yes", "Schedule Demo": "yes", "Biggest Challenge": "billing"}})
    with Connection(amqp_uri()) as conn:
        producer = conn.Producer(serializer="json")
        for _ in range(2):  # redelivered: recorded once
            producer.publish(envelope, exchange=event_exchange("imports"), routing_key="form_data_imported",
                             declare=[event_exchange("imports")])
    # form submitted +5, subscribed +10, demo scheduled +40
    assert poll(lambda: score(marketing, contact["id"])["score"] == 55, timeout=20)
    items = marketing.get(f"/api/v1/contacts/{contact['id']}/engagement-events").json()["items"]
    assert sorted(i["type"] for i in items) == ["demo_scheduled", "form_submitted", "subscribed"]
