"""The contact timeline says why a segment membership changed when the segment itself changed (issue 3).

A member leaving because the segment was deleted gets a timeline entry whose
title and details carry the reason segments published (``segment_deleted``);
a join caused by the contact's own data carries none.
"""
from __future__ import annotations

from crm_shared.testing.helpers import new_contact, uid, wait_for

BASE = "/api/v1"


def _segment_entries(client, contact_id: str, segment_id: str) -> list[dict]:
    response = client.get(f"{BASE}/contacts/{contact_id}/activity", params={"type": "segment", "per_page": 100})
    assert response.status_code == 200, response.text
    return [a for a in response.json()["items"] if (a.get("details") or {}).get("segment_id") == segment_id]


def test_a_leave_because_the_segment_was_deleted_says_so_on_the_timeline(marketing):
    tag = "reason" + uid()
    name = f"Short-lived {uid()}"
    created = marketing.post(f"{BASE}/segments", json={
        "name": name, "criteria": {"all": [{"field": "tags", "op": "contains", "value": tag}]}})
    assert created.status_code == 201, created.text
    segment = created.json()
    contact = new_contact(marketing, tags=[tag])
    joined = wait_for(lambda: [a for a in _segment_entries(marketing, contact["id"], segment["id"])
                               if a["type"] == "segment_joined"], what="the join on the timeline")
    assert joined[0]["title"] == f"Added to segment: {name}" and joined[0]["details"]["reason"] is None

    assert marketing.delete(f"{BASE}/segments/{segment['id']}").status_code == 200
    left = wait_for(lambda: [a for a in _segment_entries(marketing, contact["id"], segment["id"])
                             if a["type"] == "segment_left"], what="the leave on the timeline")
    assert len(left) == 1
    assert left[0]["details"]["reason"] == "segment_deleted"
    assert left[0]["title"] == f"Removed from segment: {name} (the segment was deleted)"
