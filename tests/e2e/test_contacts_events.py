"""Contacts and the bus: events of other services on the timeline, own events in the outbox, import RPCs."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from kombu import Connection, Producer

from crm_shared.auth import system_token
from crm_shared.config import amqp_uri, database_url
from crm_shared.reliability import event_exchange, make_envelope
from crm_shared.testing.helpers import new_contact, poll


def publish(source: str, event_type: str, data: dict, event_id: str | None = None) -> dict:
    envelope = make_envelope(source, event_type, data, event_id=event_id)
    with Connection(amqp_uri()) as conn:
        Producer(conn.channel(), serializer="json").publish(envelope, exchange=event_exchange(source),
                                                           routing_key=event_type, declare=[event_exchange(source)])
    return envelope


def activity_types(client, contact_id: str) -> list[str]:
    return [a["type"] for a in client.get(f"/api/v1/contacts/{contact_id}/activity",
                                          params={"per_page": 200}).json()["items"]]


def test_other_services_events_land_on_the_timeline(admin):
    contact = new_contact(admin)
    cid = contact["id"]
    sent = publish("messaging", "email_sent", {"contact_id": cid, "email_id": "e1", "subject": "Product demo"})
    publish("messaging", "email_sent", {"contact_id": cid, "email_id": "e1", "subject": "Product demo"},
            event_id=sent["event_id"])  # a redelivery adds nothing
    publish("messaging", "call_logged", {"contact_id": cid, "call_id": "c1", "purpose": "Discovery Call",
                                         "status": "Completed", "duration_s": 300})
    publish("messaging", "campaign_enrolled", {"contact_id": cid, "campaign_id": "k1",
                                               "campaign_name": "Q1 Product Launch"})
    publish("segments", "segment_membership_changed", {"segment_id": "s1", "segment_name": "High Value Prospects",
                                                       "contact_id": cid, "change": "joined"})
    publish("scoring", "score_changed", {"contact_id": cid, "score": 92, "previous_score": 0, "fit": 40,
                                         "engagement": 52, "engagement_level": 52.0})
    expected = {"email_sent", "call_logged", "campaign_enrolled", "segment_joined", "score_changed"}
    assert poll(lambda: expected <= set(activity_types(admin, cid)))
    assert activity_types(admin, cid).count("email_sent") == 1
    fresh = admin.get(f"/api/v1/contacts/{cid}").json()
    assert fresh["last_contact_at"] is not None
    score_entry = admin.get(f"/api/v1/contacts/{cid}/activity", params={"type": "score"}).json()["items"]
    assert any(e["details"]["score"] == 92 for e in score_entry)
    emails = admin.get(f"/api/v1/contacts/{cid}/activity", params={"type": "email"}).json()["items"]
    assert emails[0]["title"] == "Email sent: Product demo"


def test_unsubscribe_event_sets_the_flag(admin):
    contact = new_contact(admin)
    publish("messaging", "unsubscribed", {"contact_id": None, "email": contact["email"], "source": "link"})
    assert poll(lambda: admin.get(f"/api/v1/contacts/{contact['id']}").json()["unsubscribed"])
    assert "unsubscribed" in activity_types(admin, contact["id"])


def test_form_data_import_gives_initial_tags(admin):
    contact = new_contact(admin, position="Plant Manager")
    publish("imports", "form_data_imported", {"contact_id": contact["id"], "import_id": str(uuid.uuid4()),
                                              "fields": {"Utility Type": "Natural Gas", "Biggest Challenge":
                                                         "High energy costs", "Subscribed": "Yes",
                                                         "Schedule Demo": "no"}})
    tags = poll(lambda: {"Natural Gas", "High energy costs", "Subscribed", "Plant Manager"}
                    <= set(admin.get(f"/api/v1/contacts/{contact['id']}").json()["tags"]))
    assert tags
    assert "Schedule Demo" not in admin.get(f"/api/v1/contacts/{contact['id']}").json()["tags"]


def test_own_events_carry_the_full_snapshot(admin, crm_env):
    contact = new_contact(admin)
    admin.patch(f"/api/v1/contacts/{contact['id']}", json={"stage": "Qualified"})
    engine = sa.create_engine(database_url("contacts"), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_type, envelope FROM outbox WHERE envelope->'data'->>'contact_id'"
                                        " = :id ORDER BY id"), {"id": contact["id"]}).all()
    finally:
        engine.dispose()
    types = [r.event_type for r in rows]
    assert types[0] == "contact_created" and "contact_updated" in types and "stage_changed" in types
    updated = next(r.envelope for r in rows if r.event_type == "contact_updated")
    assert updated["data"]["contact"]["stage"] == "Qualified" and updated["data"]["changed"] == ["stage"]
    assert set(updated) >= {"event_id", "event_type", "schema_version", "occurred_at", "source", "data"}


def test_import_batch_is_idempotent_and_undo_restores(admin, rpc_client, crm_system):
    context = {"auth_token": system_token("imports")}
    existing = new_contact(admin, position="CEO")
    import_id = str(uuid.uuid4())
    email = f"imp.{uuid.uuid4().hex[:8]}@example.com"
    rows = [
        {"row": 1, "action": "create", "contact_id": None, "fields": {"first_name": "Iris", "last_name": "Import",
                                                                      "email": email, "phone": "+1 555 222 3333"}},
        {"row": 2, "action": "merge", "contact_id": existing["id"],
         "fields": {"first_name": existing["first_name"], "last_name": existing["last_name"],
                    "email": existing["email"],
                    "department": "Ops", "position": "Chief Executive"}},
        {"row": 3, "action": "create", "fields": {"first_name": "Bad", "last_name": "Row", "email": "nope"}},
    ]
    first = rpc_client.call("contacts", "import_batch", import_id, rows, context=context)
    assert [r["outcome"] for r in first] == ["created", "merged", "failed"]
    assert first[1]["changes"]["department"] == {"before": None, "after": "Ops"}
    assert first[1]["conflicts"]["position"] == {"existing": "CEO", "incoming": "Chief Executive"}
    assert "email" in first[2]["error"]
    again = rpc_client.call("contacts", "import_batch", import_id, rows, context=context)
    assert again == first
    listed = admin.get("/api/v1/contacts", params={"import_id": import_id}).json()
    assert [c["email"] for c in listed["items"]] == [email]
    assert listed["items"][0]["source"] == "import"
    undone = rpc_client.call("contacts", "undo_import", import_id, context=context)
    assert undone["removed"] == [first[0]["contact_id"]] and undone["restored"] == [existing["id"]]
    assert admin.get(f"/api/v1/contacts/{first[0]['contact_id']}").status_code == 404
    assert admin.get(f"/api/v1/contacts/{existing['id']}").json()["department"] is None


def test_undo_keeps_contacts_changed_since(admin, rpc_client, crm_system):
    context = {"auth_token": system_token("imports")}
    import_id = str(uuid.uuid4())
    rows = [{"row": 1, "action": "create", "fields": {"first_name": "Kept", "last_name": "Contact",
                                                      "email": f"kept.{uuid.uuid4().hex[:8]}@example.com"}}]
    created = rpc_client.call("contacts", "import_batch", import_id, rows, context=context)[0]
    admin.patch(f"/api/v1/contacts/{created['contact_id']}", json={"position": "Edited"})
    undone = rpc_client.call("contacts", "undo_import", import_id, context=context)
    assert undone["removed"] == [] and undone["kept"][0]["contact_id"] == created["contact_id"]


def test_match_candidates_and_iteration(admin, rpc_client, crm_system):
    token = {"auth_token": admin.token}
    contact = new_contact(admin, first_name="Émile", last_name="Zola", phone="+33 1 42 68 53 00",
                          company=f"Rougon {uuid.uuid4().hex[:6]}")
    by_email = rpc_client.call("contacts", "match_candidates", {"emails": [contact["email"].upper()]}, context=token)
    by_phone = rpc_client.call("contacts", "match_candidates", {"phones": ["+33142685300"]}, context=token)
    by_name = rpc_client.call("contacts", "match_candidates", {"name_keys": ["emile zola"]}, context=token)
    by_company = rpc_client.call("contacts", "match_candidates", {"company_keys": [contact["company"].lower()]},
                                 context=token)
    for found in (by_email, by_phone, by_name, by_company):
        assert contact["id"] in {c["id"] for c in found}
    slim = rpc_client.call("contacts", "match_candidates", {"emails": [contact["email"]]}, "match", context=token)
    assert slim == [{k: by_email[0][k] for k in slim[0]}] and "score" not in slim[0]
    assert {"first_name", "email", "phones", "company", "address", "updated_at"} <= set(slim[0])
    seen, after = set(), None
    while True:
        page = rpc_client.call("contacts", "iter_contacts", after, 50, context=token)
        seen |= {c["id"] for c in page["items"]}
        after = page["next_after_id"]
        if after is None:
            break
    assert contact["id"] in seen
    ids = rpc_client.call("contacts", "resolve_filter_ids", {"q": "zola"}, context=token)
    assert contact["id"] in ids


def test_audit_chain_verifies(admin):
    new_contact(admin)
    result = admin.get("/api/v1/audit/verify").json()
    assert result["valid"] is True and result["records"] > 0


def test_demo_contacts_load_idempotently(admin, crm_system):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for _ in range(2):  # a second run upserts the same people
        subprocess.run([sys.executable, "-m", "deploy.demo", "--only", "contacts"], cwd=root, env=os.environ,
                       check=True, timeout=300)
    found = admin.get("/api/v1/contacts", params={"q": "d.thompson@futuretech.net"}).json()["items"]
    assert len(found) == 1
    david = found[0]
    assert (david["position"], david["company"], david["stage"], david["phone"]) == (
        "CEO", "FutureTech Industries", "Hot Lead", "+15553210987")
    for email in ("emily.r@growthco.com", "m.chen@innovatetech.io", "sarah.johnson@techcorp.com"):
        assert admin.get("/api/v1/contacts", params={"q": email}).json()["total"] == 1
    assert admin.get("/api/v1/contacts", params={"q": "@", "per_page": 1}).json()["total"] >= 300
    assert admin.get("/api/v1/contacts", params={"inactive": "true", "per_page": 1}).json()["total"] > 0
    sarah = admin.get("/api/v1/contacts", params={"q": "sarah.johnson@techcorp.com"}).json()["items"][0]
    assert admin.get(f"/api/v1/contacts/{sarah['id']}/notes").json()["total"] == 2
