"""Contacts through the gateway: validation, roles, list/search/filters, KPIs, notes, activity, bulk, export, merge."""
from __future__ import annotations

import csv
import io
import time
import uuid

import pytest

from crm_shared.testing.helpers import new_contact, poll, uid


def settled_scores(client, ids: list[str]) -> dict[str, int]:
    """Scores once the scoring service has had its say (two equal reads half a second apart)."""
    read = lambda: {i: client.get(f"/api/v1/contacts/{i}").json()["score"] for i in ids}  # noqa: E731
    previous = read()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        current = read()
        if current == previous:
            return current
        previous = current
    return previous







# -- create and validation -------------------------------------------------
def test_create_contact_with_every_field(marketing, sales):
    tag = uid()
    body = {
        "first_name": "David", "last_name": "Thompson", "email": f"D.Thompson.{tag}@FutureTech.net",
        "emails": [f"david.{tag}@gmail.com"], "phone": "+1 (555) 321-0987", "phones": ["+44 20 7946 0958"],
        "company": f"FutureTech {tag}", "position": "CEO", "department": "Executive", "industry": "Energy",
        "company_size": 1200, "annual_revenue": 50000000, "owner_id": sales.user["id"], "stage": "hot lead",
        "type": "prospect", "channel": "Webinar",
        "address": {"street": "1 Main St", "city": "Austin", "state": "TX", "zip": "73301", "country": "US"},
        "tags": ["Enterprise"],
        "social": {"linkedin": "https://linkedin.com/in/dthompson", "twitter": "twitter.com/dt"},
        "notes": "Met at the expo", "custom_fields": {"utility_type": "Electric", "schedule_demo": "yes"},
    }
    response = marketing.post("/api/v1/contacts", json=body)
    assert response.status_code == 201, response.text
    contact = response.json()
    assert contact["email"] == f"d.thompson.{tag}@futuretech.net"
    assert contact["phone"] == "+15553210987" and contact["phones"] == ["+442079460958"]
    assert contact["stage"] == "Hot Lead" and contact["type"] == "Prospect"
    assert contact["owner_id"] == sales.user["id"] and contact["owner_name"] == "Sam Sales"
    assert contact["score"] == 0 and contact["inactive"] is False
    assert contact["social"]["twitter"] == "https://twitter.com/dt"
    assert contact["created_by"] == marketing.user["id"]
    # initial tags from form data (seed 000 "Tag Management")
    assert {"Enterprise", "Electric", "CEO", "Schedule Demo"} <= set(contact["tags"])
    again = marketing.get(f"/api/v1/contacts/{contact['id']}").json()
    assert again["company"] == f"FutureTech {tag}" and again["address"]["city"] == "Austin"


def test_validation_names_every_bad_field(admin):
    response = admin.post("/api/v1/contacts", json={
        "first_name": "", "last_name": "X", "email": "not-an-email", "phone": "555 123 4567",
        "social": {"linkedin": "not a url"}, "tags": [f"t{i}" for i in range(25)], "stage": "Dreaming",
        "notes": "x" * 2001})
    assert response.status_code == 422
    fields = response.json()["error"]["details"]["fields"]
    assert {"first_name", "last_name", "email", "phone", "social", "tags", "stage", "notes"} <= set(fields)
    assert "country code" in fields["phone"][0]


def test_unknown_and_server_owned_fields_are_400(admin):
    for extra in ({"score": 99}, {"created_at": "2020-01-01T00:00:00Z"}, {"created_by": "x"}, {"favourite": 1}):
        body = {"first_name": "Ann", "last_name": "Lee", "email": f"a.{uid()}@example.com", **extra}
        response = admin.post("/api/v1/contacts", json=body)
        assert response.status_code == 400, (extra, response.text)
        assert set(extra) <= set(response.json()["error"]["details"]["fields"])


