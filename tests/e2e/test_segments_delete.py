"""Deleting a segment through the gateway: every member leaves, and everyone downstream sees it.

The segments service publishes one ``segment_membership_changed`` ``left`` event
per member (automatic and manual, ``reason: segment_deleted``) in the delete's
transaction; the contacts service's timeline records each, and the contact's
segments and the contact list's ``segment_id`` filter no longer show the segment.
"""
from __future__ import annotations

import uuid

from crm_shared.testing.helpers import wait_for

BASE = "/api/v1"


def uniq() -> str:
    return "t" + uuid.uuid4().hex[:12]


def new_contact(client, tag: str) -> dict:
    body = {"first_name": "Del", "last_name": "Seg", "email": f"{uuid.uuid4().hex[:10]}@example.com", "tags": [tag]}
    response = client.post(f"{BASE}/contacts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def segment_ids(client, contact_id: str) -> set[str]:
    response = client.get(f"{BASE}/contacts/{contact_id}/segments")
    assert response.status_code == 200, response.text
    return {m["segment_id"] for m in response.json()["items"]}


def segment_activity(client, contact_id: str, segment_id: str) -> list[dict]:
    response = client.get(f"{BASE}/contacts/{contact_id}/activity", params={"per_page": 100})
    assert response.status_code == 200, response.text
    return [a for a in response.json()["items"]
            if a["type"].startswith("segment_") and (a.get("details") or {}).get("segment_id") == segment_id]


def test_deleting_a_segment_makes_every_member_leave(marketing):
    tag = uniq()
    name = f"Doomed {uniq()}"
    response = marketing.post(f"{BASE}/segments", json={
        "name": name, "criteria": {"all": [{"field": "tags", "op": "contains", "value": tag}]}})
    assert response.status_code == 201, response.text
    segment = response.json()
    automatic = new_contact(marketing, tag)           # joins by the criteria
    manual = new_contact(marketing, uniq())            # added by hand; does not qualify
    wait_for(lambda: segment["id"] in segment_ids(marketing, automatic["id"]), what="automatic join")
    added = marketing.post(f"{BASE}/segments/{segment['id']}/members", json={"contact_ids": [manual["id"]]})
    assert added.status_code == 200, added.text
    members = {automatic["id"], manual["id"]}
    listed = marketing.get(f"{BASE}/contacts", params={"segment_id": segment["id"], "per_page": 50})
    assert {c["id"] for c in listed.json()["items"]} == members
    for cid in members:  # the joins are on the timeline before the delete
        wait_for(lambda cid=cid: [a for a in segment_activity(marketing, cid, segment["id"])
                                  if a["type"] == "segment_joined"], what=f"joined on {cid}'s timeline")

    deleted = marketing.delete(f"{BASE}/segments/{segment['id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted"] is True and deleted.json()["left"] == 2

    for cid in members:
        left = wait_for(lambda cid=cid: [a for a in segment_activity(marketing, cid, segment["id"])
                                         if a["type"] == "segment_left"], what=f"left on {cid}'s timeline")
        assert len(left) == 1 and left[0]["details"]["segment_name"] == name
        assert name in left[0]["title"]
        assert segment["id"] not in segment_ids(marketing, cid)
    assert {m["manual"] for cid in members
            for m in [a["details"] for a in segment_activity(marketing, cid, segment["id"])
                      if a["type"] == "segment_left"]} == {True, False}

    listed = marketing.get(f"{BASE}/contacts", params={"segment_id": segment["id"], "per_page": 50})
    assert listed.status_code == 404 or not members & {c["id"] for c in listed.json()["items"]}, listed.text

    again = marketing.delete(f"{BASE}/segments/{segment['id']}")
    assert again.status_code == 404, again.text
    assert marketing.get(f"{BASE}/segments/{segment['id']}").status_code == 404
