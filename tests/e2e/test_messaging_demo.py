"""The messaging demo data through the gateway: ready-made templates, the seed's campaigns, Sarah Johnson's history.

Loads the users, contacts and messaging demo parts into the session's system
(the loader is idempotent, so running it twice must change nothing).
"""
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_loaded(crm_system):
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "deploy.demo", "--only", "users,contacts,messaging"], cwd=ROOT,
                       check=True, timeout=600)
    return True


def test_demo_templates_campaigns_and_history(api, demo_loaded):
    client = api.as_role("marketing")
    templates = client.get("/api/v1/templates", params={"per_page": 200}).json()["items"]
    by_name = {t["name"]: t for t in templates}
    assert {"Welcome Email", "Follow-up Email", "Product Demo"} <= set(by_name)
    assert by_name["Welcome Email"]["category"] == "Onboarding"
    assert sum(1 for t in templates if t["name"] == "Welcome Email") == 1  # loaded twice, created once

    campaigns = {c["code"]: c for c in client.get("/api/v1/campaigns", params={"per_page": 200}).json()["items"]}
    launch, outreach = campaigns["Q1-LAUNCH"], campaigns["ENT-OUTREACH"]
    assert (launch["title"], launch["type"], launch["status"]) == ("Q1 Product Launch Campaign", "Email Sequence",
                                                                   "Active")
    # demo periods are relative to the load: an ended campaign would take no enrollments (seed 002 "Period")
    today = datetime.now(UTC).date().isoformat()
    assert outreach["type"] == "Cold Outreach" and outreach["start_date"] <= today <= outreach["end_date"]
    assert launch["contact_count"] > 0 and len(launch["steps"]) == 2

    sarah = client.get("/api/v1/contacts", params={"q": "Sarah Johnson"}).json()["items"]
    sarah_id = next(c["id"] for c in sarah if c["email"] == "sarah.johnson@techcorp.com")
    history = client.get(f"/api/v1/contacts/{sarah_id}/communications").json()["items"]
    shown = [(i["title"], i["type"], i["status"].lower(), i["direction"]) for i in history]
    assert ("Product Demo Follow-up", "email", "opened", "outbound") in shown
    assert ("Re: Product Demo Follow-up", "email", "replied", "inbound") in shown
    assert ("Discovery Call", "call", "completed", "outbound") in shown
    emails = [i for i in history if i["type"] == "email"]
    assert len({i["thread_id"] for i in emails}) == 1 and len(history) == 3
    mine = client.get(f"/api/v1/contacts/{sarah_id}/campaigns").json()["items"]
    assert "Q1 Product Launch Campaign" in {c["title"] for c in mine}
