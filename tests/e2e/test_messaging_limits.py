"""Messaging limits end to end: the daily send cap (RELIABILITY A7) and the campaign period (seed 002).

The cap is the organisation's setting (`PUT /api/v1/emails/daily-cap`, admins), so a test sets it just
above what today already used and puts the default back afterwards.

The period and status are checked again right before a campaign step goes to SMTP. To change them
while a step is in flight, the tests hold the step back with a cap of 0, freeze the contacts service
(the sender fetches the recipient from it after claiming the step) and then release the cap: the step
is queued and claimed, the sender waits on contacts while the test moves the period, and the check
runs when contacts answers again.
"""
from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_shared.smtp_sink import read_messages
from crm_shared.testing.helpers import letters, poll, uid, wait_for


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


@pytest.fixture(scope="module")
def new_contact(admin) -> Callable[..., dict]:
    def make() -> dict:
        tag = uid()
        response = admin.post("/api/v1/contacts", json={
            "first_name": "Maria", "last_name": f"Garcia{letters()}", "email": f"maria.{tag}@limits.example",
            "company": f"Limits {tag}"})
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def cap(admin) -> Iterator[Callable[[int], dict]]:
    """Set the cap to what today already used (claimed + queued) plus ``left``; the default comes back after."""
    def set_left(left: int) -> dict:
        now = admin.get("/api/v1/emails/daily-cap").json()
        response = admin.put("/api/v1/emails/daily-cap",
                             json={"cap": now["claimed_today"] + now["queued_today"] + left})
        assert response.status_code == 200, response.text
        assert response.json()["remaining"] == left, response.json()
        return response.json()

    yield set_left
    assert admin.put("/api/v1/emails/daily-cap", json={"cap": None}).status_code == 200


def mail_to(crm_system, address: str) -> list:
    return [m for m in read_messages(crm_system.mail_dir) if address.lower() in str(m.get("To", "")).lower()]


def make_campaign(client, **fields: Any) -> dict:
    body = {"title": f"Limits {uid()}", "code": f"LIM-{uid()}", "type": "Email Sequence",
            "start_date": day(-1), "end_date": day(30),
            "steps": [{"subject": "Step one", "body": "Hello {first_name}", "delay_minutes": 0}], **fields}
    response = client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 201, response.text
    for status in ("New", "Active"):
        moved = client.patch(f"/api/v1/campaigns/{response.json()['id']}", json={"status": status})
        assert moved.status_code == 200, moved.text
    return response.json()


def enrollment(client, campaign: dict, contact: dict) -> dict:
    items = client.get(f"/api/v1/campaigns/{campaign['id']}/enrollments").json()["items"]
    return next(e for e in items if e["contact_id"] == contact["id"])


# -- the daily send cap --------------------------------------------------------------------------
def test_cap_is_readable_and_only_admins_change_it(admin, marketing):
    state = marketing.get("/api/v1/emails/daily-cap")
    assert state.status_code == 200, state.text
    body = state.json()
    assert {"cap", "default_cap", "claimed_today", "queued_today", "remaining", "resets_at"} <= set(body)
    assert body["resets_at"].startswith(day(1))
    assert marketing.put("/api/v1/emails/daily-cap", json={"cap": 5}).status_code == 403
    assert admin.put("/api/v1/emails/daily-cap", json={"cap": -1}).status_code == 422


def test_bulk_send_beyond_the_cap_is_429_with_cap_remaining_and_reset(crm_system, admin, marketing, new_contact,
                                                                      cap):
    people = [new_contact() for _ in range(3)]
    state = cap(2)

    refused = marketing.post("/api/v1/emails", json={"contact_ids": [p["id"] for p in people],
                                                     "subject": "Cap", "body": "Hi {first_name}"})
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["cap"] == state["cap"] and error["details"]["remaining"] == 2
    assert error["details"]["requested"] == 3 and error["details"]["resets_at"].startswith(day(1))
    assert "daily send cap" in error["message"]
    assert refused.headers["Retry-After"] == str(error["details"]["retry_after_s"])   # RFC 9110, whole seconds
    assert all(not mail_to(crm_system, p["email"]) for p in people)  # nothing of the refused send went out

    fits = marketing.post("/api/v1/emails", json={"contact_ids": [p["id"] for p in people[:2]],
                                                  "subject": "Cap", "body": "Hi {first_name}"})
    assert fits.status_code == 202, fits.text
    for person in people[:2]:
        wait_for(lambda p=person: mail_to(crm_system, p["email"]), what=f"mail to {person['email']}")
    after = admin.get("/api/v1/emails/daily-cap").json()
    assert after["remaining"] == 0 and after["claimed_today"] >= state["claimed_today"] + 2

    again = marketing.post("/api/v1/emails", json={"contact_ids": [people[2]["id"]], "subject": "Cap",
                                                   "body": "Hi"})
    assert again.status_code == 429 and again.json()["error"]["details"]["remaining"] == 0


