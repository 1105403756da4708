"""Replaying every event twice changes nothing (RELIABILITY M3): no extra row anywhere, no second email.

A scenario through the gateway makes facts in every service; then every event
any service ever published is sent again, twice, straight to the broker.
"""
from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from crm_shared.config import SERVICES, database_url
from crm_shared.reliability import ConfirmingPublisher, event_exchange
from crm_shared.smtp_sink import read_messages

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

BOOKKEEPING = {"outbox", "processed_events", "handler_failures", "idempotency_keys", "alembic_version"}


def snapshot() -> dict[str, int]:
    counts: dict[str, int] = {}
    for service in SERVICES:
        engine = sa.create_engine(database_url(service))
        try:
            with engine.connect() as conn:
                tables = [t for t in sa.inspect(conn).get_table_names() if t not in BOOKKEEPING]
                for table in tables:
                    counts[f"{service}.{table}"] = conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar()
        finally:
            engine.dispose()
    return counts


def envelopes() -> list[dict]:
    found = []
    for service in SERVICES:
        engine = sa.create_engine(database_url(service))
        try:
            with engine.connect() as conn:
                found += [row.envelope for row in conn.execute(sa.text(
                    "SELECT envelope FROM outbox WHERE published_at IS NOT NULL ORDER BY id"))]
        finally:
            engine.dispose()
    return found


def pending_outbox() -> int:
    total = 0
    for service in SERVICES:
        engine = sa.create_engine(database_url(service))
        try:
            with engine.connect() as conn:
                total += conn.execute(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar()
        finally:
            engine.dispose()
    return total


def settle(seconds: float = 4.0, timeout: float = 60) -> dict[str, int]:
    """Wait until the outboxes are empty and the row counts stop moving for ``seconds``."""
    deadline = time.monotonic() + timeout
    previous = snapshot()
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1)
        current = snapshot()
        if current != previous or pending_outbox():
            previous, stable_since = current, time.monotonic()
        elif time.monotonic() - stable_since >= seconds:
            return current
    raise AssertionError("the system did not settle")


def test_every_event_replayed_twice_changes_nothing(api, crm_system):
    admin = api.as_role("admin")
    u = uuid.uuid4().hex[:8]
    contact = admin.post("/api/v1/contacts", json={
        "first_name": "Replay", "last_name": "Tester", "email": f"replay{u}@example.com",
        "company": f"Replay Co {u}", "position": "CEO", "industry": "SaaS", "tags": ["replay"]}).json()
    cid = contact["id"]
    assert admin.post(f"/api/v1/contacts/{cid}/notes", json={"text": "first call went well",
                                                             "type": "sales"}).status_code == 201
    assert admin.patch(f"/api/v1/contacts/{cid}", json={"stage": "Qualified"}).status_code == 200
    for kind in ("pricing_page_visited", "demo_requested", "webinar_attended"):
        recorded = admin.post("/api/v1/engagement-events", json={"contact_id": cid, "type": kind})
        assert recorded.status_code in (200, 201, 202), recorded.text
    sent = admin.post("/api/v1/emails", json={"contact_ids": [cid], "subject": "Hi {first_name}",
                                              "body": "Hello {first_name} from {company_name}"})
    assert sent.status_code in (200, 201, 202), sent.text
    assert admin.post("/api/v1/calls", json={"contact_id": cid, "purpose": "Discovery Call",
                                             "status": "Completed", "duration_s": 300,
                                             "notes": "discussed pricing"}).status_code in (200, 201)
    segment = admin.post("/api/v1/segments", json={"name": f"Replay {u}", "criteria": {
        "all": [{"field": "tags", "op": "contains", "value": "replay"}]}})
    assert segment.status_code == 201, segment.text

    deadline = time.monotonic() + 60
    while not any(f"replay{u}@example.com" in str(m["To"]) for m in read_messages(crm_system.mail_dir)):
        assert time.monotonic() < deadline, "the email never reached the sink"
        time.sleep(0.5)
    before = settle()
    mail_before = len(read_messages(crm_system.mail_dir))

    published = envelopes()
    kinds = {(e["source"], e["event_type"]) for e in published}
    assert len(kinds) >= 8, f"the scenario should touch many event types, got {sorted(kinds)}"
    publisher = ConfirmingPublisher(crm_system.env["CRM_AMQP_URI"])
    try:
        for _ in range(2):
            for envelope in published:
                try:
                    publisher.publish(envelope, event_exchange(envelope["source"]), envelope["event_type"])
                except Exception as exc:  # an event type nobody subscribes to is returned: fine here
                    assert "Undeliverable" in type(exc).__name__, exc
    finally:
        publisher.close()

    after = settle()
    changed = {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {}, f"replayed events changed row counts: {changed}"
    assert len(read_messages(crm_system.mail_dir)) == mail_before, "a replayed event sent an email again"