def test_duplicate_email_is_409_pointing_to_existing(admin, marketing):
    first = new_contact(admin)
    response = marketing.post("/api/v1/contacts", json={"first_name": "Other", "last_name": "Person",
                                                          "email": first["email"].upper()})
    assert response.status_code == 409
    assert response.json()["error"]["details"]["existing_id"] == first["id"]
    other = new_contact(admin)
    clash = admin.patch(f"/api/v1/contacts/{other['id']}", json={"email": first["email"]})
    assert clash.status_code == 409 and clash.json()["error"]["details"]["existing_id"] == first["id"]


# -- roles ------------------------------------------------------------------
def test_role_rules(admin, sales, sales2, executive, marketing):
    own = new_contact(sales)
    assert own["owner_id"] == sales.user["id"]
    assert sales.patch(f"/api/v1/contacts/{own['id']}", json={"position": "CTO"}).status_code == 200
    denied = sales2.patch(f"/api/v1/contacts/{own['id']}", json={"position": "Intern"})
    assert denied.status_code == 403
    assert sales2.delete(f"/api/v1/contacts/{own['id']}").status_code == 403
    assert sales2.get(f"/api/v1/contacts/{own['id']}").json()["position"] == "CTO"  # read all
    assert executive.get(f"/api/v1/contacts/{own['id']}").status_code == 200
    assert executive.post("/api/v1/contacts", json={"first_name": "Ex", "last_name": "Ec",
                                                    "email": f"e.{uid()}@example.com"}).status_code == 403
    assert executive.patch(f"/api/v1/contacts/{own['id']}", json={"position": "X"}).status_code == 403
    # sales cannot give a new contact to someone else; marketing can assign, only admins transfer later
    assert sales.post("/api/v1/contacts", json={"first_name": "Bo", "last_name": "Bo", "email": f"b.{uid()}@ex.com",
                                                "owner_id": sales2.user["id"]}).status_code == 403
    assert marketing.patch(f"/api/v1/contacts/{own['id']}", json={"owner_id": sales2.user["id"]}).status_code == 403
    assert marketing.patch(f"/api/v1/contacts/{own['id']}", json={"position": "VP"}).status_code == 200
    moved = admin.patch(f"/api/v1/contacts/{own['id']}", json={"owner_id": sales2.user["id"]})
    assert moved.status_code == 200 and moved.json()["owner_id"] == sales2.user["id"]
    # the denial is in the audit log (RELIABILITY A1), which only admins read
    audit = admin.get("/api/v1/audit", params={"entity_id": own["id"], "action": "denied"}).json()
    assert any(e["actor_id"] == sales2.user["id"] for e in audit["items"])
    assert sales.get("/api/v1/audit").status_code == 403


def test_services_check_ownership_on_direct_rpc(rpc_client, sales, sales2, crm_system):
    from crm_shared.errors import Forbidden

    own = new_contact(sales)
    with pytest.raises(Forbidden):
        rpc_client.call("contacts", "update_contact", own["id"], {"position": "Hacked"},
                        context={"auth_token": sales2.token})


def test_delete_contact(admin):
    contact = new_contact(admin)
    assert admin.delete(f"/api/v1/contacts/{contact['id']}").status_code == 204
    assert admin.get(f"/api/v1/contacts/{contact['id']}").status_code == 404