def test_campaign_step_beyond_the_cap_is_deferred_then_sent_once_when_the_cap_is_raised(
        crm_system, admin, marketing, new_contact, cap):
    contact = new_contact()
    cap(0)
    campaign = make_campaign(marketing)
    enrolled = marketing.post(f"/api/v1/campaigns/{campaign['id']}/enroll", json={"contact_ids": [contact["id"]]})
    assert enrolled.status_code == 200 and enrolled.json()["enrolled"] == 1, enrolled.text

    held = wait_for(lambda: (lambda e: e if e["hold_reason"] == "daily_send_cap" else None)(
        enrollment(marketing, campaign, contact)), what="the step deferred by the cap")
    assert held["status"] == "active" and held["steps_done"] == 0
    assert held["next_due_at"].startswith(day(1))  # deferred to the reset, not dropped
    time.sleep(1.5)
    assert not mail_to(crm_system, contact["email"])

    assert admin.put("/api/v1/emails/daily-cap", json={"cap": None}).status_code == 200  # releases the hold
    wait_for(lambda: mail_to(crm_system, contact["email"]), what="the deferred step sent")
    done = wait_for(lambda: (lambda e: e if e["status"] == "completed" else None)(
        enrollment(marketing, campaign, contact)), what="the enrollment completed")
    assert done["hold_reason"] is None and done["steps_done"] == 1
    time.sleep(1.5)
    assert len(mail_to(crm_system, contact["email"])) == 1  # never double-sent


# -- the campaign period -------------------------------------------------------------------------
def test_a_campaign_whose_end_date_is_past_takes_no_enrollment(marketing, new_contact):
    contact = new_contact()
    campaign = make_campaign(marketing, start_date=day(-30), end_date=day(-1))
    response = marketing.post(f"/api/v1/campaigns/{campaign['id']}/enroll", json={"contact_ids": [contact["id"]]})
    assert response.status_code == 409, response.text
    fields = response.json()["error"]["details"]["fields"]
    assert list(fields) == ["end_date"] and day(-1) in fields["end_date"][0]


def test_steps_wait_for_start_date_and_do_not_fire_after_end_date(crm_system, marketing, new_contact):
    contact = new_contact()
    campaign = make_campaign(marketing, start_date=day(1), end_date=day(30))
    enrolled = marketing.post(f"/api/v1/campaigns/{campaign['id']}/enroll", json={"contact_ids": [contact["id"]]})
    assert enrolled.status_code == 200 and enrolled.json()["enrolled"] == 1, enrolled.text

    held = wait_for(lambda: (lambda e: e if e["hold_reason"] == "before_start_date" else None)(
        enrollment(marketing, campaign, contact)), what="the step held until start_date")
    assert held["status"] == "active" and held["steps_done"] == 0 and held["next_due_at"].startswith(day(1))

    # the period moves into the past: the held enrollment is looked at again and ends without a send
    moved = marketing.patch(f"/api/v1/campaigns/{campaign['id']}", json={"start_date": day(-10),
                                                                        "end_date": day(-1)})
    assert moved.status_code == 200, moved.text
    ended = wait_for(lambda: (lambda e: e if e["status"] == "ended" else None)(
        enrollment(marketing, campaign, contact)), what="the enrollment ended by end_date")
    assert ended["hold_reason"] == "campaign_ended" and ended["steps_done"] == 0
    time.sleep(1.5)
    assert not mail_to(crm_system, contact["email"])


# -- the period and status at send time -----------------------------------------------------------
@contextmanager
def contacts_frozen(crm_system) -> Iterator[None]:
    """The contacts service stopped (SIGSTOP): the sender's recipient lookup waits until it resumes."""
    crm_system.signal_one("contacts", signal.SIGSTOP)
    try:
        yield
    finally:
        crm_system.signal_one("contacts", signal.SIGCONT)


