"""Crash safety (RELIABILITY I3): a Celery import worker SIGKILLed mid-commit; the job resumes.

The first test restarts the worker with a pause point right after contacts.import_batch
returned and before the checkpoint commits (the worst moment: contacts are
written, the import does not know yet). The test SIGKILLs the worker's whole
process group there, starts a fresh worker, and checks that the import
completes with every valid row stored exactly once. The second kills it right
after a validation, matching or commit checkpoint committed (before the step's
message was acked), once each, and checks the uninterrupted counts.
"""
from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from crm_shared.testing.helpers import IMPORT_WORKER, restart_import_worker
from tests.e2e.test_imports import create_contact, get_ok, start, upload, wait_for

WORKER = IMPORT_WORKER
restart_worker = restart_import_worker


def kill_at_pause(system, marker, point: str) -> None:
    """Wait until the worker paused at ``point`` (it writes its pid to ``marker``), then SIGKILL its group."""
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, f"the worker never reached {point}"
        time.sleep(0.1)
    paused_pid = int(marker.read_text())
    system.signal_one(WORKER, signal.SIGKILL)
    time.sleep(0.5)
    assert not os.path.exists(f"/proc/{paused_pid}/status") or "zombie" in open(
        f"/proc/{paused_pid}/status").read()


def test_worker_killed_mid_commit_resumes_and_stores_each_row_once(crm_system, api, tmp_path):
    marketing = api.as_role("marketing")
    marker = tmp_path / "paused"
    u = uuid.uuid4().hex[:8]
    rows = 240
    letters = str.maketrans("0123456789", "abcdefghij")
    lines = ["Name,Email,Phone"] + [f"Crash {str(i).translate(letters)}son,crash{i}-{u}@example.com,"
                                    f"+1 212 555 9{i:03d}" for i in range(rows)]
    lines.append(f"Bad Row,not-an-email-{u},")
    try:
        restart_worker(crm_system, CRM_IMPORT_PAUSE_AT="after_import_batch", CRM_IMPORT_PAUSE_FILE=str(marker),
                       CRM_IMPORT_COMMIT_CHUNK="50")
        job = start(marketing, "\n".join(lines))
        assert job["status"] == "review"
        response = marketing.post(f"/api/v1/imports/{job['id']}/commit", json={"unresolved": "skip"})
        assert response.status_code == 202
        kill_at_pause(crm_system, marker, "after_import_batch")
        status = get_ok(marketing, f"/api/v1/imports/{job['id']}")
        assert status["status"] == "committing" and status["progress"] < 100
        restart_worker(crm_system)                    # marker exists: no pause on the new worker
        deadline = time.monotonic() + 120
        while (done := get_ok(marketing, f"/api/v1/imports/{job['id']}"))["status"] != "completed":
            assert time.monotonic() < deadline, done
            assert done["status"] != "failed", done
            time.sleep(0.3)
    finally:
        restart_worker(crm_system)
    assert done["summary"] == {"total": rows + 1, "imported": rows, "duplicates": 0, "merged": 0, "skipped": 0,
                               "failed": 1}
    stored = []
    page = 1
    while True:
        body = get_ok(marketing, "/api/v1/contacts", params={"import_id": job["id"], "per_page": 200,
                                                              "page": page})
        stored += [c["email"] for c in body["items"]]
        if page * 200 >= body["total"]:
            break
        page += 1
    assert len(stored) == rows
    assert sorted(stored) == sorted(f"crash{i}-{u}@example.com" for i in range(rows))


@pytest.mark.parametrize("point", ["after_validate_commit", "after_match_commit", "after_commit_commit"])
def test_worker_killed_right_after_a_checkpoint_resumes_with_the_uninterrupted_counts(crm_system, api, tmp_path,
                                                                                       point):
    """SIGKILL after a step committed and before its message was acked: the redelivered step goes on from there.

    Validation and matching (before review) and a commit chunk (after it) are
    each interrupted once; the file has a duplicate of an existing contact, a
    row repeated inside the file and an invalid row, so the match results must
    survive the crash too.
    """
    marketing = api.as_role("marketing")
    marker = tmp_path / f"paused-{point}"
    u = uuid.uuid4().hex[:8]
    letters = str.maketrans("0123456789", "abcdefghij")
    existing = create_contact(marketing, first_name="Kept", last_name="Original", email=f"kept-{u}@example.com")
    tag = u.translate(letters)                  # names and phones unlike any other test's: nothing else matches
    exchange = 230 + int(u[:4], 16) % 60       # 230-289: valid NANP exchanges (no N11)
    lines = ["Name,Email,Phone,Position"] + [
        f"Chaos{tag} {str(i).translate(letters)}ton,chaos{i}-{u}@example.com,+1 646 {exchange} {i:04d},Engineer"
        for i in range(120)]
    lines.append(f"Kept Original,KEPT-{u}@EXAMPLE.COM,,Head of Sales")   # the existing contact, by email
    lines.append(lines[1])                                             # row 1 again, inside the file
    lines.append(f"Bad Row,not-an-email-{u},,")
    try:
        restart_worker(crm_system, CRM_IMPORT_PAUSE_AT=point, CRM_IMPORT_PAUSE_FILE=str(marker),
                       CRM_IMPORT_COMMIT_CHUNK="50")
        response = upload(marketing, "\n".join(lines))
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        if point == "after_commit_commit":
            wait_for(marketing, job_id, ("review",))
            assert marketing.post(f"/api/v1/imports/{job_id}/commit", json={"unresolved": "merge"}).status_code == 202
        kill_at_pause(crm_system, marker, point)
        restart_worker(crm_system)                    # marker exists: no pause on the new worker
        if point != "after_commit_commit":
            wait_for(marketing, job_id, ("review",), timeout=120)
            found = get_ok(marketing, f"/api/v1/imports/{job_id}/duplicates")
            assert found["total"] == 2, found
            assert {d["source"] for d in found["items"]} == {"crm", "file"}, found
            assert marketing.post(f"/api/v1/imports/{job_id}/commit", json={"unresolved": "merge"}).status_code == 202
        done = wait_for(marketing, job_id, ("completed",), timeout=120)
    finally:
        restart_worker(crm_system)
    assert done["summary"] == {"total": 123, "imported": 120, "duplicates": 2, "merged": 2, "skipped": 0,
                               "failed": 1}
    body = get_ok(marketing, "/api/v1/contacts", params={"import_id": job_id, "per_page": 200})
    assert sorted(c["email"] for c in body["items"]) == sorted(f"chaos{i}-{u}@example.com" for i in range(120))
    kept = get_ok(marketing, f"/api/v1/contacts/{existing['id']}")
    assert kept["position"] == "Head of Sales"
