"""A bulk send and its opens travel as batch events (issue 7): one ``emails_sent`` per send batch and one
``emails_opened`` per batch of pixel loads instead of an event per email, and every service that used
the single events still does its part: the timeline and last contact date (contacts), the engagement
events and the score (scoring, which answers with ``engagements_recorded``), the segments."""
from __future__ import annotations

from crm_shared.smtp_sink import read_messages
from crm_shared.testing.helpers import letters, uid, wait_for
from tests.e2e.test_messaging import outbox_events


def outbox_batches(event_type: str, contact_ids: set[str]) -> list[list[str]]:
    """The contacts of each batch event of that type in the messaging outbox that names any of them."""
    batches = [[item["contact_id"] for item in data["emails"]] for data in outbox_events(event_type)]
    return [b for b in batches if contact_ids & set(b)]


def single_events(event_type: str, contact_ids: set[str]) -> list[dict]:
    return [data for data in outbox_events(event_type) if data.get("contact_id") in contact_ids]


def timeline(client, contact_id: str, type_: str) -> list[dict]:
    return client.get(f"/api/v1/contacts/{contact_id}/activity", params={"type": type_, "per_page": 200}
                      ).json()["items"]


def engagement_types(client, contact_id: str) -> set[tuple[str, str]]:
    items = client.get(f"/api/v1/contacts/{contact_id}/engagement-events").json()["items"]
    return {(i["type"], i["source"]) for i in items}


def test_a_bulk_send_and_its_opens_reach_every_service_as_batch_events(crm_system, api, admin, marketing):
    tag, company = f"batch{letters()}", f"Batchco {uid()}"
    contacts = []
    for _ in range(4):
        response = admin.post("/api/v1/contacts", json={
            "first_name": "Bea", "last_name": f"Batch{letters()}", "email": f"bea.{uid()}@batch.example",
            "company": company, "tags": [tag]})
        assert response.status_code == 201, response.text
        contacts.append(response.json())
    ids = {c["id"] for c in contacts}
    segment = marketing.post("/api/v1/segments", json={"name": f"Opened {tag}", "criteria": {"all": [
        {"field": "tags", "op": "contains", "value": tag},
        {"field": "last_email_opened_at", "op": "within_days", "value": 7}]}})
    assert segment.status_code == 201, segment.text
    segment_id = segment.json()["id"]
    before = {cid: marketing.get(f"/api/v1/contacts/{cid}/score").json()["score"] for cid in ids}

    sent = marketing.post("/api/v1/emails", json={"filter": {"company": company}, "subject": "News {first_name}",
                                                  "body": "Hello {first_name}, https://example.com/news"})
    assert sent.status_code == 202, sent.text
    assert sent.json()["queued"] == 4

    # one emails_sent names all four (one send batch), and no email_sent was published for them
    batches = wait_for(lambda: (lambda b: b if b and ids <= set().union(*map(set, b)) else None)(
        outbox_batches("emails_sent", ids)), 30, "emails_sent naming every recipient")
    assert len(batches) == 1 and sorted(batches[0]) == sorted(ids)
    assert single_events("email_sent", ids) == []

    # contacts: an "Email sent" entry on each timeline, and the last contact date
    for contact in contacts:
        entries = wait_for(lambda c=contact: timeline(admin, c["id"], "email_sent"), 30,
                           f"the email on {contact['id']}'s timeline")
        assert [e["title"] for e in entries] == ["Email sent: News Bea"]
        assert admin.get(f"/api/v1/contacts/{contact['id']}").json()["last_contact_at"] is not None
        # scoring: the send is an engagement event from messaging
        wait_for(lambda c=contact: ("email_sent", "messaging") in engagement_types(marketing, c["id"]), 30,
                 "email_sent recorded by scoring")

    # two recipients open it: the pixel goes through the gateway's buffer as one batch of opens
    opened = contacts[:2]
    messages = {c["id"]: wait_for(lambda c=c: next((m for m in read_messages(crm_system.mail_dir)
                                                    if c["email"] in str(m.get("To", "")).lower()), None),
                                  30, "the message in the sink") for c in opened}
    for message in messages.values():
        token = str(message["List-Unsubscribe"]).strip("<>").rsplit("/u/", 1)[1]
        assert api.get(f"/t/o/{token}.gif").status_code == 200
        assert api.get(f"/t/o/{token}.gif").status_code == 200   # a second load only counts
    opened_ids = {c["id"] for c in opened}
    wait_for(lambda: opened_ids <= set().union(*map(set, outbox_batches("emails_opened", opened_ids) or [[]])),
             30, "emails_opened naming both openers")
    assert sorted(sum(outbox_batches("emails_opened", ids), [])) == sorted(opened_ids)   # each first open once
    assert single_events("email_opened", ids) == []

    for cid in opened_ids:
        assert [e["title"] for e in wait_for(lambda cid=cid: timeline(admin, cid, "email_opened"), 30,
                                             "the open on the timeline")] == ["Email opened: News Bea"]
        wait_for(lambda cid=cid: ("email_opened", "messaging") in engagement_types(marketing, cid), 30,
                 "email_opened recorded by scoring")
        wait_for(lambda cid=cid: marketing.get(f"/api/v1/contacts/{cid}/score").json()["score"] == before[cid] + 5,
                 30, "the open's 5 points in the score")
    def members() -> set[str]:
        body = marketing.get(f"/api/v1/segments/{segment_id}/members", params={"per_page": 100}).json()
        return {m["contact_id"] for m in body["items"]}

    wait_for(lambda: members() == opened_ids, 45, "the openers (and only they) in the 'opened' segment")
    for cid in opened_ids:
        assert segment_id in {m["segment_id"] for m in marketing.get(f"/api/v1/contacts/{cid}/segments").json()[
            "items"]}
    for cid in ids - opened_ids:
        assert timeline(admin, cid, "email_opened") == []