def held_by_cap(marketing, new_contact, cap, **period: Any) -> tuple[dict, dict]:
    """An enrolled contact whose first step waits for the cap (nothing queued yet)."""
    contact = new_contact()
    cap(0)
    campaign = make_campaign(marketing, **period)
    enrolled = marketing.post(f"/api/v1/campaigns/{campaign['id']}/enroll", json={"contact_ids": [contact["id"]]})
    assert enrolled.status_code == 200 and enrolled.json()["enrolled"] == 1, enrolled.text
    wait_for(lambda: enrollment(marketing, campaign, contact)["hold_reason"] == "daily_send_cap",
             what="the step held by the cap")
    return contact, campaign


def in_flight_then(crm_system, admin, marketing, campaign: dict, contact: dict, change: dict) -> None:
    """Release the cap so the step is queued and claimed, apply ``change`` to the campaign meanwhile."""
    with contacts_frozen(crm_system):
        assert admin.put("/api/v1/emails/daily-cap", json={"cap": None}).status_code == 200
        wait_for(lambda: enrollment(marketing, campaign, contact)["steps_done"] == 1, what="the step queued")
        moved = marketing.patch(f"/api/v1/campaigns/{campaign['id']}", json=change)
        assert moved.status_code == 200, moved.text


def test_a_step_in_flight_when_end_date_passes_is_not_sent_and_ends_the_enrollment(
        crm_system, admin, marketing, new_contact, cap):
    contact, campaign = held_by_cap(marketing, new_contact, cap, start_date=day(-5), end_date=day(30))
    claimed_before = admin.get("/api/v1/emails/daily-cap").json()["claimed_today"]

    in_flight_then(crm_system, admin, marketing, campaign, contact, {"start_date": day(-10), "end_date": day(-1)})
    ended = wait_for(lambda: (lambda e: e if e["status"] == "ended" else None)(
        enrollment(marketing, campaign, contact)), what="the enrollment ended at send time")
    assert ended["hold_reason"] == "campaign_ended" and ended["steps_done"] == 0 and ended["next_due_at"] is None
    assert not poll(lambda: mail_to(crm_system, contact["email"]), timeout=2)
    # the step was claimed against today's cap and never sent: the claim is released
    assert admin.get("/api/v1/emails/daily-cap").json()["claimed_today"] == claimed_before


def test_a_step_in_flight_when_start_date_moves_later_is_held_then_sent_once(
        crm_system, admin, marketing, new_contact, cap):
    contact, campaign = held_by_cap(marketing, new_contact, cap, start_date=day(-1), end_date=day(30))

    in_flight_then(crm_system, admin, marketing, campaign, contact, {"start_date": day(1)})
    held = wait_for(lambda: (lambda e: e if e["hold_reason"] == "before_start_date" else None)(
        enrollment(marketing, campaign, contact)), what="the step held at send time")
    assert held["status"] == "active" and held["steps_done"] == 0 and held["next_due_at"].startswith(day(1))
    assert not poll(lambda: mail_to(crm_system, contact["email"]), timeout=2)

    back = marketing.patch(f"/api/v1/campaigns/{campaign['id']}", json={"start_date": day(-1)})
    assert back.status_code == 200, back.text
    wait_for(lambda: mail_to(crm_system, contact["email"]), what="the held step sent once the period allows")
    done = wait_for(lambda: (lambda e: e if e["status"] == "completed" else None)(
        enrollment(marketing, campaign, contact)), what="the enrollment completed")
    assert done["hold_reason"] is None and done["steps_done"] == 1
    time.sleep(1.5)
    assert len(mail_to(crm_system, contact["email"])) == 1


def test_a_step_in_flight_when_the_campaign_is_paused_waits_for_it_to_be_active(
        crm_system, admin, marketing, new_contact, cap):
    contact, campaign = held_by_cap(marketing, new_contact, cap)

    in_flight_then(crm_system, admin, marketing, campaign, contact, {"status": "Inactive"})
    held = wait_for(lambda: (lambda e: e if e["hold_reason"] == "campaign_inactive" else None)(
        enrollment(marketing, campaign, contact)), what="the step held while the campaign is Inactive")
    assert held["status"] == "active" and held["steps_done"] == 0
    assert not poll(lambda: mail_to(crm_system, contact["email"]), timeout=2)

    assert marketing.patch(f"/api/v1/campaigns/{campaign['id']}", json={"status": "Active"}).status_code == 200
    wait_for(lambda: mail_to(crm_system, contact["email"]), what="the step sent once Active again")
    time.sleep(1.5)
    assert len(mail_to(crm_system, contact["email"])) == 1