# -- list, search, filters ------------------------------------------------
def test_search_filters_sort_and_paging(admin, sales):
    tag = uid()
    company = f"Zentrix{tag}"
    a = new_contact(admin, first_name="Thaddeus", last_name="Wolfenden", company=company, position="Chief Analyst",
                    stage="Qualified", channel="Webinar", type="Partner", tags=[f"grp{tag}", "Solar"])
    b = new_contact(sales, first_name="Marina", last_name="Kowalczyk", company=company, position="Engineer",
                    stage="Nurturing", channel="Referral", tags=[f"grp{tag}"])
    # name, company, position, tag; typo-tolerant
    for q, expected in ((f"zentrix{tag}", {a["id"], b["id"]}), ("Wolfendne", {a["id"]}),
                        ("kowalczik", {b["id"]}), ("Chief Analyst", {a["id"]})):
        items = admin.get("/api/v1/contacts", params={"q": q, "per_page": 200}).json()["items"]
        assert expected <= {c["id"] for c in items}, q
    base = {"tag": f"grp{tag}"}
    ids = lambda **p: {c["id"] for c in admin.get("/api/v1/contacts", params={**base, **p}).json()["items"]}  # noqa: E731
    assert ids() == {a["id"], b["id"]}
    assert ids(stage="Qualified") == {a["id"]}
    assert ids(stage="Qualified,Nurturing") == {a["id"], b["id"]}
    assert ids(company=company.upper()) == {a["id"], b["id"]}
    assert ids(channel="referral") == {b["id"]}
    assert ids(type="Partner") == {a["id"]}
    assert ids(owner_id=sales.user["id"]) == {b["id"]}
    scores = settled_scores(admin, [a["id"], b["id"]])
    assert ids(score_min=0, score_max=100) == {a["id"], b["id"]}
    assert a["id"] in ids(score_min=scores[a["id"]], score_max=scores[a["id"]])
    if scores[b["id"]] != scores[a["id"]]:
        assert b["id"] not in ids(score_min=scores[a["id"]], score_max=scores[a["id"]])
    assert ids(created_from="2000-01-01", created_to="2999-01-01") == {a["id"], b["id"]}
    assert ids(created_to="2000-01-01") == set()
    assert ids(inactive_days=30) == set()
    listed = admin.get("/api/v1/contacts", params={**base, "sort": "name"}).json()
    assert [c["last_name"] for c in listed["items"]] == ["Kowalczyk", "Wolfenden"]
    assert listed["total"] == 2 and listed["per_page"] == 50 and listed["page"] == 1
    assert admin.get("/api/v1/contacts").json()["per_page"] == 50
    bad = admin.get("/api/v1/contacts", params={"sort": "password"})
    assert bad.status_code == 422 and "sort" in bad.json()["error"]["details"]["fields"]
    assert admin.get("/api/v1/contacts", params={"score_min": 101}).status_code == 422


def test_companies_autocomplete(admin):
    tag = uid()
    new_contact(admin, company=f"Quantaflux {tag} Ltd")
    new_contact(admin, company=f"quantaflux {tag} ltd")  # same company, case-insensitively
    items = admin.get("/api/v1/companies", params={"q": f"quantaflux {tag}"}).json()["items"]
    match = [c for c in items if tag in c["name"]]
    assert len(match) == 1 and match[0]["contacts"] == 2


def test_tag_autocomplete(admin):
    tag = f"Zq{uid()}"
    new_contact(admin, tags=[tag, "Enterprise"])
    new_contact(admin, tags=[tag.lower()])
    items = admin.get("/api/v1/contacts/tags", params={"q": tag[:6]}).json()["items"]
    assert items[0]["tag"].casefold() == tag.casefold() and items[0]["contacts"] == 2
    suggested = admin.get("/api/v1/contacts/tags", params={"q": "decision"}).json()["items"]
    assert any(i["tag"] == "Decision Maker" and i["suggested"] for i in suggested)


def test_kpis(admin, executive):
    before = executive.get("/api/v1/contacts/kpis").json()
    assert set(before) >= {"total_contacts", "hot_leads", "avg_score", "companies"}
    new_contact(admin, stage="Hot Lead", company=f"Kpico {uid()}")
    after = executive.get("/api/v1/contacts/kpis", params={"period": "all"}).json()
    assert after["total_contacts"] == before["total_contacts"] + 1
    assert after["hot_leads"] == before["hot_leads"] + 1
    assert after["companies"] == before["companies"] + 1
    month = executive.get("/api/v1/contacts/kpis", params={"period": "this_month"}).json()
    assert month["total_contacts"] >= 1
    last = executive.get("/api/v1/contacts/kpis", params={"period": "last_month"}).json()
    assert last["total_contacts"] <= after["total_contacts"] - 1
    assert executive.get("/api/v1/contacts/kpis", params={"period": "decade"}).status_code == 422


