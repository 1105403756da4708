"""RabbitMQ restarted in the middle of real work (issue 9): an import's commit and a bulk send.

``rabbitmqctl stop_app`` / ``start_app`` while the work is half done; no process of
ours is restarted. Afterwards the work finishes by itself: every valid import row
is stored exactly once, and every recipient of the bulk send gets exactly one
email with its status recorded.
"""
from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa

from crm_shared.config import database_url
from crm_shared.smtp_sink import read_messages
from tests.chaos.test_broker_outage import rabbitmqctl, wait_until
from tests.e2e.test_imports import get_ok, start, wait_for
from tests.e2e.test_imports_crash import restart_worker

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]
LETTERS = str.maketrans("0123456789", "abcdefghij")


def _csv(u: str, rows: int, prefix: str) -> str:
    return "\n".join(["Name,Email,Company"] + [
        f"{prefix.title()} {str(i).translate(LETTERS)}son,{prefix}{i}-{u}@example.com,{prefix.title()} Co {u}"
        for i in range(rows)])


def _stored_emails(client, import_id: str) -> list[str]:
    stored, page = [], 1
    while True:
        body = get_ok(client, "/api/v1/contacts", params={"import_id": import_id, "per_page": 200, "page": page})
        stored += [c["email"] for c in body["items"]]
        if page * 200 >= body["total"]:
            return stored
        page += 1


def _outage(seconds: float) -> float:
    """Stop the broker for ``seconds``; returns when it is back (monotonic time)."""
    rabbitmqctl("stop_app")
    try:
        time.sleep(seconds)
    finally:
        rabbitmqctl("start_app")
    return time.monotonic()


def test_an_import_committing_through_a_broker_restart_stores_every_row_once(crm_system, api, tmp_path):
    marketing = api.as_role("marketing")
    u, rows = uuid.uuid4().hex[:8], 300
    marker = tmp_path / "paused"
    try:
        # the worker pauses right after a commit checkpoint, holding its step's message unacked
        restart_worker(crm_system, CRM_IMPORT_PAUSE_AT="after_commit_commit", CRM_IMPORT_PAUSE_FILE=str(marker),
                       CRM_IMPORT_PAUSE_SECONDS="6", CRM_IMPORT_COMMIT_CHUNK="50")
        job = start(marketing, _csv(u, rows, "restart") + f"\nBad Row,not-an-email-{u},")
        assert job["status"] == "review", job
        assert marketing.post(f"/api/v1/imports/{job['id']}/commit", json={"unresolved": "skip"}).status_code == 202
        wait_until(marker.exists, 60)
        mid = get_ok(marketing, f"/api/v1/imports/{job['id']}")
        assert mid["status"] == "committing" and 0 < mid["progress"] < 100, mid
        back = _outage(8)
        done = wait_for(marketing, job["id"], ("completed",), timeout=150)
        print(f"import completed {time.monotonic() - back:.1f}s after the broker came back")
    finally:
        restart_worker(crm_system)
    assert done["summary"] == {"total": rows + 1, "imported": rows, "duplicates": 0, "merged": 0, "skipped": 0,
                               "failed": 1}
    stored = _stored_emails(marketing, job["id"])
    assert sorted(stored) == sorted(f"restart{i}-{u}@example.com" for i in range(rows))   # each once


def test_a_bulk_send_through_a_broker_restart_sends_each_email_once(crm_system, api):
    marketing = api.as_role("marketing")
    u = uuid.uuid4().hex[:8]
    job = start(marketing, _csv(u, 2000, "bulk"))   # a few seconds of sending at full speed
    # look-alike generated names may be flagged as possible duplicates: those rows are skipped
    assert marketing.post(f"/api/v1/imports/{job['id']}/commit", json={"unresolved": "skip"}).status_code == 202
    recipients = wait_for(marketing, job["id"], ("completed",), timeout=180)["summary"]["imported"]
    assert recipients >= 800

    def delivered() -> Counter:
        return Counter(str(m["To"]).lower() for m in read_messages(crm_system.mail_dir) if f"-{u}@" in str(m["To"]))

    response = marketing.post("/api/v1/emails", json={"filter": {"import_id": job["id"]},
                                                      "subject": "Restart {first_name}", "body": "Hello {first_name}"})
    assert response.status_code == 202, response.text
    assert response.json()["queued"] == recipients
    rabbitmqctl("stop_app")   # the sender is claiming its first batches
    try:
        sent_by_then = sum(delivered().values())
        time.sleep(8)
    finally:
        rabbitmqctl("start_app")
    back = time.monotonic()
    assert sent_by_then < recipients, "the send finished before the broker went away: nothing was tested"

    engine = sa.create_engine(database_url("messaging"))
    try:
        def statuses() -> dict[str, int]:
            with engine.connect() as conn:
                return dict(conn.execute(sa.text("SELECT status, count(*) FROM emails WHERE job_id = :j "
                                                 "GROUP BY status"), {"j": response.json()["job_id"]}).all())

        wait_until(lambda: statuses() == {"sent": recipients}, 180)
        print(f"bulk send finished {time.monotonic() - back:.1f}s after the broker came back "
              f"({sent_by_then} sent when it went away)")
    finally:
        engine.dispose()
    wait_until(lambda: len(delivered()) == recipients, 30)
    got = delivered()
    assert len(got) == recipients and set(got.values()) == {1}, got.most_common(3)   # everyone, once
