"""Messaging end to end through the gateway: templates, sending to the SMTP sink, tracking,
unsubscribe, inbound replies and bounces, campaigns, calls, follow-ups and communication history."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from crm_shared.config import database_url
from crm_shared.smtp_sink import read_messages
from crm_shared.testing.helpers import letters, uid, wait_for


# -- helpers --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def new_contact(admin, rpc_client) -> Callable[..., dict]:
    def make(owner=None, **fields: Any) -> dict:
        tag = uid()
        data = {"first_name": "Sarah", "last_name": f"Johnson{letters()}", "email": f"sarah.{tag}@techcorp.example",
                "company": f"TechCorp {tag}", "position": "VP of Sales", **fields}
        if owner is not None:
            data["owner_id"] = owner.user["id"]
        response = admin.post("/api/v1/contacts", json=data)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture(scope="module")
def template(marketing) -> dict:
    response = marketing.post("/api/v1/templates", json={
        "name": f"Demo follow-up {uid()}", "category": "Sales",
        "subject": "Great talking, {first_name}",
        "body": "Hi {first_name} {last_name},\n\nAs {position} at {company_name} you will like "
                "https://example.com/pricing?ref=mail and https://example.com/case-study.\n\n{sender_name}\n"
                "{sender_email}"})
    assert response.status_code == 201, response.text
    return response.json()


def mail_to(crm_system, address: str) -> list:
    return [m for m in read_messages(crm_system.mail_dir) if address.lower() in str(m.get("To", "")).lower()]


def sent_to(crm_system, address: str, n: int = 1, timeout: float = 30) -> list:
    return wait_for(lambda: (lambda got: got if len(got) >= n else None)(mail_to(crm_system, address)),
                    timeout, f"{n} message(s) to {address}")


def job_done(client, job_id: str, timeout: float = 30) -> dict:
    def check():
        body = client.get(f"/api/v1/emails/jobs/{job_id}").json()
        return body if body["done"] else None

    return wait_for(check, timeout, f"send job {job_id}")


def outbox_events(event_type: str, **match: str) -> list[dict]:
    engine = sa.create_engine(database_url("messaging"), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT envelope FROM outbox WHERE event_type = :t"),
                                {"t": event_type}).scalars().all()
    finally:
        engine.dispose()
    return [r["data"] for r in rows if all(r["data"].get(k) == v for k, v in match.items())]


def batch_items(event_type: str, contact_id: str) -> list[dict]:
    """The items naming ``contact_id`` in the batch events (``emails_sent``, ``emails_opened``) of the outbox."""
    return [item for data in outbox_events(event_type) for item in data["emails"] if item["contact_id"] == contact_id]


def send(client, contact_ids: list[str], headers: dict | None = None, **body: Any):
    return client.post("/api/v1/emails", json={"contact_ids": contact_ids, **body}, headers=headers or {})


def tracking_token(message) -> str:
    return str(message["List-Unsubscribe"]).strip("<>").rsplit("/u/", 1)[1]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


# -- templates ------------------------------------------------------------------------
def test_template_crud_roles_and_rates(marketing, sales, executive, template):
    assert template["merge_fields"] == ["first_name", "last_name", "position", "company_name", "sender_name",
                                        "sender_email"]
    assert template["open_rate"] == 0.0 and template["click_rate"] == 0.0
    listed = marketing.get("/api/v1/templates", params={"category": "Sales", "per_page": 200}).json()
    assert template["id"] in {t["id"] for t in listed["items"]}
    assert executive.get(f"/api/v1/templates/{template['id']}").status_code == 200
    for client in (sales, executive):
        response = client.post("/api/v1/templates", json={"name": f"x{uid()}", "category": "Sales",
                                                          "subject": "s", "body": "b"})
        assert response.status_code == 403
    created = marketing.post("/api/v1/templates", json={"name": f"Temp {uid()}", "category": "Marketing",
                                                        "subject": "Hello", "body": "Body {first_name}"}).json()
    patched = marketing.patch(f"/api/v1/templates/{created['id']}", json={"category": "Onboarding"})
    assert patched.status_code == 200 and patched.json()["category"] == "Onboarding"
    assert marketing.delete(f"/api/v1/templates/{created['id']}").status_code == 204
    assert marketing.get(f"/api/v1/templates/{created['id']}").status_code == 404


@pytest.mark.parametrize("field,text,bad", [
    ("body", "Hi {first_name}, your {favourite_color}", "favourite_color"),
    ("subject", "Hi {first_name.__class__}", "first_name.__class__"),
    ("body", "{0.__globals__}", "0.__globals__"),
])
def test_unknown_merge_field_is_422_naming_it(marketing, field, text, bad):
    body = {"name": f"Bad {uid()}", "category": "Sales", "subject": "Hello", "body": "Body"}
    body[field] = text
    response = marketing.post("/api/v1/templates", json=body)
    assert response.status_code == 422
    reasons = response.json()["error"]["details"]["fields"][field]
    assert any(bad in r for r in reasons)


def test_bad_category_and_unknown_body_field(marketing):
    response = marketing.post("/api/v1/templates", json={"name": "x", "category": "Spam", "subject": "s",
                                                         "body": "b"})
    assert response.status_code == 422 and "category" in response.json()["error"]["details"]["fields"]
    response = marketing.post("/api/v1/templates", json={"name": "x", "category": "Sales", "subject": "s",
                                                         "body": "b", "open_rate": 99})
    assert response.status_code == 400


def test_preview_fills_every_field_and_accepts_edits(sales, template, new_contact):
    contact = new_contact(owner=sales)
    response = sales.post(f"/api/v1/templates/{template['id']}/preview", json={"contact_id": contact["id"]})
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["subject"] == "Great talking, Sarah"
    assert f"Hi Sarah {contact['last_name']}" in preview["body"]
    assert f"As VP of Sales at {contact['company']}" in preview["body"]
    assert "Sam Sales" in preview["body"] and "sales@demo.crm" in preview["body"]
    assert preview["to"]["email"] == contact["email"] and preview["from"]["email"] == "sales@demo.crm"
    edited = sales.post(f"/api/v1/templates/{template['id']}/preview",
                        json={"contact_id": contact["id"], "subject": "Quick question, {first_name}"}).json()
    assert edited["subject"] == "Quick question, Sarah"
    bad = sales.post(f"/api/v1/templates/{template['id']}/preview",
                     json={"contact_id": contact["id"], "subject": "{password}"})
    assert bad.status_code == 422 and "subject" in bad.json()["error"]["details"]["fields"]


# -- sending and tracking -----------------------------------------------------------------
def test_send_template_through_smtp_with_tracking(crm_system, api, sales, template, new_contact):
    contact = new_contact(owner=sales)
    response = send(sales, [contact["id"]], template_id=template["id"])
    assert response.status_code == 202, response.text
    result = response.json()
    assert result["queued"] == 1 and result["results"][0]["status"] == "queued"
    status = job_done(sales, result["job_id"])
    assert status["recipients"][0]["status"] == "sent"

    message = sent_to(crm_system, contact["email"])[0]
    assert message["Subject"] == "Great talking, Sarah"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = tracking_token(message)
    html = message.get_body(("html",)).get_content()
    assert f"/t/o/{token}.gif" in html
    text = text_of(message)
    assert "https://example.com/pricing" not in text and f"/t/c/{token}.0" in text
    assert batch_items("emails_sent", contact["id"])   # a send batch is one emails_sent (issue 7)

    # the open pixel: always a gif, records the open once as an event
    pixel = api.get(f"/t/o/{token}.gif")
    assert pixel.status_code == 200 and pixel.headers["Content-Type"] == "image/gif"
    assert api.get(f"/t/o/{token}.gif").status_code == 200
    wait_for(lambda: batch_items("emails_opened", contact["id"]), what="emails_opened event")

    click = api.get(f"/t/c/{token}.0", allow_redirects=False)
    assert click.status_code == 302 and click.headers["Location"] == "https://example.com/pricing?ref=mail"
    assert api.get(f"/t/c/{token}.7", allow_redirects=False).status_code == 404
    assert api.get(f"/t/c/{token[:-2]}xx.0", allow_redirects=False).status_code == 404
    assert api.get("/t/o/not-a-real-token-at-all.gif").status_code == 200
    clicked = outbox_events("email_clicked", contact_id=contact["id"])
    assert [e["url"] for e in clicked] == ["https://example.com/pricing?ref=mail"]

    history = sales.get(f"/api/v1/contacts/{contact['id']}/communications").json()
    assert history["items"][0]["status"] == "clicked" and history["items"][0]["direction"] == "outbound"
    rates = sales.get(f"/api/v1/templates/{template['id']}").json()
    assert rates["sent_count"] >= 1 and rates["open_rate"] > 0 and rates["click_rate"] > 0


@pytest.mark.parametrize("subject", [
    "Hello\r\nBcc: victim@evil.example", "Hello =?utf-8?q?x=0D=0ABcc:_victim@evil.example?=",
    "Hello {company_name}",
])
def test_header_injection_creates_no_header(crm_system, marketing, new_contact, subject):
    evil = "Evil Corp\r\nBcc: victim@evil.example"
    contact = new_contact(company=evil) if "{" in subject else new_contact()
    response = send(marketing, [contact["id"]], subject=subject, body="Body for {first_name}")
    assert response.status_code == 202, response.text
    message = sent_to(crm_system, contact["email"])[0]
    assert message["Bcc"] is None and message["Cc"] is None
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    assert message["X-Sink-Rcpt-To"] == contact["email"]
    assert not mail_to(crm_system, "victim@evil.example")


def test_bulk_send_by_filter_one_message_each(crm_system, marketing, new_contact):
    company = f"Bulkco {uid()}"
    contacts = [new_contact(company=company) for _ in range(3)]
    response = marketing.post("/api/v1/emails", json={"filter": {"company": company},
                                                      "subject": "Hi {first_name}", "body": "News for {company_name}"})
    assert response.status_code == 202, response.text
    assert response.json()["queued"] == 3
    job_done(marketing, response.json()["job_id"])
    for contact in contacts:
        message = sent_to(crm_system, contact["email"])[0]
        assert f"News for {company}" in text_of(message)


def test_retry_with_same_key_never_sends_twice(crm_system, marketing, new_contact):
    contact = new_contact()
    key = {"Idempotency-Key": f"retry-{uid()}"}
    first = send(marketing, [contact["id"]], headers=key, subject="Once", body="Only once")
    second = send(marketing, [contact["id"]], headers=key, subject="Once", body="Only once")
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]
    job_done(marketing, first.json()["job_id"])
    sent_to(crm_system, contact["email"])
    time.sleep(1.5)  # several sender ticks later there is still exactly one message
    assert len(mail_to(crm_system, contact["email"])) == 1


def test_sales_may_only_email_own_contacts_executive_never(sales, executive, new_contact, admin):
    theirs = new_contact(owner=admin)
    response = send(sales, [theirs["id"]], subject="x", body="y")
    assert response.status_code == 403
    assert send(executive, [theirs["id"]], subject="x", body="y").status_code == 403


def test_send_validation_names_fields(marketing):
    response = marketing.post("/api/v1/emails", json={"subject": "x", "body": "y"})
    assert response.status_code == 422 and "contact_ids" in response.json()["error"]["details"]["fields"]
    response = marketing.post("/api/v1/emails", json={"contact_ids": ["x"], "subject": "{nope}", "body": "y"})
    assert response.status_code == 422 and "subject" in response.json()["error"]["details"]["fields"]


# -- unsubscribe ------------------------------------------------------------------------------
def test_unsubscribe_get_never_post_does_and_every_later_send_refuses(crm_system, api, marketing, new_contact):
    contact = new_contact()
    other = new_contact()
    campaign = make_campaign(marketing, steps=[{"delay_days": 3, "subject": "Later", "body": "Later"}])
    activate(marketing, campaign)
    assert marketing.post(f"/api/v1/campaigns/{campaign['id']}/enroll",
                          json={"contact_ids": [contact["id"]]}).json()["enrolled"] == 1
    job = send(marketing, [contact["id"]], subject="Newsletter", body="Read this").json()
    job_done(marketing, job["job_id"])
    token = tracking_token(sent_to(crm_system, contact["email"])[0])

    page = api.get(f"/u/{token}")
    assert page.status_code == 200 and "<form method='post'" in page.text
    assert api.get(f"/u/{token}").status_code == 200
    refused_before = send(marketing, [contact["id"]], subject="Still?", body="Still subscribed").json()
    assert refused_before["queued"] == 1  # GET did not unsubscribe

    one_click = api.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "unsubscribed" in one_click.text
    assert outbox_events("unsubscribed", contact_id=contact["id"])[0]["source"] == "one_click"

    after = send(marketing, [contact["id"], other["id"]], subject="After", body="After unsubscribe").json()
    by_id = {r["contact_id"]: r for r in after["results"]}
    assert by_id[contact["id"]] == {"contact_id": contact["id"], "status": "refused", "reason": "unsubscribed"}
    assert by_id[other["id"]]["status"] == "queued"
    job_done(marketing, after["job_id"])
    sent_to(crm_system, other["email"])
    subjects = [str(m["Subject"]) for m in mail_to(crm_system, contact["email"])]
    assert "After" not in subjects

    campaigns = marketing.get(f"/api/v1/contacts/{contact['id']}/campaigns").json()["items"]
    assert campaigns[0]["status"] == "unsubscribed"
    enroll_again = marketing.post(f"/api/v1/campaigns/{campaign['id']}/enroll",
                                  json={"contact_ids": [contact["id"]]}).json()
    assert enroll_again["results"][0]["reason"] == "unsubscribed"
    consents = marketing.get(f"/api/v1/contacts/{contact['id']}/consents").json()["items"]
    assert consents[0]["status"] == "withdrawn" and consents[0]["source"] == "one_click"
    assert consents[0]["text_version"] and consents[0]["occurred_at"]


# -- inbound: replies and bounces ---------------------------------------------------------------
def test_reply_threads_by_message_id_then_by_subject(crm_system, marketing, sales, new_contact):
    contact = new_contact(owner=sales)
    job = send(sales, [contact["id"]], subject="Product Demo Follow-up", body="Slides attached").json()
    job_done(sales, job["job_id"])
    original = sent_to(crm_system, contact["email"])[0]
    reply = sales.post("/api/v1/emails/inbound", json={
        "from_email": contact["email"], "subject": "Re: Product Demo Follow-up", "body": "Thanks, let's talk",
        "message_id": f"<{uid()}@techcorp.example>", "in_reply_to": str(original["Message-ID"])})
    assert reply.status_code == 201, reply.text
    assert reply.json()["kind"] == "reply" and reply.json()["contact_id"] == contact["id"]
    history = sales.get(f"/api/v1/contacts/{contact['id']}/communications").json()["items"]
    inbound, outbound = history[0], history[1]
    assert inbound["direction"] == "inbound" and inbound["status"] == "replied"
    assert outbound["status"] == "replied" and inbound["thread_id"] == outbound["thread_id"]
    assert outbox_events("email_replied", contact_id=contact["id"])

    by_subject = sales.post("/api/v1/emails/inbound", json={
        "from_email": contact["email"].upper(), "subject": "RE: Re: Product Demo Follow-up", "body": "One more"})
    assert by_subject.status_code == 201 and by_subject.json()["thread_id"] == outbound["thread_id"]


def test_dsn_bounce_and_delivery_report(crm_system, marketing, new_contact):
    contact = new_contact()
    job = send(marketing, [contact["id"]], subject="Will bounce", body="x").json()
    job_done(marketing, job["job_id"])
    original = sent_to(crm_system, contact["email"])[0]
    raw = (
        "From: MAILER-DAEMON@mx.example\r\nTo: crm@demo.crm\r\nSubject: Undelivered Mail\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=BB\r\n\r\n"
        "--BB\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--BB\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        f"Final-Recipient: rfc822; {contact['email']}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        f"--BB\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original['Message-ID']}\r\n"
        "Subject: Will bounce\r\n\r\n--BB--\r\n")
    response = marketing.post("/api/v1/emails/inbound", json={"raw": raw})
    assert response.status_code == 201, response.text
    assert response.json() == {"kind": "delivery_report", "email_id": response.json()["email_id"],
                               "status": "bounced"}
    assert outbox_events("email_bounced", contact_id=contact["id"])


# -- campaigns ----------------------------------------------------------------------------------
def make_campaign(client, **fields: Any) -> dict:
    today = datetime.now(UTC).date()  # a running period: an ended campaign takes no enrollments
    body = {"title": f"Q1 Product Launch {uid()}", "code": f"Q1-{uid()}", "type": "Email Sequence",
            "description": "Launch sequence", "visibility": "Internal",
            "start_date": (today - timedelta(days=1)).isoformat(),
            "end_date": (today + timedelta(days=60)).isoformat(), **fields}
    response = client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def activate(client, campaign: dict) -> None:
    for status in ("New", "Active"):
        response = client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"status": status})
        assert response.status_code == 200, response.text


def test_campaign_workflow_roles_and_validation(marketing, sales, executive):
    campaign = make_campaign(marketing)
    assert campaign["status"] == "Draft"
    bad = marketing.patch(f"/api/v1/campaigns/{campaign['id']}", json={"status": "Active"})
    assert bad.status_code == 409 and "status" in bad.json()["error"]["details"]["fields"]
    activate(marketing, campaign)
    assert marketing.patch(f"/api/v1/campaigns/{campaign['id']}", json={"status": "Draft"}).status_code == 409
    assert marketing.patch(f"/api/v1/campaigns/{campaign['id']}", json={"status": "Inactive"}).status_code == 200
    done = marketing.patch(f"/api/v1/campaigns/{campaign['id']}", json={"status": "Discarded"}).json()
    assert [h["status"] for h in done["status_history"]] == ["Draft", "New", "Active", "Inactive", "Discarded"]
    for client in (sales, executive):
        assert client.post("/api/v1/campaigns", json={"title": "x", "code": f"X{uid()}",
                                                      "type": "Promotion"}).status_code == 403
    assert executive.get(f"/api/v1/campaigns/{campaign['id']}").status_code == 200
    response = marketing.post("/api/v1/campaigns", json={"title": "x", "code": "bad code!", "type": "Webinar",
                                                         "start_date": "2026-02-01", "end_date": "2026-01-01"})
    assert response.status_code == 422
    assert {"code", "type", "end_date"} <= set(response.json()["error"]["details"]["fields"])
    dup = marketing.post("/api/v1/campaigns", json={"title": "y", "code": campaign["code"], "type": "Promotion"})
    assert dup.status_code == 409


def test_enrollment_rules_capacity_and_several_campaigns(marketing, new_contact):
    first = make_campaign(marketing, capacity=2, type="Cold Outreach")
    second = make_campaign(marketing, type="Event Follow-up")
    draft = make_campaign(marketing)
    contacts = [new_contact() for _ in range(3)]
    ids = [c["id"] for c in contacts]
    assert marketing.post(f"/api/v1/campaigns/{draft['id']}/enroll", json={"contact_ids": ids}).status_code == 409
    activate(marketing, first)
    activate(marketing, second)
    result = marketing.post(f"/api/v1/campaigns/{first['id']}/enroll",
                            json={"contact_ids": ids + ["00000000-0000-0000-0000-000000000000"]}).json()
    reasons = [r.get("reason") for r in result["results"]]
    assert result["enrolled"] == 2 and reasons[2] == "capacity_reached" and reasons[3] == "contact_not_found"
    again = marketing.post(f"/api/v1/campaigns/{first['id']}/enroll", json={"contact_ids": ids[:1]}).json()
    assert again["results"][0]["reason"] == "already_enrolled"
    assert marketing.post(f"/api/v1/campaigns/{second['id']}/enroll",
                          json={"contact_ids": ids[:1]}).json()["enrolled"] == 1
    mine = marketing.get(f"/api/v1/contacts/{ids[0]}/campaigns").json()["items"]
    assert {c["campaign_id"] for c in mine} == {first["id"], second["id"]}
    assert marketing.get(f"/api/v1/campaigns/{first['id']}").json()["contact_count"] == 2
    assert outbox_events("campaign_enrolled", contact_id=ids[0])


def test_sequence_steps_send_by_themselves_once_each(crm_system, api, marketing, template, new_contact):
    campaign = make_campaign(marketing, steps=[
        {"template_id": template["id"]},
        {"delay_minutes": 0, "subject": "Step two for {first_name}", "body": "Second step https://example.com/s2"},
    ])
    activate(marketing, campaign)
    contacts = [new_contact() for _ in range(2)]
    enrolled = marketing.post(f"/api/v1/campaigns/{campaign['id']}/enroll",
                              json={"contact_ids": [c["id"] for c in contacts]}).json()
    assert enrolled["enrolled"] == 2
    for contact in contacts:
        messages = sent_to(crm_system, contact["email"], n=2)
        assert sorted(str(m["Subject"]) for m in messages) == ["Great talking, Sarah", "Step two for Sarah"]
    time.sleep(2.5)  # more timer ticks: every step was claimed once, nothing is sent again
    for contact in contacts:
        assert len(mail_to(crm_system, contact["email"])) == 2
    step_two = [m for m in mail_to(crm_system, contacts[0]["email"]) if "two" in str(m["Subject"])][0]
    api.get(f"/t/o/{tracking_token(step_two)}.gif")

    def progressed():
        items = marketing.get(f"/api/v1/contacts/{contacts[0]['id']}/campaigns").json()["items"]
        return items if items and items[0]["engagement"]["opened"] == 1 else None

    item = wait_for(progressed, what="campaign engagement")[0]
    assert item["progress"] == "2/2" and item["status"] == "completed"
    assert item["engagement"]["sent"] == 2 and item["engagement"]["open_rate"] == 50.0
    overall = marketing.get(f"/api/v1/campaigns/{campaign['id']}").json()["engagement"]
    assert overall["sent"] == 4 and overall["opened"] == 1 and overall["open_rate"] == 25.0


# -- calls and follow-ups ----------------------------------------------------------------------
def test_call_purposes_have_scripts_and_tips(executive):
    items = executive.get("/api/v1/call-purposes").json()["items"]
    assert [p["name"] for p in items] == ["Discovery Call", "Product Demo", "Follow-up Call", "Negotiation",
                                          "Customer Support", "Closing Call"]
    assert all(p["script"] and p["quick_tips"] for p in items)


def test_log_call_limits_follow_up_and_history(sales, executive, admin, new_contact):
    contact = new_contact(owner=sales)
    too_long = sales.post("/api/v1/calls", json={"contact_id": contact["id"], "purpose": "Discovery Call",
                                                 "status": "Completed", "notes": "x" * 1001})
    assert too_long.status_code == 422 and "notes" in too_long.json()["error"]["details"]["fields"]
    no_status = sales.post("/api/v1/calls", json={"contact_id": contact["id"], "purpose": "Discovery Call"})
    assert no_status.status_code == 422 and "status" in no_status.json()["error"]["details"]["fields"]
    bad_purpose = sales.post("/api/v1/calls", json={"contact_id": contact["id"], "purpose": "Chit-chat",
                                                    "status": "Completed"})
    assert bad_purpose.status_code == 422 and "purpose" in bad_purpose.json()["error"]["details"]["fields"]
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = sales.post("/api/v1/calls", json={
        "contact_id": contact["id"], "purpose": "Discovery Call", "status": "Completed", "duration_s": 900,
        "notes": "x" * 1000, "participants": ["John Smith"], "outcome": "Interested in a demo",
        "follow_up": {"type": "meeting", "title": "Product demo", "due_at": due, "priority": "high"}})
    assert response.status_code == 201, response.text
    call = response.json()
    assert call["duration_label"] == "15 min call" and call["follow_ups"][0]["priority"] == "high"
    assert outbox_events("call_logged", contact_id=contact["id"])[0]["status"] == "Completed"
    rescheduled = sales.post("/api/v1/calls", json={"contact_id": contact["id"], "purpose": "Follow-up Call",
                                                    "status": "Rescheduled", "scheduled_at": due}).json()
    assert rescheduled["follow_ups"][0]["type"] == "call"
    history = sales.get(f"/api/v1/contacts/{contact['id']}/communications", params={"type": "call"}).json()
    assert history["total"] == 2 and {i["type"] for i in history["items"]} == {"call"}
    assert executive.post("/api/v1/calls", json={"contact_id": contact["id"], "purpose": "Discovery Call",
                                                 "status": "Completed"}).status_code == 403
    theirs = new_contact(owner=admin)
    assert sales.post("/api/v1/calls", json={"contact_id": theirs["id"], "purpose": "Discovery Call",
                                             "status": "Completed"}).status_code == 403


def test_scheduled_call_then_logged(sales, new_contact):
    contact = new_contact(owner=sales)
    when = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    scheduled = sales.post("/api/v1/calls", json={"contact_id": contact["id"], "purpose": "Product Demo",
                                                  "scheduled_at": when}).json()
    assert scheduled["status"] == "Scheduled"
    assert outbox_events("call_scheduled", contact_id=contact["id"])
    logged = sales.patch(f"/api/v1/calls/{scheduled['id']}", json={"status": "Voicemail", "notes": "Left a message"})
    assert logged.status_code == 200, logged.text
    assert logged.json()["status"] == "Voicemail"


def test_follow_up_reminder_fires_once_for_the_assignee(sales, template, new_contact):
    contact = new_contact(owner=sales)
    due = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    response = sales.post("/api/v1/follow-ups", json={"contact_id": contact["id"], "type": "email",
                                                      "template_id": template["id"], "priority": "urgent",
                                                      "due_at": due})
    assert response.status_code == 201, response.text
    follow_up = response.json()
    assert follow_up["title"] == template["name"] and follow_up["assigned_to"] == sales.user["id"]
    wait_for(lambda: outbox_events("follow_up_due", follow_up_id=follow_up["id"]), what="follow_up_due")
    mine = sales.get("/api/v1/follow-ups", params={"due": "overdue", "assigned_to": "me"}).json()["items"]
    assert follow_up["id"] in {f["id"] for f in mine}
    time.sleep(1.5)
    assert len(outbox_events("follow_up_due", follow_up_id=follow_up["id"])) == 1
    done = sales.patch(f"/api/v1/follow-ups/{follow_up['id']}", json={"status": "done"}).json()
    assert done["status"] == "done" and done["completed_at"]
    bad = sales.post("/api/v1/follow-ups", json={"contact_id": contact["id"], "type": "lunch",
                                                 "due_at": due})
    assert bad.status_code == 422 and "type" in bad.json()["error"]["details"]["fields"]
    items = sales.get(f"/api/v1/contacts/{contact['id']}/follow-ups").json()["items"]
    assert items[0]["status"] == "done"


# -- communication history ---------------------------------------------------------------------
def test_history_pages_25_newest_first_with_filters(sales, new_contact):
    contact = new_contact(owner=sales)
    start = datetime.now(UTC) - timedelta(days=40)
    for n in range(27):
        response = sales.post("/api/v1/calls", json={
            "contact_id": contact["id"], "purpose": "Follow-up Call", "status": "Completed", "duration_s": 60,
            "notes": f"call number {n}" + (" pricing" if n == 3 else ""),
            "occurred_at": (start + timedelta(days=n)).isoformat()})
        assert response.status_code == 201, response.text
    first = sales.get(f"/api/v1/contacts/{contact['id']}/communications").json()
    assert first["total"] == 27 and len(first["items"]) == 25 and first["per_page"] == 25
    times = [i["occurred_at"] for i in first["items"]]
    assert times == sorted(times, reverse=True)
    assert first["groups"][0]["date"] == first["items"][0]["date"]
    second = sales.get(f"/api/v1/contacts/{contact['id']}/communications", params={"page": 2}).json()
    assert len(second["items"]) == 2
    found = sales.get(f"/api/v1/contacts/{contact['id']}/communications", params={"q": "pricing"}).json()
    assert found["total"] == 1 and "pricing" in found["items"][0]["notes"]
    window = sales.get(f"/api/v1/contacts/{contact['id']}/communications", params={
        "from": (start + timedelta(days=10)).isoformat(), "to": (start + timedelta(days=12, hours=1)).isoformat()})
    assert window.json()["total"] == 3
    bad = sales.get(f"/api/v1/contacts/{contact['id']}/communications", params={"type": "fax"})
    assert bad.status_code == 422 and "type" in bad.json()["error"]["details"]["fields"]


def test_rpc_contracts_for_other_services(rpc_client, marketing, template, new_contact):
    contact = new_contact()
    context = {"auth_token": marketing.token}
    campaigns = rpc_client.call("messaging", "contact_campaigns", contact["id"], context=context)
    assert campaigns == []
    page = rpc_client.call("messaging", "list_communications", contact["id"], context=context)
    assert page["per_page"] == 25 and page["items"] == []
    result = rpc_client.call("messaging", "send_template_email", template["id"], [contact["id"]], context=context)
    assert result["queued"] == 1
    follow_up = rpc_client.call("messaging", "create_follow_up", {
        "contact_id": contact["id"], "type": "task", "due_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        context=context)
    assert rpc_client.call("messaging", "contact_follow_ups", contact["id"], context=context)[0]["id"] == \
        follow_up["id"]



def test_deleted_contact_leaves_campaigns_and_follow_ups(marketing, admin, new_contact):
    contact = new_contact()
    campaign = make_campaign(marketing, steps=[{"delay_days": 2, "subject": "Later", "body": "Later"}])
    activate(marketing, campaign)
    assert marketing.post(f"/api/v1/campaigns/{campaign['id']}/enroll",
                          json={"contact_ids": [contact["id"]]}).json()["enrolled"] == 1
    follow_up = marketing.post("/api/v1/follow-ups", json={
        "contact_id": contact["id"], "type": "task",
        "due_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}).json()
    assert admin.delete(f"/api/v1/contacts/{contact['id']}").status_code in (200, 204)

    def gone():
        enrolled = marketing.get(f"/api/v1/campaigns/{campaign['id']}/enrollments").json()["items"]
        ups = marketing.get("/api/v1/follow-ups", params={"contact_id": contact["id"]}).json()["items"]
        return enrolled[0]["status"] == "removed" and ups[0]["status"] == "cancelled"

    wait_for(gone, what="contact_deleted handled")
    assert follow_up["status"] == "open"


def test_consent_records_are_provable_and_withdrawal_suppresses(marketing, new_contact):
    contact = new_contact()
    granted = marketing.post(f"/api/v1/contacts/{contact['id']}/consents", json={
        "status": "granted", "source": "web_form", "text_version": "newsletter-2024-01"})
    assert granted.status_code == 201, granted.text
    assert granted.json()["suppressed"] is False and granted.json()["text_version"] == "newsletter-2024-01"
    bad = marketing.post(f"/api/v1/contacts/{contact['id']}/consents", json={"status": "granted",
                                                                             "source": "web_form"})
    assert bad.status_code == 422 and "text_version" in bad.json()["error"]["details"]["fields"]
    withdrawn = marketing.post(f"/api/v1/contacts/{contact['id']}/consents", json={
        "status": "withdrawn", "source": "phone", "text_version": "newsletter-2024-01"}).json()
    assert withdrawn["suppressed"] is True
    refused = send(marketing, [contact["id"]], subject="x", body="y").json()
    assert refused["results"][0]["reason"] == "unsubscribed"
    history = marketing.get(f"/api/v1/contacts/{contact['id']}/consents").json()["items"]
    assert [c["status"] for c in history] == ["withdrawn", "granted"]


def test_sales_sending_to_an_own_unsubscribed_contact_is_refused_not_forbidden(sales, new_contact):
    contact = new_contact(owner=sales)
    assert sales.post(f"/api/v1/contacts/{contact['id']}/unsubscribe", json={"source": "phone"}).status_code == 200
    response = send(sales, [contact["id"]], subject="x", body="y")
    assert response.status_code == 202
    assert response.json()["results"] == [{"contact_id": contact["id"], "status": "refused",
                                           "reason": "unsubscribed"}]
    assert outbox_events("unsubscribed", contact_id=contact["id"])[0]["source"] == "phone"


def test_scheduled_send_waits_for_send_at(crm_system, marketing, new_contact):
    contact = new_contact()
    send_at = datetime.now(UTC) + timedelta(seconds=4)
    job = send(marketing, [contact["id"]], subject="Scheduled", body="Later", send_at=send_at.isoformat()).json()
    assert job["send_at"]
    time.sleep(1.5)
    assert marketing.get(f"/api/v1/emails/jobs/{job['job_id']}").json()["counts"] == {"queued": 1}
    assert not mail_to(crm_system, contact["email"])
    job_done(marketing, job["job_id"])
    message = sent_to(crm_system, contact["email"])[0]
    assert message["Subject"] == "Scheduled"
    sent_at = marketing.get(f"/api/v1/emails/jobs/{job['job_id']}").json()["recipients"][0]["sent_at"]
    assert datetime.fromisoformat(sent_at) >= send_at