# -- notes --------------------------------------------------------------------
def test_notes_permissions_search_and_history(admin, sales, sales2, marketing, executive):
    contact = new_contact(sales)
    cid = contact["id"]
    created = sales.post(f"/api/v1/contacts/{cid}/notes", json={
        "text": "Interested in enterprise package with advanced security", "type": "sales", "tags": ["pricing"]})
    assert created.status_code == 201
    note = created.json()
    assert note["type"] == "sales" and note["author_id"] == sales.user["id"]
    assert sales.post(f"/api/v1/contacts/{cid}/notes", json={"text": "x", "type": "gossip"}).status_code == 422
    assert sales.post(f"/api/v1/contacts/{cid}/notes", json={"text": "y" * 2001}).status_code == 422
    assert sales2.post(f"/api/v1/contacts/{cid}/notes", json={"text": "not mine"}).status_code == 403
    mk_note = marketing.post(f"/api/v1/contacts/{cid}/notes", json={"text": "Sent the webinar invite",
                                                                     "type": "marketing"}).json()
    # full-text search, words in any order
    found = executive.get(f"/api/v1/contacts/{cid}/notes", params={"q": "security enterprise"}).json()
    assert [n["id"] for n in found["items"]] == [note["id"]]
    # author edits; others read only; contact owner edits notes on owned contacts; admin all
    assert sales2.patch(f"/api/v1/notes/{note['id']}", json={"text": "hijack"}).status_code == 403
    assert executive.patch(f"/api/v1/notes/{note['id']}", json={"text": "hijack"}).status_code == 403
    edited = sales.patch(f"/api/v1/notes/{note['id']}", json={"text": "Wants enterprise package, 500+ users"})
    assert edited.status_code == 200 and edited.json()["edited"] is True
    assert sales.patch(f"/api/v1/notes/{mk_note['id']}", json={"text": "Owner fixes typo"}).status_code == 200
    assert sales.delete(f"/api/v1/notes/{mk_note['id']}").status_code == 403  # only author or admin delete
    history = executive.get(f"/api/v1/notes/{note['id']}/history").json()
    assert history["revisions"][0]["text"].startswith("Interested in enterprise")
    assert history["revisions"][0]["edited_by"] == sales.user["id"]
    assert admin.delete(f"/api/v1/notes/{mk_note['id']}").status_code == 204
    listed = sales.get(f"/api/v1/contacts/{cid}/notes").json()
    assert [n["id"] for n in listed["items"]] == [note["id"]]
    assert listed["items"][0]["can_edit"] is True


# -- activity and stage history -------------------------------------------
def test_stage_history_and_activity_timeline(admin, sales):
    contact = new_contact(sales, stage="New")
    cid = contact["id"]
    sales.patch(f"/api/v1/contacts/{cid}", json={"stage": "Qualified"})
    admin.patch(f"/api/v1/contacts/{cid}", json={"stage": "Hot Lead", "tags": ["VIP"]})
    history = sales.get(f"/api/v1/contacts/{cid}/stage-history").json()["items"]
    assert [(h["from"], h["to"]) for h in history] == [("Qualified", "Hot Lead"), ("New", "Qualified"), (None, "New")]
    assert history[0]["user_id"] == admin.user["id"]
    timeline = sales.get(f"/api/v1/contacts/{cid}/activity").json()
    types = [a["type"] for a in timeline["items"]]
    assert types[-1] == "contact_created" and "tag_added" in types
    stages = sales.get(f"/api/v1/contacts/{cid}/activity", params={"type": "stage"}).json()["items"]
    assert [a["details"]["to"] for a in stages] == ["Hot Lead", "Qualified"]
    by_admin = sales.get(f"/api/v1/contacts/{cid}/activity", params={"user_id": admin.user["id"]}).json()["items"]
    assert by_admin and all(a["user_id"] == admin.user["id"] for a in by_admin)
    future = sales.get(f"/api/v1/contacts/{cid}/activity", params={"from": "2999-01-01"}).json()
    assert future["total"] == 0
    assert sales.get(f"/api/v1/contacts/{uuid.uuid4()}/activity").status_code == 404


