"""A slow database call never blocks a service's event loop (RELIABILITY M6).

The test holds a lock that one RPC of the contacts service waits on inside
PostgreSQL; meanwhile the same service must keep answering other requests.
With a blocking driver the whole process would freeze and ``ping`` time out.
"""
from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from crm_shared.config import database_url

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


def test_service_answers_while_one_worker_waits_on_the_database(api, rpc_client):
    admin = api.as_role("admin")
    engine = sa.create_engine(database_url("contacts"))
    blocked_result: dict = {}
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))

            def blocked_call() -> None:
                started = time.monotonic()
                response = admin.get("/api/v1/users", timeout=30)
                blocked_result.update(status=response.status_code, seconds=time.monotonic() - started)

            thread = threading.Thread(target=blocked_call)
            thread.start()
            time.sleep(1.0)  # the users query is now waiting on the lock inside PostgreSQL
            latencies = []
            for _ in range(10):
                started = time.monotonic()
                assert rpc_client.call("contacts", "ping", timeout=3)["status"] == "ok"
                latencies.append(time.monotonic() - started)
                time.sleep(0.5)
            conn.rollback()  # release the lock
        thread.join(timeout=30)
    finally:
        engine.dispose()
    assert max(latencies) < 1.0, latencies
    assert blocked_result, "the blocked request never returned"
    # the gateway gave up on the blocked call within its RPC timeout instead of hanging
    assert blocked_result["status"] in (200, 503)
    assert blocked_result["seconds"] < 10
    assert admin.get("/api/v1/users").status_code == 200
