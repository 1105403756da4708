"""RabbitMQ restarted in the middle of real work (issue 9): an import's commit.

``rabbitmqctl stop_app`` / ``start_app`` while the work is half done; no process of
ours is restarted. Afterwards the work finishes by itself: every valid import row
is stored exactly once, and every recipient of the bulk send gets exactly one
email with its status recorded.
"""
from __future__ import annotations

import time
import uuid

import pytest

from crm_shared.testing.helpers import rabbitmqctl, restart_import_worker
from crm_shared.testing.helpers import wait_for as wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]
LETTERS = str.maketrans("0123456789", "abcdefghij")


def get_ok(client, path: str, **kwargs) -> dict:
    response = client.get(path, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(client, import_id: str, statuses: tuple[str, ...], timeout: float = 90) -> dict:
    """The import once it reached one of ``statuses`` (never ``failed``)."""
    def reached() -> dict | None:
        response = client.get(f"/api/v1/imports/{import_id}")
        if response.status_code == 503:   # the broker is coming back: ask again
            return None
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] != "failed", body
        return body if body["status"] in statuses else None

    return wait_until(reached, timeout, f"import {import_id} {statuses}")


def start(client, content: str) -> dict:
    response = client.post("/api/v1/imports", files={"file": ("restart.csv", content.encode(), "text/csv")})
    assert response.status_code == 202, response.text
    return wait_for(client, response.json()["id"], ("review",))


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
        restart_import_worker(crm_system, CRM_IMPORT_PAUSE_AT="after_commit_commit", CRM_IMPORT_PAUSE_FILE=str(marker),
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
        restart_import_worker(crm_system)
    assert done["summary"] == {"total": rows + 1, "imported": rows, "duplicates": 0, "merged": 0, "skipped": 0,
                               "failed": 1}
    stored = _stored_emails(marketing, job["id"])
    assert sorted(stored) == sorted(f"restart{i}-{u}@example.com" for i in range(rows))   # each once