# -- bulk ---------------------------------------------------------------------
def test_bulk_actions_over_ids_and_filter(admin, sales, sales2, executive):
    tag = uid()
    mine = [new_contact(sales, tags=[f"b{tag}"]) for _ in range(2)]
    theirs = new_contact(sales2, tags=[f"b{tag}"])
    ids = [c["id"] for c in mine] + [theirs["id"], str(uuid.uuid4())]
    result = sales.post("/api/v1/contacts/bulk", json={"action": "add_tags", "ids": ids, "tags": ["Webinar 2025"]})
    assert result.status_code == 200
    by_id = {r["id"]: r for r in result.json()["results"]}
    assert all(by_id[c["id"]]["ok"] for c in mine)
    assert by_id[theirs["id"]]["error"] == "forbidden" and by_id[ids[-1]]["error"] == "not_found"
    assert "Webinar 2025" in admin.get(f"/api/v1/contacts/{mine[0]['id']}").json()["tags"]
    # over a whole filter
    staged = admin.post("/api/v1/contacts/bulk", json={"action": "set_stage", "filters": {"tag": [f"b{tag}"]},
                                                        "stage": "Nurturing"}).json()
    assert staged["ok"] == 3
    items = admin.get("/api/v1/contacts", params={"tag": f"b{tag}"}).json()["items"]
    assert {c["stage"] for c in items} == {"Nurturing"}
    removed = admin.post("/api/v1/contacts/bulk", json={"action": "remove_tags", "ids": ids[:3],
                                                         "tags": ["webinar 2025"]}).json()
    assert removed["ok"] == 3
    owner = admin.post("/api/v1/contacts/bulk", json={"action": "assign_owner", "ids": ids[:2],
                                                       "owner_id": sales2.user["id"]}).json()
    assert owner["ok"] == 2
    assert sales.post("/api/v1/contacts/bulk", json={"action": "assign_owner", "ids": ids[:1],
                                                      "owner_id": sales.user["id"]}).status_code == 403
    assert executive.post("/api/v1/contacts/bulk", json={"action": "delete", "ids": ids[:1]}).status_code == 403
    bad = admin.post("/api/v1/contacts/bulk", json={"action": "set_stage", "ids": ids[:1]})
    assert bad.status_code == 422 and "stage" in bad.json()["error"]["details"]["fields"]
    assert admin.post("/api/v1/contacts/bulk", json={"action": "explode", "ids": ids}).status_code == 422
    gone = admin.post("/api/v1/contacts/bulk", json={"action": "delete", "ids": ids[:3]}).json()
    assert gone["ok"] == 3
    assert admin.get("/api/v1/contacts", params={"tag": f"b{tag}"}).json()["total"] == 0


def test_bulk_add_to_segment_and_campaign_reach_the_owning_service(admin):
    contact = new_contact(admin)
    missing = str(uuid.uuid4())
    for action, target in (("add_to_segment", "segment_id"), ("add_to_campaign", "campaign_id")):
        response = admin.post("/api/v1/contacts/bulk", json={"action": action, "ids": [contact["id"], missing]})
        assert response.status_code == 422 and target in response.json()["error"]["details"]["fields"]
        response = admin.post("/api/v1/contacts/bulk", json={"action": action, "ids": [contact["id"], missing],
                                                              target: str(uuid.uuid4())})
        # an unknown segment/campaign is the owning service's 404: proof the call reached it
        assert response.status_code == 404, response.text


