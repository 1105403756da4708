"""At-most-once effects of retried writes (M1) and poison events that stop after N attempts (M4, M9)."""
from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from crm_shared.config import database_url
from crm_shared.reliability import MAX_HANDLER_ATTEMPTS, ConfirmingPublisher, event_exchange, make_envelope
from crm_shared.smtp_sink import read_messages

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


def test_a_retried_create_with_the_same_key_takes_effect_once(api):
    admin = api.as_role("admin")
    email = f"idem-{uuid.uuid4().hex[:10]}@example.com"
    key = uuid.uuid4().hex
    body = {"first_name": "Idem", "last_name": "Potent", "email": email}
    first = admin.post("/api/v1/contacts", json=body, headers={"Idempotency-Key": key})
    second = admin.post("/api/v1/contacts", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert second.json()["id"] == first.json()["id"]
    # without the key the same body is a new request: a conflict on the email, not a second contact
    assert admin.post("/api/v1/contacts", json=body).status_code == 409


def test_a_retried_send_with_the_same_key_sends_one_email(api, crm_system):
    admin = api.as_role("admin")
    email = f"idem-mail-{uuid.uuid4().hex[:10]}@example.com"
    contact = admin.post("/api/v1/contacts", json={"first_name": "Mail", "last_name": "Once", "email": email}).json()
    key = uuid.uuid4().hex
    body = {"contact_ids": [contact["id"]], "subject": "Once {first_name}", "body": "Only once, {first_name}."}
    for _ in range(3):
        response = admin.post("/api/v1/emails", json=body, headers={"Idempotency-Key": key})
        assert response.status_code in (200, 201, 202), response.text

    def delivered() -> int:
        return sum(1 for m in read_messages(crm_system.mail_dir) if email in str(m["To"]))

    deadline = time.monotonic() + 60
    while delivered() == 0:
        assert time.monotonic() < deadline, "the email never arrived"
        time.sleep(0.5)
    time.sleep(3)
    assert delivered() == 1


def test_a_poison_event_is_parked_after_the_attempt_limit(api, crm_system):
    envelope = make_envelope("contacts", "contact_updated", {"contact_id": str(uuid.uuid4())})  # no snapshot
    publisher = ConfirmingPublisher(crm_system.env["CRM_AMQP_URI"])
    try:
        publisher.publish(envelope, event_exchange("contacts"), "contact_updated")
    finally:
        publisher.close()
    engine = sa.create_engine(database_url("segments"))
    try:
        deadline = time.monotonic() + 90
        rows = []
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT attempts, parked_at FROM handler_failures WHERE event_id = :id"),
                    {"id": envelope["event_id"]}).all()
            if rows and all(r.parked_at is not None for r in rows):
                break
            time.sleep(0.5)
        assert rows, "the malformed event never reached a failing handler"
        assert all(r.parked_at is not None for r in rows), rows
        assert all(r.attempts == MAX_HANDLER_ATTEMPTS for r in rows), rows
        time.sleep(3)  # no hot redelivery loop after parking
        with engine.connect() as conn:
            attempts = conn.execute(sa.text("SELECT max(attempts) FROM handler_failures WHERE event_id = :id"),
                                    {"id": envelope["event_id"]}).scalar()
        assert attempts == MAX_HANDLER_ATTEMPTS
    finally:
        engine.dispose()
    # the service still handles good events afterwards
    assert api.get("/api/v1/health").json()["services"]["segments"] == "ok"
