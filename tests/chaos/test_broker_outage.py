"""RabbitMQ outage (RELIABILITY M7): writes fail fast with 503, nothing hangs, everything heals by itself.

Stops the broker application with ``rabbitmqctl stop_app`` (the Erlang node
stays up) and starts it again; no process of ours is restarted.
"""
from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from crm_shared.config import database_url
from crm_shared.testing.helpers import rabbitmqctl

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


def wait_until(predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # the system is still coming back
            pass
        time.sleep(interval)
    raise AssertionError(f"not healed within {timeout}s")


def test_broker_outage_fails_fast_and_heals(api, crm_system):
    admin = api.as_role("admin")
    before = f"before-{uuid.uuid4().hex[:8]}@example.com"
    assert admin.post("/api/v1/contacts", json={"first_name": "Before", "last_name": "Outage",
                                                "email": before}).status_code == 201
    rabbitmqctl("stop_app")
    try:
        statuses = []
        for _ in range(3):
            started = time.monotonic()
            response = admin.post("/api/v1/contacts", json={
                "first_name": "During", "last_name": "Outage", "email": f"during-{uuid.uuid4().hex[:8]}@example.com"})
            elapsed = time.monotonic() - started
            statuses.append(response.status_code)
            assert elapsed < 6, f"a write waited {elapsed:.1f}s during the outage"
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "service_unavailable"
        health = api.get("/api/v1/health", timeout=10)
        assert health.status_code in (200, 503)
    finally:
        rabbitmqctl("start_app")
    started = time.monotonic()
    wait_until(lambda: api.get("/api/v1/health", timeout=5).json()["status"] == "ok", 60)
    healed_in = time.monotonic() - started
    print(f"healed {healed_in:.1f}s after the broker came back")
    after = f"after-{uuid.uuid4().hex[:8]}@example.com"
    wait_until(lambda: admin.post("/api/v1/contacts", json={"first_name": "After", "last_name": "Outage",
                                                            "email": after}).status_code == 201, 30)
    # Every committed event reaches the broker after recovery (the outbox empties).
    engine = sa.create_engine(database_url("contacts"))
    try:
        def outbox_drained() -> bool:
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar() == 0
        wait_until(outbox_drained, 30)
    finally:
        engine.dispose()