# -- export -----------------------------------------------------------------
def test_export_csv_neutralises_formulas_and_is_audited(admin):
    tag = uid()
    new_contact(admin, company="=HYPERLINK(\"http://evil\")", position="+cmd", tags=[f"x{tag}"],
                first_name="Eve", last_name="O'Hara")
    new_contact(admin, company='Quote "Inc", Ltd', tags=[f"x{tag}"])
    response = admin.get("/api/v1/contacts/export.csv", params={"tag": f"x{tag}", "sort": "name"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["X-Export-Rows"] == "2"
    rows = list(csv.reader(io.StringIO(response.text)))
    header = rows[0]
    assert {"Name", "Company", "Position", "Type", "Channel", "Email", "Phone", "Score", "Stage", "Tags",
            "Last Contact"} <= set(header)
    cells = [cell for row in rows[1:] for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert "'=HYPERLINK(\"http://evil\")" in cells and 'Quote "Inc", Ltd' in cells
    for line in response.text.split("\r\n")[1:-1]:
        assert line.startswith('"') and line.endswith('"')  # every field quoted (RFC 4180)
    entries = admin.get("/api/v1/audit", params={"action": "export"}).json()["items"]
    assert any(e["details"]["filters"].get("tag") == [f"x{tag}"] and e["details"]["rows"] == 2 for e in entries)


def test_export_caps_rows_and_has_an_hourly_quota(admin, marketing):
    statuses = [marketing.get("/api/v1/contacts/export.csv", params={"q": f"nobody{uid()}"}).status_code
                for _ in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429
    refused = marketing.get("/api/v1/contacts/export.csv")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600   # when the oldest export of the hour ages out
    body = admin.get("/api/v1/contacts/export.csv")
    assert int(body.headers["X-Export-Rows"]) <= 1000


# -- merge ----------------------------------------------------------------------
def test_merge_keeps_everything(admin):
    tag = uid()
    primary = new_contact(admin, first_name="Michael", last_name="Chen", position="CTO", tags=["Tech"],
                          phone="+1 555 987 6543")
    dup = new_contact(admin, first_name="Mike", last_name="Chen", company=f"InnovateTech {tag}",
                      tags=["Champion"], phone="+1 555 000 1111", department="R&D")
    admin.post(f"/api/v1/contacts/{dup['id']}/notes", json={"text": "Duplicate's note"})
    response = admin.post("/api/v1/contacts/merge", json={"primary_id": primary["id"], "duplicate_ids": [dup["id"]],
                                                           "fields": {"first_name": dup["id"]}})
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == primary["id"] and merged["first_name"] == "Mike"
    assert merged["company"] == f"InnovateTech {tag}" and merged["department"] == "R&D"
    assert merged["position"] == "CTO" and {"Tech", "Champion", "CTO"} <= set(merged["tags"])
    assert dup["email"] in merged["emails"] and "+15550001111" in merged["phones"]
    assert admin.get(f"/api/v1/contacts/{dup['id']}").status_code == 404
    notes = admin.get(f"/api/v1/contacts/{primary['id']}/notes").json()["items"]
    assert any(n["text"] == "Duplicate's note" for n in notes)
    types = [a["type"] for a in admin.get(f"/api/v1/contacts/{primary['id']}/activity").json()["items"]]
    assert "contacts_merged" in types
    bad = admin.post("/api/v1/contacts/merge", json={"primary_id": primary["id"], "duplicate_ids": [primary["id"]]})
    assert bad.status_code == 422


# -- detail aggregate ------------------------------------------------------
def test_detail_aggregate(admin, executive):
    contact = new_contact(admin)
    admin.post(f"/api/v1/contacts/{contact['id']}/notes", json={"text": "Detail note"})
    response = executive.get(f"/api/v1/contacts/{contact['id']}/detail")
    assert response.status_code == 200
    body = response.json()
    for part in ("contact", "score", "hot_lead_alert", "segments", "campaigns", "communications", "activity",
                 "notes", "follow_ups", "unavailable"):
        assert part in body
    assert body["contact"]["id"] == contact["id"]
    assert body["notes"]["items"][0]["text"] == "Detail note"
    assert body["activity"]["total"] >= 1
    assert not {"contact", "notes", "activity"} & set(body["unavailable"])
    assert executive.get(f"/api/v1/contacts/{uuid.uuid4()}/detail").status_code == 404


def test_detail_names_a_stopped_service_unavailable(admin, crm_system):
    contact = new_contact(admin)
    crm_system.stop_one("messaging")
    try:
        started = time.monotonic()
        body = admin.get(f"/api/v1/contacts/{contact['id']}/detail").json()
        assert time.monotonic() - started < 3.0
        assert {"campaigns", "communications", "follow_ups"} <= set(body["unavailable"])
        assert body["contact"]["id"] == contact["id"]
    finally:
        crm_system.start_one("messaging")
    assert poll(lambda: admin.get("/api/v1/health").json()["services"]["messaging"] == "ok", 60)
