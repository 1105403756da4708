"""Export Activity (seed 000 Activity tab): GET /contacts/{id}/activity.csv through the gateway."""
from __future__ import annotations

import csv
import io

from crm_shared.testing.helpers import new_contact


def _rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


def test_activity_export_filters_neutralises_and_audits(admin, marketing):
    contact = new_contact(admin, first_name="Ada", last_name="Exporter")
    cid = contact["id"]
    note = admin.post(f"/api/v1/contacts/{cid}/notes", json={"text": '=HYPERLINK("http://evil","x")'})
    assert note.status_code == 201, note.text
    staged = marketing.patch(f"/api/v1/contacts/{cid}", json={"stage": "Qualified"})
    assert staged.status_code == 200, staged.text

    response = admin.get(f"/api/v1/contacts/{cid}/activity.csv")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = _rows(response)
    assert {"Occurred At", "Type", "Summary", "User", "Source", "Details"} <= set(rows[0])
    assert response.headers["X-Export-Rows"] == str(len(rows))
    stamps = [r["Occurred At"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    cells = [cell for row in rows for cell in row.values()]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells

    notes_only = _rows(admin.get(f"/api/v1/contacts/{cid}/activity.csv", params={"type": "note"}))
    assert notes_only and {r["Type"] for r in notes_only} == {"note_added"}
    by_marketing = _rows(admin.get(f"/api/v1/contacts/{cid}/activity.csv",
                                   params={"user_id": marketing.user["id"]}))
    assert by_marketing and {r["User ID"] for r in by_marketing} == {marketing.user["id"]}
    assert "stage_changed" in {r["Type"] for r in by_marketing}
    future = admin.get(f"/api/v1/contacts/{cid}/activity.csv", params={"from": "2999-01-01"})
    assert future.status_code == 200 and _rows(future) == []
    # the JSON list with the same filters agrees
    listed = admin.get(f"/api/v1/contacts/{cid}/activity", params={"type": "note"}).json()
    assert listed["total"] == len(notes_only)

    entries = admin.get("/api/v1/audit", params={"action": "export", "entity_id": cid}).json()["items"]
    assert any(e["details"].get("filters", {}).get("type") == ["note"] and e["details"]["rows"] == len(notes_only)
               for e in entries), entries


def test_activity_export_roles_and_unknown_contact(admin, executive, sales):
    contact = new_contact(admin)
    # every role that reads the timeline may export it, executives included (like the contact export)
    assert executive.get(f"/api/v1/contacts/{contact['id']}/activity.csv").status_code == 200
    assert sales.get(f"/api/v1/contacts/{contact['id']}/activity.csv").status_code == 200
    missing = admin.get("/api/v1/contacts/00000000-0000-0000-0000-000000000000/activity.csv")
    assert missing.status_code == 404, missing.text
    assert admin.get(f"/api/v1/contacts/{contact['id']}/activity.csv",
                     params={"from": "not-a-date"}).status_code in (400, 422)


def test_activity_export_needs_a_token(api):
    import requests

    response = requests.get(f"{api.base_url}/api/v1/contacts/x/activity.csv", timeout=10)
    assert response.status_code == 401
