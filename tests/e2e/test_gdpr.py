"""GDPR through the gateway (RELIABILITY G1, G2, I7): erasure everywhere, provable consent, imports that
cannot escalate privileges or revive unsubscribes.

The erasure test gives one contact a trace in every service (import row, note, email, call, follow-up,
engagement events, segment membership, campaign enrollment, consent), erases it, then reads every table of
every service database for the address and the name: only the keyed hash may remain.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import sqlalchemy as sa

from crm_shared.config import SERVICES, database_url
from crm_shared.gdpr import email_key
from crm_shared.smtp_sink import read_messages
from crm_shared.testing.helpers import letters, query, wait_for


# -- helpers ------------------------------------------------------------------------------
def ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def get_ok(client, path: str, **kwargs) -> Any:
    """GET expecting 200; a 503 from a slow service on the shared machine is asked again."""
    for attempt in range(5):
        response = client.get(path, **kwargs)
        if response.status_code != 503 or attempt == 4:
            return ok(response)
        time.sleep(1)
    raise AssertionError("unreachable")


def import_csv(client, text: str, mapping: dict | None = None, unresolved: str = "merge") -> dict:
    """Upload, wait for review, commit, wait for completion; the finished job."""
    form = {"mapping": json.dumps(mapping)} if mapping is not None else {}
    job = ok(client.post("/api/v1/imports", files={"file": ("people.csv", text.encode(), "text/csv")}, data=form),
             202)

    def status(wanted: tuple[str, ...]) -> dict | None:
        body = get_ok(client, f"/api/v1/imports/{job['id']}")
        assert body["status"] != "failed", body
        return body if body["status"] in wanted else None

    wait_for(lambda: status(("review", "uploaded")), 90, "import review")
    ok(client.post(f"/api/v1/imports/{job['id']}/commit", json={"unresolved": unresolved}), 202)
    return wait_for(lambda: status(("completed",)), 90, "import completed")


def imported_contact(client, import_id: str) -> dict:
    items = get_ok(client, "/api/v1/contacts", params={"import_id": import_id})["items"]
    assert len(items) == 1, items
    return items[0]


def rows_mentioning(needles: list[str]) -> dict[str, list[str]]:
    """Every table of every service database with a row whose text (or bytes) contains a needle."""
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        engine = sa.create_engine(database_url(service), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                tables = conn.execute(sa.text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                    "AND table_type = 'BASE TABLE'")).scalars().all()
                binary = conn.execute(sa.text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type = 'bytea'")).all()
                for table in tables:
                    conds = " OR ".join(f"t::text ILIKE :n{i}" for i in range(len(needles)))
                    for b_table, column in binary:
                        if b_table == table:
                            conds += "".join(f" OR position(convert_to(:r{i}, 'UTF8') in t.\"{column}\") > 0"
                                             for i in range(len(needles)))
                    params = {f"n{i}": f"%{n}%" for i, n in enumerate(needles)}
                    params.update({f"r{i}": n for i, n in enumerate(needles)})
                    hits = conn.execute(sa.text(f'SELECT count(*) FROM "{table}" AS t WHERE {conds}'),
                                        params).scalar_one()
                    if hits:
                        found.setdefault(service, []).append(f"{table}: {hits}")
        finally:
            engine.dispose()
    return found





def make_campaign(client) -> dict:
    tag = letters()
    campaign = ok(client.post("/api/v1/campaigns", json={
        "title": f"Erasure drill {tag}", "code": f"GD-{tag[:8]}", "type": "Email Sequence",
        "start_date": "2026-01-15", "end_date": "2027-03-31"}), 201)
    for status in ("New", "Active"):
        ok(client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"status": status}))
    return campaign


# -- G1 erasure ---------------------------------------------------------------------------
def test_erasure_removes_personal_data_everywhere_and_keeps_the_suppression(admin, marketing, sales,
                                                                           crm_system):
    first, last = f"Gdpr{letters()}", f"Erasure{letters()}"
    email = f"{first.lower()}.{last.lower()}@erase.example"
    phone = f"+1646{uuid.uuid4().int % 8_000_000 + 2_000_000}"   # its own number: a shared one would be a duplicate
    job = import_csv(admin, f"First Name,Last Name,Email,Phone,City\n{first},{last},{email},{phone},Oslo\n")
    contact = imported_contact(admin, job["id"])
    cid = contact["id"]

    ok(admin.post(f"/api/v1/contacts/{cid}/notes", json={"text": f"Met {first} {last}, wants {email} used"}),
       201)
    sent = ok(admin.post("/api/v1/emails", json={"contact_ids": [cid], "subject": "Hello {first_name}",
                                                 "body": "Hi {first_name} {last_name}, https://example.com/x"}), 202)
    assert sent["queued"] == 1, sent
    wait_for(lambda: [m for m in read_messages(crm_system.mail_dir) if email in str(m.get("To", "")).lower()],
             what="the email in the sink")
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    ok(admin.post("/api/v1/calls", json={
        "contact_id": cid, "purpose": "Discovery Call", "status": "Completed", "notes": f"{first} asked for pricing",
        "participants": [f"{first} {last}"], "outcome": f"{first} interested",
        "follow_up": {"type": "meeting", "title": f"Demo for {first}", "due_at": due}}), 201)
    ok(admin.post("/api/v1/engagement-events", json={"contact_id": cid, "type": "email_opened",
                                                     "properties": {"note": f"opened by {email}"}}), 201)
    segment = ok(marketing.post("/api/v1/segments", json={"name": f"Erase {letters()}", "kind": "static"}), 201)
    ok(marketing.post(f"/api/v1/segments/{segment['id']}/members", json={"contact_ids": [cid]}))
    campaign = make_campaign(marketing)
    ok(marketing.post(f"/api/v1/campaigns/{campaign['id']}/enroll", json={"contact_ids": [cid]}))
    consent = ok(admin.post(f"/api/v1/contacts/{cid}/consents", json={
        "status": "granted", "source": "web_form", "text_version": "newsletter-v3"}), 201)
    assert consent["occurred_at"] and consent["source"] == "web_form"

    exported = admin.get("/api/v1/contacts/export.csv", params={"q": email})  # audited with its filter
    assert exported.status_code == 200 and email in exported.text
    assert query("contacts", "SELECT count(*) FROM audit_log WHERE action = 'export' AND details::text ILIKE :e",
                 e=f"%{email}%")[0][0] == 1

    # every service holds a copy before the erasure (so the checks below can fail)
    wait_for(lambda: len(rows_mentioning([email])) == len(SERVICES), 60, "a copy of the address in every service")
    wait_for(lambda: get_ok(admin, f"/api/v1/contacts/{cid}/engagement-events")["total"] >= 2, 30,
             "engagement events (email_sent and email_opened)")
    wait_for(lambda: get_ok(admin, f"/api/v1/contacts/{cid}/segments"), 30, "segment membership")

    assert sales.post(f"/api/v1/contacts/{cid}/erase").status_code == 403
    assert marketing.post(f"/api/v1/contacts/{cid}/erase").status_code == 403
    assert get_ok(admin, f"/api/v1/contacts/{cid}")["email"] == email  # a refused erasure changed nothing

    result = ok(admin.post(f"/api/v1/contacts/{cid}/erase"))
    assert result["erased"] is True and result["email_hash"] == email_key(email)
    assert result["audit_entries_pseudonymized"] >= 1
    assert admin.get(f"/api/v1/contacts/{cid}").status_code == 404
    assert admin.post(f"/api/v1/contacts/{cid}/erase").status_code == 404

    needles = [email, first, last]
    left: dict = {}

    def clean() -> bool:
        left.clear()
        left.update(rows_mentioning(needles))
        return not left

    try:
        wait_for(clean, 45, "erasure in every service")
    except AssertionError as exc:
        outbox = {service: query(service, "SELECT event_type, published_at IS NOT NULL FROM outbox "
                                          "WHERE envelope::text ILIKE :e", e=f"%{email}%") for service in left}
        raise AssertionError(f"personal data left after erasure: {left}; outbox rows: {outbox}") from exc
    key = email_key(email)
    assert query("messaging", "SELECT reason FROM suppressions WHERE email = :k", k=key) == [("erased",)]
    assert query("messaging", "SELECT count(*) FROM consents WHERE email = :k", k=key)[0][0] == 1
    assert query("segments", "SELECT count(*) FROM segment_members WHERE contact_id = :c", c=cid)[0][0] == 0
    assert query("scoring", "SELECT count(*) FROM engagement_events WHERE contact_id = :c", c=cid)[0][0] == 0
    assert query("messaging", "SELECT count(*) FROM enrollments WHERE contact_id = :c AND status = 'active'",
                 c=cid)[0][0] == 0

    # audit entries stay, pseudonymized, and the chain still verifies
    audit = get_ok(admin, "/api/v1/audit", params={"entity_id": cid, "per_page": 200})
    assert audit["total"] >= 2 and "erase" in {e["action"] for e in audit["items"]}
    assert any(e["details"].get("pseudonymized") for e in audit["items"])
    assert not any(n.lower() in str(audit["items"]).lower() for n in needles)
    assert get_ok(admin, "/api/v1/audit/verify")["valid"] is True
    export_entries = get_ok(admin, "/api/v1/audit", params={"action": "export", "actor_id": admin.user["id"],
                                                            "per_page": 200})["items"]
    assert any(e["details"].get("pseudonymized") for e in export_entries)  # quoted the address: kept, blanked

    # the same address imported again: created, but suppressed, and a send is refused
    job = import_csv(admin, f"Name,Email\n{first} {last},{email.upper()}\n")
    again = imported_contact(admin, job["id"])
    assert again["id"] != cid
    wait_for(lambda: get_ok(admin, f"/api/v1/contacts/{again['id']}")["unsubscribed"], 30,
             "the re-imported contact suppressed")
    refused = ok(admin.post("/api/v1/emails", json={"contact_ids": [again["id"]], "subject": "Back?",
                                                    "body": "Hello again"}), 202)
    assert refused["results"] == [{"contact_id": again["id"], "status": "refused", "reason": "unsubscribed"}]


def test_erasure_needs_an_admin_and_an_existing_contact(admin, sales, api):
    assert admin.post(f"/api/v1/contacts/{uuid.uuid4()}/erase").status_code == 404
    executive = api.as_role("executive")
    assert executive.post(f"/api/v1/contacts/{uuid.uuid4()}/erase").status_code == 403
    assert requests.post(f"{admin.base_url}/api/v1/contacts/{uuid.uuid4()}/erase", timeout=10).status_code == 401


# -- G2 consent ---------------------------------------------------------------------------
def test_consent_is_provable_and_withdrawal_is_one_click(admin, marketing, crm_system):
    first = f"Consent{letters()}"
    email = f"{first.lower()}@consent.example"
    contact = ok(admin.post("/api/v1/contacts", json={"first_name": first, "last_name": "Proof", "email": email}),
                 201)
    bad = admin.post(f"/api/v1/contacts/{contact['id']}/consents", json={"status": "granted", "source": "web_form"})
    assert bad.status_code == 422 and "text_version" in bad.json()["error"]["details"]["fields"]
    ok(admin.post(f"/api/v1/contacts/{contact['id']}/consents", json={
        "status": "granted", "source": "double_opt_in", "text_version": "newsletter-v7"}), 201)
    ok(marketing.post("/api/v1/emails", json={"contact_ids": [contact["id"]], "subject": "News",
                                               "body": "Hello {first_name}"}), 202)
    message = wait_for(lambda: [m for m in read_messages(crm_system.mail_dir)
                                if email in str(m.get("To", "")).lower()], what="newsletter in the sink")[0]
    assert "One-Click" in str(message.get("List-Unsubscribe-Post"))
    link = str(message["List-Unsubscribe"]).strip("<>")
    token = link.rsplit("/u/", 1)[1]
    assert requests.post(f"{admin.base_url}/u/{token}", data={"List-Unsubscribe": "One-Click"},
                         timeout=10).status_code == 200
    consents = get_ok(admin, f"/api/v1/contacts/{contact['id']}/consents")["items"]
    assert [c["status"] for c in consents] == ["withdrawn", "granted"]
    for record in consents:
        assert record["occurred_at"] and record["source"] and record["text_version"]
    assert consents[1]["text_version"] == "newsletter-v7" and consents[1]["source"] == "double_opt_in"
    wait_for(lambda: get_ok(admin, f"/api/v1/contacts/{contact['id']}")["unsubscribed"], 30, "unsubscribed flag")


# -- I7 imports cannot escalate or revive ------------------------------------------------------
def test_import_cannot_set_owner_audit_or_subscription_fields(sales, admin):
    tag = letters()
    text = f"Name,Email\nOwner {tag},owner.{tag}@import.example\n"
    for field in ("owner_id", "created_by", "unsubscribed", "score", "created_at"):
        response = sales.post("/api/v1/imports", files={"file": ("x.csv", text.encode(), "text/csv")},
                              data={"mapping": f'{{"Name": "name", "Email": "{field}"}}'})
        assert response.status_code == 422, response.text
        assert "mapping" in response.json()["error"]["details"]["fields"], response.text
    admin_id = admin.user["id"]
    job = import_csv(sales, "Name,Email,Owner ID,Created By,Unsubscribed,Score\n"
                            f"Owner {tag},owner.{tag}@import.example,{admin_id},{admin_id},no,99\n")
    contact = imported_contact(sales, job["id"])
    assert contact["owner_id"] == sales.user["id"] and contact["score"] < 99
    assert contact["created_by"] != admin_id


def test_import_does_not_resubscribe_a_suppressed_contact(admin, marketing):
    tag = letters()
    email = f"stay.away.{tag}@import.example"
    contact = ok(admin.post("/api/v1/contacts", json={"first_name": "Stay", "last_name": f"Away{tag}",
                                                      "email": email}), 201)
    ok(admin.post(f"/api/v1/contacts/{contact['id']}/unsubscribe", json={"source": "phone"}))
    wait_for(lambda: get_ok(admin, f"/api/v1/contacts/{contact['id']}")["unsubscribed"], 30, "unsubscribed")
    import_csv(marketing, f"Name,Email,Subscribed,Unsubscribed\nStay Away{tag},{email},yes,no\n")
    after = get_ok(admin, f"/api/v1/contacts/{contact['id']}")
    assert after["unsubscribed"] is True
    refused = ok(marketing.post("/api/v1/emails", json={"contact_ids": [contact["id"]], "subject": "Hi",
                                                        "body": "Hi"}), 202)
    assert refused["results"][0]["reason"] == "unsubscribed"
