"""Form answers in an imported file: initial tags (seed 000 "Tag Management") and engagement in scoring.

A CEO at a SaaS company who subscribed and asked for a demo reaches 90
(20 + 20 + 10 + 40): the hot-lead alert fires and shows on the timeline.
"""
from __future__ import annotations

import uuid

from crm_shared.testing.helpers import poll


def test_form_columns_become_tags_engagement_and_a_hot_lead(api):
    marketing = api.as_role("marketing")
    u = uuid.uuid4().hex[:8]
    email = f"dana.{u}@formco.example"
    csv_text = ("Name,Email,Company,Position,Industry,Utility Type,Biggest Challenge,Subscribed,Schedule Demo\n"
                f"Dana Formfield,{email},FormCo {u},CEO,SaaS,Electric,Grid outages,yes,yes\n")
    upload = marketing.post("/api/v1/imports", files={"file": ("form.csv", csv_text.encode(), "text/csv")})
    assert upload.status_code == 202, upload.text
    import_id = upload.json()["id"]
    mapping = poll(lambda: (b := marketing.get(f"/api/v1/imports/{import_id}").json())["status"] == "review"
                       and b["mapping"], timeout=60, interval=0.5)
    assert mapping["Schedule Demo"] == "schedule_demo" and mapping["Utility Type"] == "utility_type"
    assert marketing.post(f"/api/v1/imports/{import_id}/commit", json={}).status_code == 202
    assert poll(lambda: marketing.get(f"/api/v1/imports/{import_id}").json()["status"] == "completed",
                timeout=60, interval=0.5)

    contact = marketing.get("/api/v1/contacts", params={"import_id": import_id}).json()["items"][0]
    assert {"Electric", "Grid outages", "Subscribed", "Schedule Demo", "CEO"} <= set(contact["tags"])

    def scored():
        body = marketing.get(f"/api/v1/contacts/{contact['id']}/score").json()
        return body if body.get("score", 0) >= 90 else None

    score = poll(scored, timeout=60, interval=0.5)
    assert score, marketing.get(f"/api/v1/contacts/{contact['id']}/score").json()
    keys = {line["key"] for line in score["breakdown"] if line["category"] == "engagement"}
    assert {"demo_scheduled", "subscribed"} <= keys, score["breakdown"]

    def alerted():
        items = marketing.get(f"/api/v1/contacts/{contact['id']}/activity").json()["items"]
        return [a for a in items if a["type"] == "hot_lead_detected"]

    entries = poll(alerted, timeout=60, interval=0.5)
    assert entries and "Hot lead detected" in entries[0]["title"]
