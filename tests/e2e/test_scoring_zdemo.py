"""The scoring demo data through the gateway: the seed's hot leads have real buying signals.

Runs last among the scoring tests and switches the demo's rules off afterwards, so they never
act on other tests' contacts.
"""
from __future__ import annotations

import subprocess

import pytest

from crm_shared.system import ROOT

SAMPLES = [
    {"first_name": "David", "last_name": "Thompson", "position": "CEO", "company": "FutureTech Industries",
     "email": "d.thompson@futuretech.net", "industry": "Technology", "stage": "Hot Lead"},
    {"first_name": "Sarah", "last_name": "Johnson", "position": "VP of Sales", "company": "TechCorp Solutions",
     "email": "sarah.johnson@techcorp.com", "industry": "Technology", "stage": "Hot Lead"},
]


@pytest.mark.timeout(600)
def test_demo_hot_leads_have_real_signals(api, crm_system):
    """The seed's two hot leads (as the contacts demo part creates them), then the scoring demo part."""
    import os
    import sys

    admin = api.as_role("admin")
    for sample in SAMPLES:
        created = admin.post("/api/v1/contacts", json=sample)
        assert created.status_code in (201, 409), created.text  # 409: the contacts demo part made it already
    subprocess.run([sys.executable, "-m", "deploy.demo", "--only", "scoring"], cwd=ROOT, env=os.environ,
                   check=True, timeout=500)
    listed = admin.get("/api/v1/rules?per_page=200")
    assert listed.status_code == 200, listed.text
    rules = listed.json()["items"]
    demo_rules = [r for r in rules if r["name"] in ("New lead needs outreach", "Demo request: book the demo",
                                                   "Tag pricing page interest", "Weekly nurture review",
                                                   "Cold lead re-engagement cycle")]
    try:
        assert len(demo_rules) == 5
        for name, email in (("David", "d.thompson@futuretech.net"), ("Sarah", "sarah.johnson@techcorp.com")):
            found = admin.get("/api/v1/contacts", params={"q": name, "per_page": 200}).json()["items"]
            contact = next(c for c in found if c["email"] == email)
            alert = admin.get(f"/api/v1/contacts/{contact['id']}/hot-lead-alert").json()["hot_lead_alert"]
            assert alert is not None and alert["score"] >= 90, alert
            labels = [s["label"] for s in alert["signals"]]
            assert any(label.startswith("Visited pricing page") and "x this week" in label for label in labels)
            score = admin.get(f"/api/v1/contacts/{contact['id']}/score").json()
            assert sum(b["points"] for b in score["breakdown"]) == score["score"]
        david = next(c for c in admin.get("/api/v1/contacts", params={"q": "Thompson"}).json()["items"]
                     if c["email"] == "d.thompson@futuretech.net")
        labels = [s["label"] for s in admin.get(f"/api/v1/contacts/{david['id']}/hot-lead-alert").json()[
            "hot_lead_alert"]["signals"]]
        assert "Clicked demo request yesterday" in labels and "Visited pricing page 8x this week" in labels
        before = admin.get(f"/api/v1/contacts/{david['id']}/engagement-events?per_page=200").json()["total"]
        again = subprocess.run([sys.executable, "-m", "deploy.demo", "--only", "scoring"], cwd=ROOT, env=os.environ,
                               check=True, timeout=600, capture_output=True, text=True)
        assert "demo data: scoring loaded" in again.stdout
        events = admin.get(f"/api/v1/contacts/{david['id']}/engagement-events?per_page=200").json()
        assert events["total"] == before >= 10  # loading twice records nothing twice
    finally:
        for rule in demo_rules:
            admin.patch(f"/api/v1/rules/{rule['id']}", json={"enabled": False})
