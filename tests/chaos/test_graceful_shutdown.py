"""SIGTERM lets in-flight work finish and commit before the service exits (RELIABILITY M8)."""
from __future__ import annotations

import signal
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from crm_shared.config import database_url

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


def test_sigterm_finishes_the_in_flight_write_then_exits(api, crm_system):
    admin = api.as_role("admin")
    email = f"graceful-{uuid.uuid4().hex[:10]}@example.com"
    engine = sa.create_engine(database_url("contacts"))
    outcome: dict = {}
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("LOCK TABLE contacts IN EXCLUSIVE MODE"))  # reads pass, writes wait

            def create() -> None:
                response = admin.post("/api/v1/contacts", json={"first_name": "Grace", "last_name": "Ful",
                                                                "email": email}, timeout=30)
                outcome["status"] = response.status_code

            writer = threading.Thread(target=create)
            writer.start()
            time.sleep(1.0)  # the insert is waiting inside PostgreSQL
            crm_system.signal_one("contacts", signal.SIGTERM)
            time.sleep(1.0)
            assert crm_system.pid("contacts") is not None, "exited with a worker still in flight"
            conn.rollback()  # let the write through
        writer.join(timeout=30)
        deadline = time.monotonic() + 30
        while crm_system.pid("contacts") is not None:
            assert time.monotonic() < deadline, "the service did not exit after its work finished"
            time.sleep(0.2)
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM contacts WHERE email = :e"), {"e": email}).scalar()
    finally:
        engine.dispose()
        crm_system.start_one("contacts")
    assert stored == 1, "the in-flight write was lost"
    assert outcome.get("status") in (201, 503)
    deadline = time.monotonic() + 60
    while api.get("/api/v1/health").json()["status"] != "ok":
        assert time.monotonic() < deadline
        time.sleep(0.5)
