"""Automation rules through the gateway: every trigger, every action, modes, priority, blocking, sunset,
preview on past data, run log and performance, the default Hot Lead rule, roles and validation.

Each rule is limited by its criteria to the contacts its test creates, so tests sharing the
system never act on each other's contacts.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from crm_shared.testing import helpers
from crm_shared.testing.helpers import poll, uid

DEFAULT_RULE = "default-hot-lead"


def ago(**kwargs: float) -> str:
    return (datetime.now(UTC) - timedelta(**kwargs)).isoformat()


def new_contact(client, **fields) -> dict:
    created = helpers.new_contact(client, **fields)
    assert client.get(f"/api/v1/contacts/{created['id']}/score").status_code == 200  # known to scoring now
    return created


def only(*contacts: dict, extra: list | None = None) -> dict:
    """Criteria that confine a rule to these contacts (plus any extra conditions)."""
    return {"all": [{"field": "email", "op": "in", "value": [c["email"] for c in contacts]}, *(extra or [])]}


def create_rule(admin, **body) -> dict:
    body.setdefault("name", f"rule {uid()}")
    response = admin.post("/api/v1/rules", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def runs(client, rule_id: str) -> list[dict]:
    return client.get(f"/api/v1/rules/{rule_id}/runs").json()["items"]


def wait_runs(client, rule_id: str, n: int = 1, timeout: float = 20.0) -> list[dict]:
    found = poll(lambda: (lambda r: r if len(r) >= n else None)(runs(client, rule_id)), timeout=timeout)
    assert found, f"rule {rule_id} did not run {n} time(s)"
    return found


def contact(client, contact_id: str) -> dict:
    return client.get(f"/api/v1/contacts/{contact_id}").json()


def event(client, contact_id: str, event_type: str, **extra) -> dict:
    response = client.post("/api/v1/engagement-events", json={"contact_id": contact_id, "type": event_type, **extra})
    assert response.status_code == 201, response.text
    return response.json()




@pytest.fixture(scope="module")
def sales_user(admin):
    return next(u for u in admin.get("/api/v1/users").json()["items"] if u["email"] == "sales@demo.crm")


# -- CRUD, roles, validation ----------------------------------------------------------------------
def test_rules_crud_and_roles(api, admin):
    rule = create_rule(admin, trigger={"type": "event", "event_types": ["demo_requested"]},
                       actions=[{"type": "add_tag", "tags": ["demo"]}], priority="high")
    assert rule["priority"] == 1 and rule["mode"] == {"type": "periodic"} and rule["status"] == "active"
    for role in ("marketing", "sales", "executive"):
        client = api.as_role(role)
        assert client.get(f"/api/v1/rules/{rule['id']}").status_code == 200
        assert client.post("/api/v1/rules", json={"name": "x"}).status_code == 403
        assert client.patch(f"/api/v1/rules/{rule['id']}", json={"enabled": False}).status_code == 403
        assert client.delete(f"/api/v1/rules/{rule['id']}").status_code == 403
    patched = admin.patch(f"/api/v1/rules/{rule['id']}", json={"enabled": False, "priority": 7}).json()
    assert (patched["enabled"], patched["priority"], patched["status"]) == (False, 7, "disabled")
    listed = admin.get("/api/v1/rules?per_page=200").json()["items"]
    assert any(r["id"] == rule["id"] for r in listed)
    assert [r["priority"] for r in listed] == sorted(r["priority"] for r in listed)
    assert admin.delete(f"/api/v1/rules/{rule['id']}").status_code == 204
    assert admin.get(f"/api/v1/rules/{rule['id']}").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"trigger": {"type": "event"}, "actions": [{"type": "add_tag", "tags": ["x"]}]}, "trigger"),
    ({"trigger": {"type": "time_since_event", "event": "last_activity"},
      "actions": [{"type": "add_tag", "tags": ["x"]}]}, "trigger"),
    ({"trigger": {"type": "teleport"}, "actions": [{"type": "add_tag", "tags": ["x"]}]}, "trigger"),
    ({"trigger": {"type": "score_change"}, "actions": []}, "actions"),
    ({"trigger": {"type": "score_change"}, "actions": [{"type": "set_stage"}]}, "actions"),
    ({"trigger": {"type": "score_change"}, "actions": [{"type": "add_tag", "tags": ["x"]}],
      "criteria": {"all": [{"field": "score", "op": "bigger", "value": 1}]}}, "criteria.all[0].op"),
    ({"trigger": {"type": "score_change"}, "actions": [{"type": "add_tag", "tags": ["x"]}],
      "mode": {"type": "in_cycle"}}, "mode"),
    ({"trigger": {"type": "score_change"}, "actions": [{"type": "add_tag", "tags": ["x"]}], "priority": 11},
     "priority"),
])
def test_rule_validation_names_the_part(admin, body, field):
    response = admin.post("/api/v1/rules", json={"name": "bad", **body})
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["details"]["fields"]


def test_default_rule_exists_and_can_only_be_switched_off(admin):
    rule = admin.get(f"/api/v1/rules/{DEFAULT_RULE}").json()
    assert rule["is_default"] and rule["actions"] == [{"type": "set_stage", "stage": "Hot Lead"}]
    assert admin.delete(f"/api/v1/rules/{DEFAULT_RULE}").status_code == 409


# -- triggers and actions -------------------------------------------------------------------------
def test_stage_change_trigger_adds_and_removes_tags(admin, marketing):
    c = new_contact(marketing, stage="New", tags=["cold-list"])
    tag = f"qualified-{uid()}"
    rule = create_rule(admin, trigger={"type": "stage_change", "from": "New", "to": "Qualified"}, criteria=only(c),
                       actions=[{"type": "add_tag", "tags": [tag]}, {"type": "remove_tag", "tags": ["cold-list"]}])
    assert marketing.patch(f"/api/v1/contacts/{c['id']}", json={"stage": "Qualified"}).status_code == 200
    done = wait_runs(admin, rule["id"])
    assert done[0]["outcome"] == "success" and "stage changed from New to Qualified" in done[0]["trigger"]
    tags = contact(marketing, c["id"])["tags"]
    assert tag in tags and "cold-list" not in tags


def test_field_change_trigger_assigns_owner(admin, marketing, sales_user):
    c = new_contact(marketing, company=f"Before {uid()}")
    rule = create_rule(admin, trigger={"type": "field_change", "fields": ["company"]}, criteria=only(c),
                       actions=[{"type": "assign_owner", "owner_id": sales_user["id"]}])
    marketing.patch(f"/api/v1/contacts/{c['id']}", json={"position": "Analyst"})
    marketing.patch(f"/api/v1/contacts/{c['id']}", json={"company": f"After {uid()}"})
    done = wait_runs(admin, rule["id"])
    assert len(done) == 1 and done[0]["outcome"] == "success"  # the position change did not fire it
    assert contact(marketing, c["id"])["owner_id"] == sales_user["id"]


def test_event_trigger_creates_follow_up_and_notifies_owner(admin, marketing, sales_user):
    c = new_contact(marketing, owner_id=sales_user["id"])
    title = f"Call after webinar {uid()}"
    rule = create_rule(admin, trigger={"type": "event", "event_types": ["webinar_attended"]}, criteria=only(c),
                       actions=[{"type": "create_follow_up", "follow_up_type": "call", "title": title,
                                 "due_in_hours": 24, "priority": "high"},
                                {"type": "notify_owner", "message": f"Hot webinar attendee {uid()}"}])
    event(marketing, c["id"], "email_opened")
    event(marketing, c["id"], "webinar_attended")
    done = wait_runs(admin, rule["id"])
    assert done[0]["outcome"] == "success", done[0]
    assert done[0]["trigger"] == "event: webinar_attended"
    follow_ups = marketing.get(f"/api/v1/contacts/{c['id']}/follow-ups").json()["items"]
    assert any(f["title"] == title and f["assigned_to"] == sales_user["id"] for f in follow_ups)
    assert any(f["type"] == "reminder" for f in follow_ups)
    activity = marketing.get(f"/api/v1/contacts/{c['id']}/activity").json()["items"]
    assert any(a.get("type") == "notification" for a in activity)


def test_send_template_email_and_enroll_in_campaign(admin, marketing, crm_system):
    c = new_contact(marketing)
    template = marketing.post("/api/v1/templates", json={"name": f"Rule mail {uid()}", "category": "Sales",
                                                         "subject": "Hello {first_name}",
                                                         "body": "Thanks for requesting a demo"})
    assert template.status_code == 201, template.text
    template = template.json()
    campaign = marketing.post("/api/v1/campaigns", json={"title": f"Nurture {uid()}", "code": f"N{uid()}",
                                                         "type": "Email Sequence", "status": "New"})
    assert campaign.status_code == 201, campaign.text
    campaign = campaign.json()
    activated = marketing.patch(f"/api/v1/campaigns/{campaign['id']}", json={"status": "Active"})
    assert activated.status_code == 200, activated.text
    rule = create_rule(admin, trigger={"type": "event", "event_types": ["demo_requested"]}, criteria=only(c),
                       actions=[{"type": "send_template_email", "template_id": template["id"]},
                                {"type": "enroll_campaign", "campaign_id": campaign["id"]}])
    event(marketing, c["id"], "demo_requested")
    done = wait_runs(admin, rule["id"])
    assert done[0]["outcome"] == "success", done[0]
    campaigns = marketing.get(f"/api/v1/contacts/{c['id']}/campaigns").json()
    items = campaigns["items"] if isinstance(campaigns, dict) else campaigns
    assert any(i.get("campaign_id", i.get("id")) == campaign["id"] for i in items)

    def mailed() -> bool:
        comms = marketing.get(f"/api/v1/contacts/{c['id']}/communications").json()["items"]
        return any(m.get("subject") == f"Hello {c['first_name']}" for m in comms)

    assert poll(mailed, timeout=30), "the template email was not sent"


def test_failed_action_is_logged_with_its_reason(admin, marketing):
    c = new_contact(marketing)
    rule = create_rule(admin, trigger={"type": "event", "event_types": ["subscribed"]}, criteria=only(c),
                       actions=[{"type": "enroll_campaign", "campaign_id": "no-such-campaign"},
                                {"type": "add_tag", "tags": ["subscriber"]}])
    event(marketing, c["id"], "subscribed")
    done = wait_runs(admin, rule["id"])
    assert done[0]["outcome"] == "partial"
    failed = next(a for a in done[0]["actions"] if a["type"] == "enroll_campaign")
    assert failed["outcome"] == "failed" and failed["error"]
    perf = admin.get(f"/api/v1/rules/{rule['id']}").json()["performance"]
    assert perf["runs"] == 1 and perf["partial"] == 1
    assert perf["actions"]["add_tag"] == {"ok": 1, "failed": 0}
    assert perf["actions"]["enroll_campaign"]["failed"] == 1


def test_time_untouched_trigger_runs_from_the_scheduler(admin, marketing):
    quiet = new_contact(marketing, stage="New")
    active = new_contact(marketing, stage="New")
    event(marketing, quiet["id"], "email_clicked", occurred_at=ago(hours=30))
    event(marketing, active["id"], "email_clicked", occurred_at=ago(hours=2))
    rule = create_rule(admin, name="New lead needs outreach",
                       trigger={"type": "time_since_event", "event": "last_activity", "hours": 24},
                       criteria=only(quiet, active, extra=[{"field": "stage", "op": "eq", "value": "New"}]),
                       actions=[{"type": "set_stage", "stage": "Nurturing"}])
    done = wait_runs(admin, rule["id"], timeout=75)  # time-since rules are swept every 30 s
    assert [r["contact_id"] for r in done] == [quiet["id"]]
    assert "time since last_activity > 24 h" in done[0]["trigger"]
    assert poll(lambda: contact(marketing, quiet["id"])["stage"] == "Nurturing")
    assert contact(marketing, active["id"])["stage"] == "New"
    again = admin.post(f"/api/v1/rules/{rule['id']}/run").json()
    assert again["acted"] == 0  # once per quiet spell


def test_schedule_trigger_and_run_now(admin, marketing):
    c = new_contact(marketing, tags=["stale"])
    rule = create_rule(admin, trigger={"type": "schedule", "weekday": 1, "at": "10:00"}, criteria=only(c),
                       actions=[{"type": "remove_tag", "tags": ["stale"]}])
    assert rule["trigger_text"] == "weekly on day 1 at 10:00 UTC"
    next_run = datetime.fromisoformat(rule["next_run_at"])
    assert next_run.weekday() == 1 and (next_run.hour, next_run.minute) == (10, 0) and next_run > datetime.now(UTC)
    assert admin.post(f"/api/v1/rules/{rule['id']}/run").json()["acted"] == 1
    assert "stale" not in contact(marketing, c["id"])["tags"]
    every = create_rule(admin, trigger={"type": "schedule", "every_minutes": 0.2}, criteria=only(c),
                        actions=[{"type": "add_tag", "tags": ["scheduled"]}])
    done = wait_runs(admin, every["id"], timeout=45)
    assert done[0]["trigger"] == "every 0.2 minutes"
    assert "scheduled" in contact(marketing, c["id"])["tags"]


def test_score_change_trigger_and_default_rule_switch(admin, marketing):
    # The rule exists before the contact, so every score change is judged (no race with the first one).
    email = f"r.{uid()}@example.com"
    watcher = create_rule(admin, trigger={"type": "score_change", "min_delta": 15}, criteria=only({"email": email}),
                          actions=[{"type": "add_tag", "tags": ["score-moved"]}], priority=9)
    assert admin.patch(f"/api/v1/rules/{DEFAULT_RULE}", json={"enabled": False}).status_code == 200
    try:
        c = new_contact(marketing, email=email, position="CEO", industry="Fintech", stage="Qualified")
        assert poll(lambda: contact(marketing, c["id"])["score"] == 40)  # 0 -> 40
        event(marketing, c["id"], "email_opened")  # 45: below min_delta
        event(marketing, c["id"], "demo_requested")  # 85
        event(marketing, c["id"], "pricing_page_visited")  # 100
        done = wait_runs(admin, watcher["id"], 3)
        time.sleep(1)
        assert len(runs(admin, watcher["id"])) == 3  # 0 -> 40, 45 -> 85 and 85 -> 100; not 40 -> 45
        assert "score-moved" in contact(marketing, c["id"])["tags"]
        assert contact(marketing, c["id"])["stage"] == "Qualified"  # the default rule is off
        assert done[0]["trigger"] == "score changed"
    finally:
        assert admin.patch(f"/api/v1/rules/{DEFAULT_RULE}", json={"enabled": True}).status_code == 200
    other = new_contact(marketing, position="CEO", industry="Fintech", stage="Qualified")
    event(marketing, other["id"], "demo_requested")
    event(marketing, other["id"], "pricing_page_visited")
    assert poll(lambda: contact(marketing, other["id"])["stage"] == "Hot Lead")
    default_runs = admin.get(f"/api/v1/rules/{DEFAULT_RULE}/runs?per_page=200").json()["items"]
    assert any(r["contact_id"] == other["id"] for r in default_runs)
    assert not any(r["contact_id"] == c["id"] for r in default_runs)


# -- priority, blocking, modes, sunset --------------------------------------------------------------
def test_priority_and_blocking(admin, marketing):
    c = new_contact(marketing)
    first = create_rule(admin, trigger={"type": "event", "event_types": ["whitepaper_downloaded"]},
                        criteria=only(c), actions=[{"type": "add_tag", "tags": ["first"]}], priority=2,
                        blocking=True)
    second = create_rule(admin, trigger={"type": "event", "event_types": ["whitepaper_downloaded"]},
                         criteria=only(c), actions=[{"type": "add_tag", "tags": ["second"]}], priority=3)
    marker = create_rule(admin, trigger={"type": "event", "event_types": ["whitepaper_downloaded"]},
                         criteria=only(c), actions=[{"type": "add_tag", "tags": ["marker"]}], priority=1)
    event(marketing, c["id"], "whitepaper_downloaded")
    wait_runs(admin, first["id"])
    wait_runs(admin, marker["id"])
    assert runs(admin, second["id"]) == []  # the blocking rule stopped lower priorities
    admin.patch(f"/api/v1/rules/{first['id']}", json={"blocking": False})
    event(marketing, c["id"], "whitepaper_downloaded")
    wait_runs(admin, second["id"])
    assert len(runs(admin, first["id"])) == 2
    assert first["actions_text"] == ["Add tags first"]


def test_one_time_and_periodic_modes(admin, marketing):
    c = new_contact(marketing)
    once = create_rule(admin, trigger={"type": "event", "event_types": ["email_clicked"]}, criteria=only(c),
                       actions=[{"type": "add_tag", "tags": ["clicked-once"]}], mode={"type": "one_time"})
    each = create_rule(admin, trigger={"type": "event", "event_types": ["email_clicked"]}, criteria=only(c),
                       actions=[{"type": "add_tag", "tags": ["clicked"]}], mode={"type": "periodic"})
    hourly = create_rule(admin, trigger={"type": "event", "event_types": ["email_clicked"]}, criteria=only(c),
                         actions=[{"type": "add_tag", "tags": ["clicked-hourly"]}],
                         mode={"type": "periodic", "every_minutes": 60})
    event(marketing, c["id"], "email_clicked")
    wait_runs(admin, each["id"], 1)
    event(marketing, c["id"], "email_clicked")
    wait_runs(admin, each["id"], 2)
    assert len(runs(admin, once["id"])) == 1
    assert len(runs(admin, hourly["id"])) == 1


def test_in_cycle_mode_repeats_then_stops(admin, marketing):
    c = new_contact(marketing)
    rule = create_rule(admin, trigger={"type": "event", "event_types": ["form_submitted"]}, criteria=only(c),
                       actions=[{"type": "add_tag", "tags": ["nurture-step"]}],
                       mode={"type": "in_cycle", "every_minutes": 0.1, "times": 2})
    event(marketing, c["id"], "form_submitted")
    done = wait_runs(admin, rule["id"], 2, timeout=45)
    assert done[0]["trigger"].startswith("cycle step")
    time.sleep(12)  # one more scheduler tick and cycle interval: a third step must not come
    assert len(runs(admin, rule["id"])) == 2


def test_sunset_rule_does_not_run(admin, marketing):
    c = new_contact(marketing)
    expired = create_rule(admin, trigger={"type": "event", "event_types": ["email_opened"]}, criteria=only(c),
                          actions=[{"type": "add_tag", "tags": ["expired"]}], sunset_at=ago(days=1))
    assert expired["status"] == "expired"
    live = create_rule(admin, trigger={"type": "event", "event_types": ["email_opened"]}, criteria=only(c),
                       actions=[{"type": "add_tag", "tags": ["live"]}], priority=9)
    event(marketing, c["id"], "email_opened")
    wait_runs(admin, live["id"])
    assert runs(admin, expired["id"]) == []
    assert "expired" not in contact(marketing, c["id"])["tags"]


# -- preview on past data ----------------------------------------------------------------------------
def test_preview_applies_the_rule_to_past_data_without_acting(admin, marketing):
    hit = new_contact(marketing, industry="SaaS")
    miss = new_contact(marketing, industry="Retail")
    unsubscribed_hit = new_contact(marketing, industry="SaaS")
    for c in (hit, miss, unsubscribed_hit):
        event(marketing, c["id"], "demo_requested", occurred_at=ago(days=3))
    event(marketing, hit["id"], "demo_requested", occurred_at=ago(days=40))  # outside a 30-day timeframe
    marketing.post(f"/api/v1/contacts/{unsubscribed_hit['id']}/unsubscribe", json={})
    body = {"name": "Demo requests from SaaS", "trigger": {"type": "event", "event_types": ["demo_requested"]},
            "criteria": only(hit, miss, unsubscribed_hit, extra=[{"field": "industry", "op": "eq", "value": "SaaS"}]),
            "actions": [{"type": "send_template_email", "template_id": "welcome"},
                        {"type": "set_stage", "stage": "Qualified"}], "days": 30}
    response = marketing.post("/api/v1/rules/preview", json=body)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["matched"] == 2 and preview["contacts_checked"] >= 3
    assert {h["contact_id"] for h in preview["contacts"]} == {hit["id"], unsubscribed_hit["id"]}
    assert preview["actions"][0]["summary"] == "2 leads would have: Send email template welcome"
    assert next(h for h in preview["contacts"] if h["contact_id"] == hit["id"])["triggers"] == 1

    def warned() -> bool:
        again = marketing.post("/api/v1/rules/preview", json=body).json()
        return any(w["contact_id"] == unsubscribed_hit["id"] and "unsubscribed" in w["message"]
                   for w in again["warnings"])

    assert poll(warned, timeout=15), "no warning for the unsubscribed contact"
    assert contact(marketing, hit["id"])["stage"] == hit["stage"]  # preview never acts
    bad = marketing.post("/api/v1/rules/preview", json={**body, "trigger": {"type": "event"}})
    assert bad.status_code == 422


def test_rule_runs_are_paged_and_filtered(admin, marketing):
    c = new_contact(marketing)
    rule = create_rule(admin, trigger={"type": "event", "event_types": ["call_logged"]}, criteria=only(c),
                       actions=[{"type": "add_tag", "tags": ["called"]}])
    event(marketing, c["id"], "call_logged")
    wait_runs(admin, rule["id"])
    page = admin.get(f"/api/v1/rules/{rule['id']}/runs?outcome=success&per_page=1").json()
    assert page["total"] == 1 and page["per_page"] == 1
    run = page["items"][0]
    assert run["contact_id"] == c["id"] and run["actions"][0]["outcome"] == "ok"
    assert admin.get(f"/api/v1/rules/{rule['id']}/runs?outcome=failed").json()["total"] == 0
    assert admin.get("/api/v1/rules/nope/runs").status_code == 404
